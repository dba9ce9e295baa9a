"""``tapeflow webhook`` as a real process: it fills on its default feed, and a restart (``kill -9``
included) keeps positions, loss limits, order ids, executed alerts and a pulled kill switch."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from webhook_process import run_to_exit, running, start

MAX_POSITION = """
[risk]
max_position = 2
require_stop_for_automation = false
"""

DAILY_LOSS = """
[risk]
daily_loss_limit_usd = 5
require_stop_for_automation = false

[paper]
commission_usd = 2
"""


def settings(tmp_path: Path, text: str) -> str:
    p = tmp_path / "trading.toml"
    p.write_text(text)
    return str(p)


def journal_rows(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "data" / "webhook-journal.sqlite") as db:
        return db.execute(sql).fetchall()


def test_a_market_buy_fills_on_the_default_feed(tmp_path: Path):
    with running(tmp_path) as server:  # no --feed: the simulator, numbering ES as instrument 1
        code, reply = server.post(action="buy", symbol="ES1!", quantity=1, stop_ticks=8)
        assert code == 200, reply
        assert server.wait_for(lambda: server.position() == 1), server.status()
    fills = journal_rows(tmp_path, "SELECT order_id, qty FROM fills")
    assert (reply["order_id"], 1) in fills


def test_a_market_buy_fills_on_a_databento_file_whose_es_is_instrument_118(tmp_path: Path, mbp1_file: Path):
    with running(tmp_path, "--feed", str(mbp1_file)) as server:
        code, reply = server.post(action="buy", symbol="ES1!", quantity=1, stop_ticks=8)
        assert code == 200, reply
        assert server.wait_for(lambda: server.position() == 1), server.status()


def test_files_default_to_tapeflow_home(tmp_path: Path):
    with running(tmp_path) as server:
        server.post(action="kill", reason="check the files")
    assert (tmp_path / "data" / "webhook-journal.sqlite").is_file()
    assert b'"latched":true' in (tmp_path / "data" / "webhook-kill-switch.json").read_bytes()


def test_kill_9_restarts_keep_the_position_limit_and_never_reuse_an_order_id(tmp_path: Path):
    toml = settings(tmp_path, MAX_POSITION)
    for restart in range(3):
        server = start(tmp_path, "--settings", toml, "--speed", "5")
        try:
            code, reply = server.post(action="buy", symbol="ES1!", quantity=2, id=f"buy-{restart}")
            if restart == 0:
                assert code == 200, reply
                assert server.wait_for(lambda s=server: s.position() == 2)
            else:  # the +2 from before the crash is back, so a second +2 would breach max_position
                assert server.position() == 2
                assert (code, reply["rule"]) == (422, "max_position"), reply
        finally:
            server.kill9()
    ids = [i for (i,) in journal_rows(tmp_path, "SELECT id FROM orders")]
    assert len(ids) == len(set(ids)) == 3  # one accepted, two refused, each its own id
    assert sum(q for (q,) in journal_rows(tmp_path, "SELECT qty * side FROM fills")) == 2


def test_the_daily_loss_halt_survives_a_kill_9(tmp_path: Path):
    toml = settings(tmp_path, DAILY_LOSS)
    server = start(tmp_path, "--settings", toml, "--speed", "5")
    try:  # $4 of costs and a tick of spread: the first buy marked at the bid breaches $5
        assert server.post(action="buy", symbol="ES1!", quantity=1)[0] == 200
        assert server.wait_for(lambda: server.status()["trading_state"] == "halted"), server.status()
        assert server.wait_for(lambda: server.position() == 0)  # the breach flattened it
    finally:
        server.kill9()
    with running(tmp_path, "--settings", toml) as again:
        code, reply = again.post(action="buy", symbol="ES1!", quantity=1)
        assert (code, reply.get("rule")) == (422, "halted"), (code, reply)  # all of it, should it flake again
        status = again.status()
        assert (status["trading_state"], status["state_rule"]) == ("halted", "daily_loss")


def test_an_alert_id_executes_once_across_a_restart(tmp_path: Path):
    with running(tmp_path) as server:
        first = server.post(action="buy", symbol="ES1!", quantity=1, stop_ticks=8, id="tv-42")
    with running(tmp_path) as again:
        code, reply = again.post(action="buy", symbol="ES1!", quantity=1, stop_ticks=8, id="tv-42")
    assert first[0] == 200
    assert (code, reply["code"], reply["order_id"]) == (409, "duplicate", first[1]["order_id"])


def test_a_kill_latches_the_next_start_even_after_kill_9(tmp_path: Path):
    server = start(tmp_path)
    try:
        assert server.post(action="kill", reason="phone")[0] == 200
    finally:
        server.kill9()
    with running(tmp_path) as again:
        code, reply = again.post(action="buy", symbol="ES1!", quantity=1, stop_ticks=8)
        assert (code, reply["code"]) == (423, "kill_switch_latched")
        assert any("kill switch is LATCHED" in line for line in again.lines)


def test_a_second_process_on_the_same_journal_refuses_to_start(tmp_path: Path):
    with running(tmp_path) as first:
        code, out = run_to_exit(tmp_path)
        assert code == 2, out
        assert "webhook-journal.sqlite: the journal is in use by another Tapeflow process" in out
        assert f"(pid {first.proc.pid})" in out
        assert "Traceback" not in out


def test_a_second_process_on_the_same_latch_refuses_to_start(tmp_path: Path):
    with running(tmp_path):
        code, out = run_to_exit(tmp_path, "--journal", str(tmp_path / "other.sqlite"))
    assert code == 2 and "kill switch latch is in use by another Tapeflow process" in out, out


def test_the_terminals_settings_under_tapeflow_home_apply_to_the_webhook(tmp_path: Path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "trading.toml").write_text("[risk]\nmax_order_qty = 1\n")
    with running(tmp_path) as server:
        code, reply = server.post(action="buy", symbol="ES1!", quantity=2, stop_ticks=8)
    assert (code, reply["rule"]) == (422, "max_order_qty"), reply
