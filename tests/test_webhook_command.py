"""``tapeflow webhook``: a real server on 127.0.0.1 with the simulator feed, one line per alert."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import aiohttp
from test_webhook_support import SECRET, start_serving

from tapeflow.cli import build_parser, main


def _args(tmp_path, *extra):
    return build_parser().parse_args(
        ["webhook", "--port", "0", "--feed", "sim://rth?minutes=1", "--speed", "100",
         "--journal", str(tmp_path / "j.sqlite"), "--kill-switch-file", str(tmp_path / "ks.json"), *extra]
    )


def test_command_serves_alerts_and_prints_one_line_each_without_the_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    args = _args(tmp_path)
    replies = []

    async def scenario():
        task, stop, server = await start_serving(args)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        async with aiohttp.ClientSession() as http:
            for body in (
                {"secret": SECRET, "action": "buy", "symbol": "ES1!", "quantity": 1, "stop_ticks": 8, "time": now},
                {"secret": "not-the-secret-at-all", "action": "buy", "symbol": "ES1!", "quantity": 1, "time": now},
                {"secret": SECRET, "action": "buy", "symbol": "ES2!", "quantity": 1, "stop_ticks": 8},
            ):
                async with http.post(f"{server.url}/webhook", json=body) as r:
                    replies.append((r.status, await r.json()))
        replies.append(server.instruments)
        stop.set()
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(scenario()) == 0
    out = capsys.readouterr().out
    (contract,) = replies.pop()
    assert re.fullmatch(r"ES[HMUZ]\d", contract)  # the simulator's dated front month, not just "ES"
    assert [s for s, _ in replies] == [200, 401, 422]
    assert replies[2][1]["code"] == "wrong_contract" and contract in replies[2][1]["reason"]
    assert "listening on http://127.0.0.1:" in out and "status page:" in out
    assert "buy ES1! x1 -> 200 ok order 1" in out
    assert "-> 401 unauthorized: wrong secret" in out
    assert SECRET not in out and "not-the-secret-at-all" not in out


def test_command_without_a_secret_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TAPEFLOW_WEBHOOK_SECRET", raising=False)
    code = main(["webhook", "--port", "0", "--journal", str(tmp_path / "j.sqlite")])
    assert code == 2
    assert "no webhook secret" in capsys.readouterr().err
    assert not (tmp_path / "j.sqlite").exists()
