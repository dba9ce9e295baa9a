"""The Rithmic feed on the shared session over real sockets: the real ``RithmicClient`` against the
fake ticker plant (tests/fake_rithmic/ticker.py); trades and market depth reach our events and the
DOM, a dropped plant re-subscribes with a new depth snapshot, a forced logout is shown, and feeds
sharing one session log in once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

pytest.importorskip("async_rithmic", reason="optional extra tapeflow[rithmic] (async-rithmic) is not installed")
pytest.importorskip("trustme", reason="trustme (test extra) is not installed")

from fake_rithmic.server import FakeRithmic
from fake_rithmic.ticker import BUY, DELETE, NEW, SELL, FakeTicker
from test_rithmic_session import session_for, ticker_logins, until

from tapeflow.core.events import NO_PRICE, Flag, Kind, Side, concat
from tapeflow.feeds.live_feed import Backoff
from tapeflow.feeds.live_rithmic import RithmicLiveSource
from tapeflow.flow.book import OrderBook
from tapeflow.rithmic import FORCED_OUT_REASON, Phase, RithmicSession

SSBOE = 1_719_878_400
FAST = Backoff(initial_s=0.01, max_s=0.05, jitter=0.0)


class Reader:
    """Reads a live source in the background; ``events`` is everything received so far."""

    def __init__(self, src: RithmicLiveSource) -> None:
        self.src = src
        self.batches: list[np.ndarray] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.src:
            self.batches.append(batch)

    @property
    def events(self) -> np.ndarray:
        return concat(self.batches)

    def count(self, kind: Kind) -> int:
        return int((self.events["kind"] == kind).sum()) if self.batches else 0

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def depth_feed(server: FakeRithmic) -> tuple[RithmicSession, Reader]:
    """A session and an ES depth feed on it, read until the first depth snapshot is in."""
    session = session_for(server)
    reader = Reader(RithmicLiveSource("ES", session=session, backoff=FAST))
    await until(lambda: reader.count(Kind.CLEAR) == 1, "the depth snapshot")
    return session, reader


def run(main: Callable[[FakeRithmic, FakeTicker], Awaitable[None]]) -> None:
    async def go() -> None:
        async with FakeRithmic() as server:
            ticker = FakeTicker(server, front={"ES": "ESZ6"})
            ticker.rest("ESZ6", "b1", BUY, 5529.0, 3)
            ticker.rest("ESZ6", "b2", BUY, 5529.0, 2)
            ticker.rest("ESZ6", "b3", BUY, 5528.75, 7)
            ticker.rest("ESZ6", "a1", SELL, 5529.25, 4)
            await main(server, ticker)

    asyncio.run(asyncio.wait_for(go(), 30))


def test_trades_and_market_depth_reach_our_events_and_the_dom_at_exact_ticks():
    async def main(server: FakeRithmic, ticker: FakeTicker) -> None:
        session, reader = await depth_feed(server)
        await ticker.trade("ESZ6", 5529.25, 2, BUY, ssboe=SSBOE, nsecs=1_500)
        await ticker.bbo("ESZ6", (5529.0, 5), (5529.25, 4), ssboe=SSBOE)  # the depth book is the DOM: ignored
        await ticker.depth("ESZ6", [(DELETE, "a1", SELL, 5529.25, 0), (NEW, "a2", SELL, 5529.5, 6)], ssboe=SSBOE,
                           nsecs=1_700)
        await until(lambda: reader.count(Kind.LEVEL) == 4, "the depth update")
        ev = reader.events
        snap, trade, update = ev[:4], ev[4:5], ev[5:]
        assert snap["kind"].tolist() == [Kind.CLEAR, Kind.LEVEL, Kind.LEVEL, Kind.LEVEL]
        assert (snap["flags"] & Flag.SNAPSHOT).all()
        assert list(zip(snap["side"][1:].tolist(), snap["level"][1:].tolist(), snap["price"][1:].tolist(),
                        snap["size"][1:].tolist(), snap["count"][1:].tolist(), strict=True)) == [
            (Side.BUY, 0, 22116, 5, 2), (Side.BUY, 1, 22115, 7, 1), (Side.SELL, 0, 22117, 4, 1)]
        assert trade["kind"].tolist() == [Kind.TRADE] and trade["side"].tolist() == [Side.BUY]
        assert trade["price"].tolist() == [22117] and trade["size"].tolist() == [2]
        assert trade["ts_event"].tolist() == [SSBOE * 10**9 + 1_500]
        assert update["kind"].tolist() == [Kind.LEVEL] and update["ts_event"].tolist() == [SSBOE * 10**9 + 1_700]
        assert (update["side"].tolist(), update["level"].tolist(), update["price"].tolist()) == (
            [Side.SELL], [0], [22118])  # the best ask moved up a tick; one slot changed
        dom = OrderBook()
        dom.apply(ev)
        assert dom.best_bid() == (22116, 5) and dom.best_ask() == (22118, 6)
        src = reader.src
        assert src.info.symbols == ["ESZ6"] and src.info.schema == "rithmic-depth10"
        assert [(m.symbol, m.update_bits) for m in server.requests(100)] == [("ESZ6", 3)]  # trades + BBO
        assert src.stats.trades == 1 and src.stats.malformed_total == 0
        assert src.stats.records == 6  # 3 snapshot rows (one per price and side), the trade, the BBO, the update
        await reader.stop()  # a feed that stops stops its data
        await until(lambda: len(server.requests(117)) == 2 and len(server.requests(100)) == 2, "the unsubscribes")
        assert [m.request for m in server.requests(117)] == [1, 2] and server.requests(100)[-1].request == 2
        await session.close()

    run(main)


def test_after_a_dropped_ticker_plant_the_feed_resubscribes_restates_the_book_and_reports_the_outage():
    async def main(server: FakeRithmic, ticker: FakeTicker) -> None:
        session, reader = await depth_feed(server)
        (conn,) = server.live()
        await server.drop(conn)
        ticker.rest("ESZ6", "b9", BUY, 5529.0, 10)  # the book moves while we are away
        await until(lambda: reader.count(Kind.CLEAR) == 2, "a new depth snapshot after the reconnect")
        assert session.state.phase is Phase.UP and len(ticker_logins(server)) == 2
        outage = [g for g in reader.src.gaps if g.kind == "outage"]
        assert len(outage) == 1 and outage[0].missing == -1 and "events in between unknown" in outage[0].detail
        assert len(server.requests(115)) == 2  # a depth snapshot per connection
        await ticker.trade("ESZ6", 5529.0, 1, SELL, ssboe=SSBOE)
        await until(lambda: reader.count(Kind.TRADE) == 1, "a trade on the new connection")
        dom = OrderBook()
        dom.apply(reader.events)
        assert dom.best_bid() == (22116, 15)  # re-stated by the new snapshot
        await reader.stop()
        await session.close()

    run(main)


def test_a_forced_logout_shows_on_the_feed_nothing_logs_in_again_by_itself_and_a_manual_reconnect_resumes():
    async def main(server: FakeRithmic, ticker: FakeTicker) -> None:
        session, reader = await depth_feed(server)
        other = session_for(server, app_name="another-terminal")
        await other.open({"ticker"})  # the same user elsewhere
        await until(lambda: session.state.phase is Phase.FORCED_OUT, "FORCED_OUT")
        await until(lambda: FORCED_OUT_REASON in (reader.src.status().last_error or ""), "the feed showing it")
        await asyncio.sleep(0.3)  # many feed and session backoff periods
        assert len(ticker_logins(server)) == 2 and other.state.phase is Phase.UP  # no ping-pong
        assert reader.src.status().state.value == "RECONNECTING"
        await other.close()
        await session.reconnect()  # by hand: the feed comes back with a fresh book
        await until(lambda: reader.count(Kind.CLEAR) == 2, "the depth snapshot after the manual reconnect")
        assert reader.src.status().state.value == "LIVE" and len(ticker_logins(server)) == 3
        await reader.stop()
        await session.close()

    run(main)


def test_feeds_and_other_users_of_one_session_log_in_once_per_plant_and_share_subscriptions():
    async def main(server: FakeRithmic, ticker: FakeTicker) -> None:
        session = session_for(server)
        front, explicit = (Reader(RithmicLiveSource(sym, session=session, backoff=FAST, depth_levels=0))
                           for sym in ("ES", "ESZ6"))
        await session.open({"ticker"})  # a second user of the session, e.g. the broker's symbol look-ups
        await until(lambda: all(r.src.status().state.value == "LIVE" for r in (front, explicit)), "both feeds")
        await ticker.trade("ESZ6", 5529.25, 1, BUY, ssboe=SSBOE)
        await ticker.bbo("ESZ6", (5529.0, 5), (5529.25, 4), ssboe=SSBOE)
        for reader in (front, explicit):
            await until(lambda r=reader: r.count(Kind.TRADE) == 1 and r.count(Kind.LEVEL) == 2, "trade and BBO")
            lv = reader.events[reader.events["kind"] == Kind.LEVEL]
            assert lv["price"].tolist() == [22116, 22117] and lv["level"].tolist() == [0, 0]
        assert len(ticker_logins(server)) == 1
        assert [c.infra_type for c in server.conns if c.logged_in] == [ticker_logins(server)[0].infra_type]
        assert [(m.symbol, m.request, m.update_bits) for m in server.requests(100)] == [("ESZ6", 1, 3)]  # once
        assert front.src.info.schema == "rithmic-tbbo"
        await front.stop()  # the other feed still wants ESZ6: nothing is unsubscribed
        await ticker.trade("ESZ6", 5529.5, 2, BUY, ssboe=SSBOE)
        await until(lambda: explicit.count(Kind.TRADE) == 2, "the second trade on the feed still running")
        assert len(server.requests(100)) == 1
        await explicit.stop()  # the last one: unsubscribed
        await until(lambda: len(server.requests(100)) == 2, "the unsubscribe")
        assert (server.requests(100)[-1].request, server.requests(100)[-1].update_bits) == (2, 3)
        await session.close()

    run(main)


def test_a_quiet_market_on_a_live_plant_is_not_taken_for_a_dead_link():
    async def main(server: FakeRithmic, ticker: FakeTicker) -> None:
        session = session_for(server)
        reader = Reader(RithmicLiveSource("ES", session=session, backoff=FAST, beat_s=0.05, heartbeat_timeout_s=1.0))
        await until(lambda: reader.count(Kind.CLEAR) == 1, "the depth snapshot")
        await asyncio.sleep(2.5)  # two and a half heartbeat timeouts without a single market message
        status = reader.src.status()
        assert status.reconnects == 0 and status.last_error is None and len(ticker_logins(server)) == 1
        await reader.stop()
        await session.close()

    run(main)


def test_while_the_depth_book_is_empty_the_bbo_is_the_dom_until_depth_takes_over_with_a_clear():
    async def main(server: FakeRithmic, ticker: FakeTicker) -> None:
        ticker.books.clear()  # nothing resting (or no depth entitlement): the snapshot is empty
        session = session_for(server)
        reader = Reader(RithmicLiveSource("ES", session=session, backoff=FAST))
        await until(lambda: reader.count(Kind.CLEAR) == 1, "the (empty) depth snapshot")
        await ticker.bbo("ESZ6", (5529.0, 5), (5529.25, 4), ssboe=SSBOE)
        await until(lambda: reader.count(Kind.LEVEL) == 2, "the BBO")
        await ticker.depth("ESZ6", [(NEW, "b1", BUY, 5528.75, 2)], ssboe=SSBOE, nsecs=9)
        await until(lambda: reader.count(Kind.CLEAR) == 2, "depth taking over")
        ev = reader.events
        assert [(k, lvl, p, q) for k, lvl, p, q in zip(ev["kind"].tolist(), ev["level"].tolist(),
                                                       ev["price"].tolist(), ev["size"].tolist(), strict=True)] == [
            (Kind.CLEAR, 0, NO_PRICE, 0),  # the snapshot
            (Kind.LEVEL, 0, 22116, 5), (Kind.LEVEL, 0, 22117, 4),  # the BBO
            (Kind.CLEAR, 0, NO_PRICE, 0), (Kind.LEVEL, 0, 22115, 2)]  # the depth book from here on
        dom = OrderBook()
        dom.apply(ev)
        assert dom.best_bid() == (22115, 2) and dom.best_ask() is None
        await reader.stop()
        await session.close()

    run(main)
