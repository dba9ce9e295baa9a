"""Shared helpers for the webhook tests (no tests here): a server on a paper account whose tape is
at 10:00 ET on 2024-07-02, a fixed wall clock, and an HTTP client on loopback."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from tapeflow.core.timeutil import iso_to_ns
from tapeflow.trading.account import Account
from tapeflow.trading.settings import RiskSettings, TradingSettings
from tapeflow.trading.testing import et, trades
from tapeflow.webhook.server import WebhookServer
from tapeflow.webhook.settings import Secret, WebhookSettings

SECRET = "correct-horse-battery-staple-42"
NOW_ISO = "2024-07-02T14:30:05Z"
NOW_NS = iso_to_ns(NOW_ISO)
DAY = date(2024, 7, 2)
ES_5500 = 22_000  # 5500.00 in ES ticks (0.25)
TIMEOUT_S = 10.0
_ids = itertools.count(1)


@dataclass
class ListJournal:
    """A journal sink that keeps records in memory."""

    written: list[tuple[str, object]] = field(default_factory=list)

    def write(self, table: str, record: object) -> None:
        self.written.append((table, record))

    def table(self, name: str) -> list[Any]:
        return [r for t, r in self.written if t == name]

    def rows(self, name: str, where: str = "", params: tuple = ()) -> list[dict[str, Any]]:
        """The journal's read: every record of ``name`` as a dict (readers filter by time themselves)."""
        return [msgspec.to_builtins(r) for r in self.table(name)]


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Rig:
    server: WebhookServer
    account: Account
    journal: ListJournal
    monotonic: FakeMonotonic
    wall: list[int]

    def tape(self, price: int = ES_5500, seconds: int = 1) -> None:
        """One print a little later on the tape, so working market orders fill."""
        self.account.on_events(trades(et(DAY, "10:00", seconds), [(price, 1, 1)]))


def make_rig(risk: RiskSettings | None = None, **webhook: Any) -> Rig:
    account = Account(TradingSettings(risk=risk or RiskSettings()))
    account.on_events(trades(et(DAY, "10:00"), [(ES_5500, 1, 1)]))
    journal = ListJournal()
    mono = FakeMonotonic()
    wall = [NOW_NS]
    settings = WebhookSettings(secret=Secret(SECRET), **webhook)
    server = WebhookServer(
        account, settings, journal=journal, instruments={"ES"}, wall_ns=lambda: wall[0], monotonic=mono
    )
    return Rig(server, account, journal, mono, wall)


def alert(**overrides: Any) -> dict[str, Any]:
    """A valid buy with a unique id; ``None`` values are dropped."""
    base: dict[str, Any] = {
        "secret": SECRET,
        "action": "buy",
        "symbol": "ES1!",
        "quantity": 1,
        "id": f"t-{next(_ids)}",
        "time": NOW_ISO,
        "stop_ticks": 8,
        "target_ticks": 16,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def run(rig: Rig, scenario: Callable[[TestClient], Awaitable[Any]]) -> Any:
    """Run ``scenario(client)`` against the rig's server on 127.0.0.1, bounded in time."""

    async def main() -> Any:
        async with TestClient(TestServer(rig.server.app, host="127.0.0.1")) as client:
            return await asyncio.wait_for(scenario(client), TIMEOUT_S)

    return asyncio.run(main())


async def post_json(client: TestClient, body: dict[str, Any], **kw: Any) -> tuple[int, dict[str, Any]]:
    r = await client.post("/webhook", json=body, **kw)
    return r.status, await r.json()


async def post_text(client: TestClient, text: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    r = await client.post("/webhook", data=text.encode(), headers={"Content-Type": "text/plain"}, **kw)
    return r.status, await r.json()


async def start_serving(args: Any) -> tuple[asyncio.Task[int], asyncio.Event, WebhookServer]:
    """``tapeflow webhook`` (``commands.webhook.serve``) running in this loop: (task, stop event, server)."""
    from tapeflow.commands.webhook import serve

    stop = asyncio.Event()
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(args, on_ready=ready.set_result, stop=stop))
    return task, stop, await asyncio.wait_for(ready, TIMEOUT_S)
