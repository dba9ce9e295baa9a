"""The harness of the Rithmic broker tests: the fake gateway with its order and P&L plants, the
real ``RithmicSession`` (one real ``RithmicClient``) and the real account, journal and broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fake_rithmic.orders import FakeOrders
from fake_rithmic.pnl import FakePnl
from fake_rithmic.server import FakeRithmic

from tapeflow.core.events import Side
from tapeflow.feeds.live_feed import Backoff
from tapeflow.rithmic.session import RithmicSession
from tapeflow.rithmic.settings import RithmicSettings
from tapeflow.trading import Account, OrderRequest
from tapeflow.trading.live.rithmic.broker import RithmicBroker
from tapeflow.trading.live.rithmic.protocol import RContract
from tapeflow.trading.live.session import StartReport, journal_seed, start_live

ES = "ES"
CONTRACTS = {ES: RContract("ESZ6", "CME", Decimal("0.25"))}
ACCOUNT = "TF-001"


@dataclass
class Venue:
    """One fake Rithmic system: ``server`` (the gateway), ``orders`` and ``pnl`` (its plants)."""

    server: FakeRithmic = field(default_factory=FakeRithmic)
    orders: FakeOrders = field(init=False)
    pnl: FakePnl = field(init=False)
    pnl_bias: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        self.orders = FakeOrders(self.server, account_id=ACCOUNT)
        self.pnl = FakePnl(self.server, self.orders, pnl_bias=self.pnl_bias)


@dataclass
class Run:
    venue: Venue
    session: RithmicSession
    broker: RithmicBroker
    account: Account
    start: StartReport
    states: list[str] = field(default_factory=list)

    async def settle(self, rounds: int = 5) -> None:
        """Commands answered, late venue answers sent, pushed frames read (a few loop turns)."""
        for _ in range(rounds):
            await self.broker.idle()
            await self.venue.orders.flushed()
            for _ in range(4):
                await asyncio.sleep(0.01)

    def order(self, order_id: int) -> Any:
        return self.account.orders[order_id]

    def basket(self, order_id: int) -> str:
        return self.account.orders[order_id].venue_id


def make_session(server: FakeRithmic) -> RithmicSession:
    settings = RithmicSettings(app_name="tapeflow-test", app_version="0.1", system_name="Rithmic Test", url=server.url)
    return RithmicSession(settings, user="trader", password="secret", ssl_context=server.client_ssl_context(),
                          backoff=Backoff(initial_s=0.05, max_s=0.2), login_timeout_s=5.0)


async def open_run(venue: Venue, journal: Any = None, *, timeout_s: float = 1.0) -> Run:
    session = make_session(venue.server)
    seen, since = journal_seed(journal, time.time_ns()) if journal is not None else (set(), time.time_ns() - 3600e9)
    broker = RithmicBroker(session, ACCOUNT, CONTRACTS, seen_fills=seen, since_ns=int(since), timeout_s=timeout_s,
                           poll_s=0.05)
    states: list[str] = []
    broker.status_listener = states.append
    acct = Account(broker=broker, journal=journal, name="rithmic")
    start = await start_live(acct, broker, journal)
    return Run(venue, session, broker, acct, start, states)


async def close_run(run: Run) -> None:
    await run.broker.stop()
    await run.session.close()


def on_rithmic(test: Callable[[Run], Awaitable[None]], journal: Any = None, venue: Venue | None = None) -> None:
    async def main() -> None:
        v = venue or Venue()
        await v.server.start()
        try:
            run = await open_run(v, journal)
            try:
                await test(run)
            finally:
                await close_run(run)
        finally:
            await v.server.stop()
    asyncio.run(main())


def buy(qty: int = 1, **kw: Any) -> OrderRequest:
    return OrderRequest(instrument=ES, side=Side.BUY, qty=qty, **kw)


def sell(qty: int = 1, **kw: Any) -> OrderRequest:
    return OrderRequest(instrument=ES, side=Side.SELL, qty=qty, **kw)


async def until(cond: Callable[[], bool], what: str, rounds: int = 500) -> None:
    """Loop turns (10 ms each) until ``cond()``; fails naming ``what`` (a cap, not a timing assert)."""
    for _ in range(rounds):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def cut_orders_off(run: Run) -> None:
    """The order plant's connection is lost and re-logins are refused until :func:`let_back_in`."""
    run.venue.server.users["trader"] = "-locked-"
    for conn in run.venue.server.live():
        if conn.infra_type == 2:  # ORDER_PLANT
            await run.venue.server.drop(conn)
    await until(lambda: not run.broker.connected, "the broker saw the order plant go down")


async def let_back_in(run: Run) -> None:
    run.venue.server.users["trader"] = "secret"
    await until(lambda: run.broker.connected and not run.broker.reconciling, "reconnected and reconciled")
    await run.settle()


def live_mode_on(venue: Venue, monkeypatch: Any) -> None:
    """``--broker rithmic --live`` on ``venue``: the env credentials and system, and the session the
    command builds from settings trusts the test CA (the only change to it). ``RITHMIC_URL`` is set
    once the server is started (its port)."""
    import tapeflow.feeds.live_rithmic as live_rithmic

    real = live_rithmic.session_from_settings

    def trusting_the_test_ca(settings: Any = None) -> RithmicSession:
        session = real(settings)
        session.client.ssl_context = venue.server.client_ssl_context()
        return session

    monkeypatch.setattr(live_rithmic, "session_from_settings", trusting_the_test_ca)
    for k, v in (("RITHMIC_USER", "trader"), ("RITHMIC_PASSWORD", "secret"), ("RITHMIC_SYSTEM", "Rithmic Test")):
        monkeypatch.setenv(k, v)


async def webhook_args(venue: Venue, tmp_path: Any, monkeypatch: Any, *flags: str) -> Any:
    """Start ``venue``'s gateway, point ``RITHMIC_URL`` at it and parse ``tapeflow webhook --port 0
    --broker rithmic --live FLAGS`` with its journal and latch in ``tmp_path``."""
    from tapeflow.cli import build_parser

    await venue.server.start()
    monkeypatch.setenv("RITHMIC_URL", venue.server.url)
    return build_parser().parse_args([
        "webhook", "--port", "0", "--broker", "rithmic", "--live", *flags,
        "--journal", str(tmp_path / "j.sqlite"), "--kill-switch-file", str(tmp_path / "ks.json"),
    ])
