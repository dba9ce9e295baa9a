"""Order book: hand-built LEVEL/ORDER/CLEAR sequences with known depth, and the real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tapeflow.core.events import LEVEL_UNKNOWN, NO_PRICE, Kind, Side, empty_events, make_trades
from tapeflow.feeds.dbn_file import DbnFileSource
from tapeflow.flow.book import OrderBook


def _rows(*specs: tuple) -> np.ndarray:
    """Rows from (kind, side, price, size, level/order_id, action, count) tuples."""
    out = empty_events(len(specs))
    for i, (kind, side, price, size, key, action, count) in enumerate(specs):
        out[i]["kind"], out[i]["side"], out[i]["price"], out[i]["size"] = kind, side, price, size
        out[i]["count"], out[i]["action"] = count, ord(action) if action else 0
        if kind == Kind.ORDER:
            out[i]["order_id"], out[i]["level"] = key, LEVEL_UNKNOWN
        else:
            out[i]["level"] = key
    return out


def _slot(side: int, level: int, price: int, size: int, count: int = 1) -> tuple:
    return (Kind.LEVEL, side, price, size, level, None, count)


def _order(action: str, oid: int, side: int, price: int, size: int) -> tuple:
    return (Kind.ORDER, side, price, size, oid, action, 0)


def test_depth_slots_hold_the_latest_price_and_size_and_size_zero_empties_them() -> None:
    book = OrderBook()
    book.apply(
        _rows(
            _slot(Side.BUY, 0, 100, 5),
            _slot(Side.BUY, 1, 99, 7),
            _slot(Side.SELL, 0, 101, 3),
            _slot(Side.BUY, 0, 100, 9, 4),  # same slot again: last write wins
            _slot(Side.BUY, 1, NO_PRICE, 0, 0),  # second bid level emptied
        )
    )
    d = book.depth(5)
    assert d.bid_price.tolist() == [100] and d.bid_size.tolist() == [9] and d.bid_count.tolist() == [4]
    assert d.ask_price.tolist() == [101] and d.ask_size.tolist() == [3]
    assert book.best_bid() == (100, 9) and book.best_ask() == (101, 3)


def test_price_keyed_levels_set_the_size_at_a_price_and_zero_removes_it() -> None:
    book = OrderBook()
    book.apply(
        _rows(
            _slot(Side.BUY, LEVEL_UNKNOWN, 40, 5),
            _slot(Side.BUY, LEVEL_UNKNOWN, 39, 2),
            _slot(Side.SELL, LEVEL_UNKNOWN, 41, 3),
            _slot(Side.SELL, LEVEL_UNKNOWN, 42, 8),
        )
    )
    book.apply(_rows(_slot(Side.BUY, LEVEL_UNKNOWN, 40, 0), _slot(Side.SELL, LEVEL_UNKNOWN, 41, 1)))
    d = book.depth(10)
    assert d.bid_price.tolist() == [39] and d.bid_size.tolist() == [2]
    assert d.ask_price.tolist() == [41, 42] and d.ask_size.tolist() == [1, 8]


def test_l3_add_partial_cancel_modify_and_fill_follow_databento_semantics() -> None:
    book = OrderBook()
    book.apply(
        _rows(
            _order("A", 1, Side.BUY, 100, 5),
            _order("A", 2, Side.BUY, 100, 3),
            _order("A", 3, Side.SELL, 102, 4),
            _order("C", 1, Side.BUY, 100, 2),  # partial cancel: order 1 now 3
            _order("F", 3, Side.SELL, 102, 1),  # fill: no change until the C/M that follows
            _order("M", 3, Side.SELL, 101, 3),  # modify: order 3 moves to 101 with size 3
            _order("C", 2, Side.BUY, 100, 3),  # full cancel of order 2
        )
    )
    d = book.depth(5)
    assert d.bid_price.tolist() == [100] and d.bid_size.tolist() == [3] and d.bid_count.tolist() == [1]
    assert d.ask_price.tolist() == [101] and d.ask_size.tolist() == [3] and d.ask_count.tolist() == [1]
    assert book.order_count == 2


def test_modify_of_an_unknown_order_adds_it_and_cancel_of_one_is_counted() -> None:
    book = OrderBook()
    book.apply(_rows(_order("M", 9, Side.SELL, 105, 2), _order("C", 8, Side.BUY, 99, 1)))
    assert book.best_ask() == (105, 2)
    assert book.best_bid() is None
    assert book.stats["modify of an unknown order (added)"] == 1
    assert book.stats["cancel of an unknown order"] == 1


def test_clear_drops_every_order_and_level_but_keeps_traded_volume() -> None:
    book = OrderBook()
    book.apply(_rows(_order("A", 1, Side.BUY, 100, 5), _slot(Side.SELL, 0, 101, 2)))
    book.apply(make_trades([1], [101], [4], [Side.BUY]))
    book.apply(_rows((Kind.CLEAR, 0, NO_PRICE, 0, 0, "R", 0), _order("A", 2, Side.SELL, 103, 1)))
    assert book.best_bid() is None and book.best_ask() == (103, 1)
    assert book.order_count == 1
    assert book.traded_volume().traded_at_ask.tolist() == [4]


def test_traded_volume_splits_seller_aggressors_at_bid_and_buyers_at_ask() -> None:
    book = OrderBook()
    sides = [Side.SELL, Side.BUY, Side.BUY, Side.SELL]
    book.apply(make_trades([1, 2, 3, 4], [100, 100, 101, 100], [2, 3, 1, 5], sides))
    v = book.traded_volume()
    assert v.price.tolist() == [100, 101]
    assert v.traded_at_bid.tolist() == [7, 0]
    assert v.traded_at_ask.tolist() == [3, 1]
    book.reset_volume()
    assert len(book.traded_volume().price) == 0


def test_ladder_rows_cover_the_asked_price_range() -> None:
    book = OrderBook()
    book.apply(_rows(_order("A", 1, Side.BUY, 100, 5), _order("A", 2, Side.SELL, 102, 4)))
    lad = book.ladder(99, 103)
    assert lad.price.tolist() == [99, 100, 101, 102, 103]
    assert lad.bid_size.tolist() == [0, 5, 0, 0, 0] and lad.ask_size.tolist() == [0, 0, 0, 4, 0]


def test_snapshots_are_read_only_copies() -> None:
    book = OrderBook()
    book.apply(_rows(_order("A", 1, Side.BUY, 100, 5)))
    d = book.depth(1)
    assert not d.bid_size.flags.writeable
    book.apply(_rows(_order("C", 1, Side.BUY, 100, 5)))
    assert d.bid_size.tolist() == [5]


def test_mbo_snapshot_builds_a_sane_es_book(mbo_file: Path) -> None:
    ev = np.concatenate(list(DbnFileSource(mbo_file)))
    book = OrderBook(instrument_id=5602)
    book.apply(ev[:13601])  # the clear and the 13,600 snapshot adds
    assert book.order_count == 13600
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None and bid[0] < ask[0]
    assert (bid[0], ask[0]) == (20856, 20857)  # 5214.00 / 5214.25
    book.apply(ev[13601:])
    assert book.best_bid()[0] < book.best_ask()[0]
    assert sum(book.traded_volume().traded_at_ask) == 6
    assert not book.stats  # every cancel/modify found its order


def test_mbp1_levels_rebuild_the_last_records_bbo(mbp1_file: Path) -> None:
    book = OrderBook()
    for batch in DbnFileSource(mbp1_file):
        book.apply(batch)
    assert book.best_bid() == (22116, 24)  # 5529.00 x 24
    assert book.best_ask() == (22117, 6)  # 5529.25 x 6
    v = book.traded_volume()
    assert int(v.traded_at_bid.sum()) == 111 and int(v.traded_at_ask.sum()) == 142


def test_row_by_row_small_batches_build_the_same_book_as_one_big_batch():
    from tapeflow.core.events import concat
    from tapeflow.feeds.simulator import MarketSimulator
    from tapeflow.flow.book import OrderBook

    events = concat(list(MarketSimulator(seed=21, n_trades=3_000)))
    whole, small = OrderBook(), OrderBook()
    whole.apply(events)
    for i in range(0, len(events), 3):
        small.apply(events[i : i + 3])
    a, b = whole.depth(10), small.depth(10)
    for f in ("bid_price", "bid_size", "bid_count", "ask_price", "ask_size", "ask_count"):
        assert getattr(a, f).tolist() == getattr(b, f).tolist(), f
    lo, hi = int(a.bid_price[-1]), int(a.ask_price[-1])
    la, lb = whole.ladder(lo, hi), small.ladder(lo, hi)
    assert la.traded_at_bid.tolist() == lb.traded_at_bid.tolist()
    assert la.traded_at_ask.tolist() == lb.traded_at_ask.tolist()
