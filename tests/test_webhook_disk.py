"""``tapeflow webhook`` on a full disk and on a read-only journal, as real processes on a tiny tmpfs
(root only: these skip, saying why, elsewhere; tests/test_account_journal_failures.py covers the
same rules in-process with a journal that refuses writes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from webhook_process import fill_disk, run_to_exit, running, start, tiny_tmpfs

BUSY = """
[risk]
max_position = 50
require_stop_for_automation = false
"""


def test_a_kill_on_a_full_disk_flattens_cancels_and_stays_latched_after_kill_9(tmp_path: Path):
    with tiny_tmpfs(tmp_path / "disk", 2048) as disk:
        toml = tmp_path / "trading.toml"
        toml.write_text(BUSY)
        server = start(disk, "--settings", str(toml), "--speed", "5")
        try:
            assert server.post(action="buy", symbol="ES1!", quantity=2)[0] == 200
            for i in range(5):  # resting bids far below the market: they stay working
                code, reply = server.post(action="buy", symbol="ES1!", quantity=1, order_type="limit", price=1000 + i)
                assert code == 200, reply
            assert server.wait_for(lambda: server.position() == 2)
            assert server.status()["working_orders"] == 5
            filler = fill_disk(disk)
            code, reply = server.post(action="kill", reason="disk is full")
            assert (code, reply["ok"], reply["kill_switch_latched"]) == (200, True, True), reply
            assert server.wait_for(lambda: server.position() == 0), server.status()
            assert server.status()["working_orders"] == 0
            assert b'"latched":true' in (disk / "data" / "webhook-kill-switch.json").read_bytes()
        finally:
            server.kill9()
        code, out = run_to_exit(disk, "--settings", str(toml))  # still full: refuse, one line
        assert code == 2 and "not writable" in out and "Traceback" not in out, out
        filler.unlink()
        with running(disk, "--settings", str(toml)) as again:
            code, reply = again.post(action="buy", symbol="ES1!", quantity=1)
            assert (code, reply["code"]) == (423, "kill_switch_latched"), reply


def test_the_server_refuses_to_start_on_a_read_only_journal(tmp_path: Path):
    with tiny_tmpfs(tmp_path / "disk", 2048) as disk:
        with running(disk):
            pass  # creates the journal and the latch
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        code, out = run_to_exit(disk)
        assert code == 2, out
        assert "webhook-journal.sqlite" in out and "Traceback" not in out, out
        assert "listening on" not in out
