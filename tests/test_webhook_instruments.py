"""One webhook receiver, several instruments: each alert reaches its own instrument's position.

The receiver trades the instruments of its feeds plus those named by ``--instrument`` (or
``instruments`` in the ``[webhook]`` table); a micro without its own feed trades on its E-mini's
feed (MES on ES). An alert for an instrument nobody configured is a 422 saying how to add it.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import aiohttp
import pytest
from test_webhook_support import SECRET, start_serving

from tapeflow.cli import build_parser, main
from tapeflow.errors import TapeflowError
from tapeflow.webhook.routing import traded_contracts
from tapeflow.webhook.settings import webhook_settings_from_dict

ES_FEED, NQ_FEED = "sim://rth?minutes=1", "sim://rth?minutes=1&symbol=NQ"


def _args(tmp_path, *extra):
    return build_parser().parse_args(
        ["webhook", "--port", "0", "--speed", "100", "--journal", str(tmp_path / "j.sqlite"),
         "--kill-switch-file", str(tmp_path / "ks.json"), *extra]
    )


def test_a_micro_trades_the_month_its_e_minis_feed_carries():
    feeds = {"ES": ["ESZ6"], "NQ": ["NQZ6"]}
    assert traded_contracts({"ES", "MES", "NQ", "MNQ"}, feeds) == {
        "ES": "ESZ6", "MES": "MESZ6", "NQ": "NQZ6", "MNQ": "MNQZ6"}
    assert traded_contracts({"MES"}, {"ES": ["ES"]}) == {"MES": "MES"}  # an undated feed: the front month
    assert traded_contracts({"MES"}, {"MES": ["MESH7"], "ES": ["ESZ6"]}) == {"MES": "MESH7"}  # its own feed wins


def test_an_instrument_without_a_feed_is_refused_at_start_saying_which_feed_to_add():
    with pytest.raises(TapeflowError, match=r"NQ has no feed .*--feed 'sim://rth\?symbol=NQ'"):
        traded_contracts({"ES", "NQ"}, {"ES": ["ESZ6"]})
    with pytest.raises(TapeflowError, match=r"MNQ has no feed .*NQ feed"):
        traded_contracts({"MNQ"}, {"ES": ["ESZ6"]})


def test_the_webhook_table_names_the_instruments_and_refuses_unknown_ones():
    assert webhook_settings_from_dict({"instruments": ["es", "MES"]}).instruments == ("ES", "MES")
    with pytest.raises(TapeflowError, match=r"t.toml: \[webhook\] instruments\[1\]: unknown instrument 'YM'"):
        webhook_settings_from_dict({"instruments": ["ES", "YM"]}, "t.toml")


def test_alerts_for_mes_es_and_nq_on_one_receiver_each_reach_their_own_position(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    args = _args(tmp_path, "--feed", ES_FEED, "--feed", NQ_FEED, "--instrument", "MES")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def alert(symbol: str, action: str, qty: int) -> dict:
        return {"secret": SECRET, "action": action, "symbol": symbol, "quantity": qty, "stop_ticks": 8, "time": now}

    async def scenario():
        task, stop, server = await start_serving(args)
        replies = []
        async with aiohttp.ClientSession() as http:
            for body in (alert("MES1!", "buy", 2), alert("ES1!", "buy", 1), alert("NQ1!", "sell", 1),
                         alert("MNQ1!", "buy", 1)):
                async with http.post(f"{server.url}/webhook", json=body) as r:
                    replies.append((r.status, await r.json()))
        acct = server.account
        for _ in range(200):  # the market orders fill on the next rows of their feeds
            if all(acct.ledger.positions.get(r) and acct.ledger.positions[r].qty for r in ("MES", "ES", "NQ")):
                break
            await asyncio.sleep(0.02)
        held = {r: p.qty for r, p in acct.ledger.positions.items() if p.qty}
        marks = {r: acct.broker.last_price(r) for r in ("ES", "MES", "NQ")}
        contracts = sorted(server.instruments)
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
        return replies, held, marks, contracts

    replies, held, marks, contracts = asyncio.run(scenario())
    assert [s for s, _ in replies] == [200, 200, 200, 422]
    assert held == {"MES": 2, "ES": 1, "NQ": -1}
    assert marks["MES"] == marks["ES"] != marks["NQ"]  # the micro is on the ES tape, NQ on its own
    assert [re.sub(r"[HMUZ]\d$", "", c) for c in contracts] == ["ES", "MES", "NQ"]  # dated months
    code, reason = replies[3][1]["code"], replies[3][1]["reason"]
    assert code == "unknown_symbol"
    assert "--instrument MNQ" in reason and "[webhook]" in reason and "instruments" in reason
    out = capsys.readouterr().out
    assert "for ES, MES, NQ alerts" in out


def test_a_configured_instrument_without_a_feed_exits_2_before_the_port_opens(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    code = main(["webhook", "--port", "0", "--feed", ES_FEED, "--instrument", "NQ",
                 "--journal", str(tmp_path / "j.sqlite"), "--kill-switch-file", str(tmp_path / "ks.json")])
    assert code == 2
    assert "NQ has no feed" in capsys.readouterr().err


def test_two_feeds_of_one_instrument_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    code = main(["webhook", "--port", "0", "--feed", ES_FEED, "--feed", ES_FEED,
                 "--journal", str(tmp_path / "j.sqlite"), "--kill-switch-file", str(tmp_path / "ks.json")])
    assert code == 2
    assert "two feeds of ES" in capsys.readouterr().err


def test_two_feeds_that_both_number_their_instrument_1_get_separate_tape_ids():
    from tapeflow.core.events import empty_events
    from tapeflow.trading.tape_ids import UNMAPPED_ID, TapeNumbers

    numbers = TapeNumbers()
    es, nq = numbers.add_feed({1: "ESZ6"}, "ES"), numbers.add_feed({1: "NQZ6"}, "NQ")
    assert numbers.roots == {1: "ES", 2: "NQ"}
    batch = empty_events(3)
    batch["instrument_id"] = [1, 1, 7]  # 7: an id the feed never defined
    assert numbers.renumber(nq, batch)["instrument_id"].tolist() == [2, 2, UNMAPPED_ID]
    assert numbers.renumber(es, batch)["instrument_id"].tolist() == [1, 1, UNMAPPED_ID]
    assert batch["instrument_id"].tolist() == [1, 1, 7]  # the feed's own rows are left alone
    assert numbers.update(nq, {1: "NQZ6", 9: "MNQZ6"}, "NQ") and numbers.roots[3] == "MNQ"


def test_live_mode_refuses_feeds_and_extra_instruments_it_cannot_trade(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    code = main(["webhook", "--port", "0", "--broker", "projectx", "--live", "--instrument", "MES",
                 "--journal", str(tmp_path / "j.sqlite"), "--kill-switch-file", str(tmp_path / "ks.json")])
    assert code == 2
    assert "--live trades one instrument" in capsys.readouterr().err
    assert not (tmp_path / "j.sqlite").exists()
