"""``tapeflow webhook --broker projectx --live``: alerts reach a (local fake) ProjectX venue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from fake_projectx import FakeProjectX
from test_webhook_support import SECRET, start_serving

from tapeflow.cli import build_parser, main
from tapeflow.commands._live_mode import confirm
from tapeflow.errors import TapeflowError


async def alert_and_stop(args: Any, sent: Callable[[], bool], replies: list[tuple[int, Any]]) -> int:
    """Serve ``args``, POST one buy alert with an 8-tick stop, wait until the venue has an order, stop."""
    task, stop, server = await start_serving(args)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with aiohttp.ClientSession() as http:
        body = {"secret": SECRET, "action": "buy", "symbol": "ES1!", "quantity": 1, "stop_ticks": 8, "time": now}
        async with http.post(f"{server.url}/webhook", json=body) as r:
            replies.append((r.status, await r.json()))
    for _ in range(200):
        if sent():
            break
        await asyncio.sleep(0.02)
    stop.set()
    return await asyncio.wait_for(task, 10)


def test_live_needs_both_flags_and_names_the_missing_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    base = ["webhook", "--port", "0", "--journal", str(tmp_path / "j.sqlite")]
    assert main([*base, "--broker", "projectx"]) == 2
    assert "add --live to confirm" in capsys.readouterr().err
    assert main([*base, "--live"]) == 2
    assert "add --broker projectx" in capsys.readouterr().err


def test_the_confirmation_must_name_the_account():
    confirm("50KTC", env={"TAPEFLOW_CONFIRM_LIVE": "50KTC"})
    confirm("50KTC", ask=lambda prompt: " 50KTC\n", env={})
    with pytest.raises(TapeflowError, match="not confirmed"):
        confirm("50KTC", ask=lambda prompt: "yes", env={})


def test_a_webhook_alert_becomes_one_tagged_order_at_the_venue_and_the_reply_does_not_wait_for_it(
        tmp_path, monkeypatch, capsys):
    venue = FakeProjectX()
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("PROJECTX_USERNAME", "trader")
    monkeypatch.setenv("PROJECTX_API_KEY", "key-123")
    monkeypatch.setenv("TAPEFLOW_CONFIRM_LIVE", "50KTC")
    replies = []

    async def scenario() -> int:
        url = await venue.start()
        args = build_parser().parse_args([
            "webhook", "--port", "0", "--broker", "projectx", "--live", "--symbol", "ES",
            "--projectx-api", url, "--projectx-hub", url.replace("http", "ws") + "/hubs/user",
            "--journal", str(tmp_path / "j.sqlite"), "--kill-switch-file", str(tmp_path / "ks.json"),
        ])
        code = await alert_and_stop(args, lambda: bool(venue.place_requests), replies)
        await venue.stop()
        return code

    assert asyncio.run(scenario()) == 0
    out = capsys.readouterr().out
    assert replies[0][0] == 200
    (sent,) = venue.place_requests
    assert sent["customTag"].startswith("tf") and sent["stopLossBracket"] == {"ticks": 8, "type": 4}
    assert "LIVE" in out and "projectx:50KTC" in out
    assert "key-123" not in out


def test_webhook_live_on_rithmic_sends_the_alert_as_one_auto_bracket_order_on_the_shared_session(
        tmp_path, monkeypatch, capsys):
    pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
    pytest.importorskip("trustme", reason="trustme (test extra) is not installed")
    from async_rithmic.enums import SysInfraType
    from rithmic_venue import Venue, live_mode_on, webhook_args

    venue = Venue()
    live_mode_on(venue, monkeypatch)
    replies: list[tuple[int, Any]] = []
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TAPEFLOW_CONFIRM_LIVE", "TF-001")

    async def scenario() -> int:
        args = await webhook_args(venue, tmp_path, monkeypatch, "--symbol", "ES")
        code = await alert_and_stop(args, lambda: bool(venue.orders.submits()), replies)
        assert replies[0][0] == 200
        await venue.server.stop()
        return code

    assert asyncio.run(scenario()) == 0
    out = capsys.readouterr().out
    (sent,) = venue.orders.submits()
    assert sent.template_id == 330 and sent.stop_ticks == 8 and sent.manual_or_auto == 2  # AUTO: a webhook order
    assert sent.user_tag.startswith("tf") and sent.symbol[:2] == "ES"
    assert "LIVE" in out and "rithmic:TF-001" in out and "secret\n" not in out
    logins = [c for c in venue.server.conns if c.logged_in or c.closed]
    plants = SysInfraType.ORDER_PLANT, SysInfraType.PNL_PLANT
    assert sorted({c.infra_type for c in logins}) == sorted(plants)  # only the plants in use: no ticker login
