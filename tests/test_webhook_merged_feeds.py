"""``tapeflow webhook`` with several recorded feeds: one tape in time order on one replay clock.

ES prints at 10:00:00, :04 and :08 (the last at 4998.00), NQ at 10:00:05, :10 and :12 (from 19998.00
at :10). A resting ES buy at 4999.00 fills at 10:00:08, an NQ buy at 19999.00 at 10:00:10 (each at its limit). Replayed
side by side, each file on its own clock from its own first print, NQ's :10 would come 5 s in and
ES's :08 8 s in: NQ would fill first. On one clock ES fills first, as it happened.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tapeflow.commands.webhook import number_feeds, replay_feeds
from tapeflow.core.events import make_trades
from tapeflow.core.instruments import instrument
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.merged import MergedFeeds
from tapeflow.feeds.open import open_source
from tapeflow.feeds.replay import FakeClock
from tapeflow.trading.account import Account
from tapeflow.trading.orders import OrderRequest, OrderType, Side, Source
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import TradingSettings
from tapeflow.trading.tape_ids import TapeNumbers

T0 = iso_to_ns("2024-07-02T14:00:00Z")  # 10:00 ET
S = 1_000_000_000


def _csv(path, rows: list[tuple[int, str]]):
    path.write_text("timestamp,price,size,side\n" + "".join(f"{T0 + t * S},{p},1,SELL\n" for t, p in rows))
    return str(path)


def _feeds(tmp_path) -> list[str]:
    return [_csv(tmp_path / "es.csv", [(0, "5000.00"), (4, "5000.00"), (8, "4998.00")]),
            _csv(tmp_path / "nq.csv", [(5, "20000.00"), (10, "19998.00"), (12, "19998.00")])]


def _limit_buy(root: str, price_ticks: int) -> OrderRequest:
    return OrderRequest(instrument=root, side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=price_ticks,
                        source=Source.MANUAL)


def test_two_file_feeds_fill_in_true_time_order_on_one_replay_clock(tmp_path, capsys):
    specs = _feeds(tmp_path)
    numbers, tapes = number_feeds([open_source(f) for f in specs], specs)
    account = Account(TradingSettings(), broker=PaperBroker(TradingSettings().paper, numbers.roots))
    fills = []
    account.subscribe(lambda ev: fills.append(ev.fill) if ev.fill is not None else None)
    assert account.submit(_limit_buy("ES", 4999 * 4)).ok and account.submit(_limit_buy("NQ", 19999 * 4)).ok
    clock = FakeClock()
    plays = replay_feeds(tapes, account, numbers, speed=1.0, clock=clock)
    assert len(plays) == 1  # one merged replay, not one per file

    async def run():
        await asyncio.gather(*plays)

    asyncio.run(run())
    got = [(f.instrument, f.price, (f.ts_ns - T0) // S) for f in fills]
    assert got == [("ES", 4999 * 4, 8), ("NQ", 19999 * 4, 10)]  # at their limits, in time order
    assert clock.slept == pytest.approx(12.0, abs=0.01)  # one clock: 10:00:00 to 10:00:12 at real pace
    out = capsys.readouterr().out
    assert out.index("es.csv ended") < out.index("nq.csv ended")


def test_merged_feeds_renumber_each_feed_and_keep_time_order_ties_to_the_first_feed():
    numbers = TapeNumbers()
    a = make_trades(np.array([1, 3, 3, 6]), [10, 11, 12, 13], [1] * 4, [1] * 4, instrument_id=1)
    b = make_trades(np.array([2, 3, 5]), [20, 21, 22], [1] * 3, [1] * 3, instrument_id=1)  # also numbers itself 1

    class Src(list):  # two batches, and the feed's own symbol map
        def __init__(self, rows, root):
            super().__init__([rows[:2], rows[2:]])
            self.info = FeedInfo("x", "trades", instrument(root), instrument_ids={1: f"{root}U4"})
            self.stats = FeedStats()

    sa, sb = Src(a, "ES"), Src(b, "NQ")
    ia = numbers.add_feed(sa.info.instrument_ids, "ES")
    ib = numbers.add_feed(sb.info.instrument_ids, "NQ")
    merged = MergedFeeds([(ia, sa), (ib, sb)], numbers, chunk_rows=2)
    rows = np.concatenate(list(merged))
    assert rows["price"].tolist() == [10, 20, 11, 12, 21, 22, 13]
    assert [numbers.roots[i] for i in rows["instrument_id"].tolist()] == ["ES", "NQ", "ES", "ES", "NQ", "NQ", "ES"]
    assert merged.ended == [(5, 1), (6, 0)]  # NQ ran out at 5, ES at 6
