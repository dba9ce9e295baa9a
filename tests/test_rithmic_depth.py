"""Rithmic market depth by order -> DOM depth levels: hand-computed known answers over the
protobuf messages async-rithmic ships (ResponseDepthByOrderSnapshot 116, DepthByOrder 160)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("async_rithmic", reason="optional extra tapeflow[rithmic] (async-rithmic) is not installed")

from async_rithmic.protocol_buffers import depth_by_order_pb2, response_depth_by_order_snapshot_pb2

from tapeflow.core.events import NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import instrument
from tapeflow.feeds.base import FeedStats
from tapeflow.feeds.live_rithmic import rows_to_events
from tapeflow.feeds.rithmic_depth import CHANGE, DELETE, NEW, DepthBook
from tapeflow.flow.book import OrderBook

ES = instrument("ES")
SSBOE = 1_719_878_400
BUY, SELL = 1, 2


def snap_row(side: int, price: float, orders: list[tuple[str, int]], seq: int = 7):
    return response_depth_by_order_snapshot_pb2.ResponseDepthByOrderSnapshot(
        template_id=116, symbol="ESU4", exchange="CME", sequence_number=seq, depth_side=side, depth_price=price,
        depth_size=[s for _, s in orders], exchange_order_id=[o for o, _ in orders])


def update(seq: int, *changes: tuple[int, str, int, float, int], nsecs: int = 500):
    return depth_by_order_pb2.DepthByOrder(
        template_id=160, symbol="ESU4", exchange="CME", sequence_number=seq,
        update_type=[c[0] for c in changes], exchange_order_id=[c[1] for c in changes],
        transaction_type=[c[2] for c in changes], depth_price=[c[3] for c in changes],
        depth_size=[c[4] for c in changes], ssboe=SSBOE, usecs=9, source_ssboe=SSBOE, source_nsecs=nsecs)


SNAPSHOT = [snap_row(BUY, 5529.0, [("b1", 3), ("b2", 2)]), snap_row(BUY, 5528.75, [("b3", 7)]),
            snap_row(SELL, 5529.25, [("a1", 4)]), snap_row(SELL, 5529.5, [("a2", 1), ("a3", 1), ("a4", 6)])]


def loaded(levels: int = 10) -> tuple[DepthBook, list]:
    book = DepthBook(ES, levels)
    return book, book.load_snapshot(SNAPSHOT, ts_ns=123)


def test_snapshot_clears_the_book_then_sets_every_level_as_a_snapshot_with_summed_sizes_and_order_counts():
    book, rows = loaded()
    ev = rows_to_events(rows)
    assert ev["kind"].tolist() == [Kind.CLEAR] + [Kind.LEVEL] * 4
    assert (ev["flags"] & Flag.SNAPSHOT).all() and ev["ts_event"].tolist() == [123] * 5
    lv = ev[1:]
    assert lv["side"].tolist() == [Side.BUY, Side.BUY, Side.SELL, Side.SELL]
    assert lv["level"].tolist() == [0, 1, 0, 1]
    assert lv["price"].tolist() == [22116, 22115, 22117, 22118]  # ticks of 0.25
    assert lv["size"].tolist() == [5, 7, 4, 8] and lv["count"].tolist() == [2, 1, 1, 3]
    assert book.sequence == 7


def test_an_update_emits_only_the_depth_slots_it_changed_at_exchange_time():
    book, _ = loaded()
    rows = book.apply(update(8, (DELETE, "a1", SELL, 5529.25, 0), nsecs=42))  # best ask leaves: asks shift up
    ev = rows_to_events(rows)
    assert ev["side"].tolist() == [Side.SELL, Side.SELL]
    assert ev["level"].tolist() == [0, 1] and ev["price"].tolist() == [22118, NO_PRICE]
    assert ev["size"].tolist() == [8, 0] and ev["count"].tolist() == [3, 0]
    assert ev["ts_event"].tolist() == [SSBOE * 10**9 + 42] * 2 and ev["ts_recv"].tolist() == [SSBOE * 10**9 + 9000] * 2
    assert not (ev["flags"] & Flag.SNAPSHOT).any()


def test_new_change_and_delete_move_orders_between_prices():
    book, _ = loaded()
    book.apply(update(8, (NEW, "b4", BUY, 5529.0, 1)))  # best bid 5 -> 6, 3 orders
    rows = book.apply(update(9, (CHANGE, "b3", BUY, 5529.0, 2)))  # b3 moves up: 5528.75 empties
    ev = rows_to_events(rows)
    assert list(zip(ev["level"].tolist(), ev["price"].tolist(), ev["size"].tolist(), ev["count"].tolist(),
                    strict=True)) == [(0, 22116, 8, 4), (1, NO_PRICE, 0, 0)]
    assert book.top(0) == [(22116, 8, 4)]


def test_updates_already_in_the_snapshot_are_skipped_and_nothing_applies_before_a_snapshot():
    book = DepthBook(ES)
    assert book.apply(update(1, (NEW, "x", BUY, 5529.0, 1))) == [] and not book.ready
    book.load_snapshot(SNAPSHOT, ts_ns=0)
    assert book.apply(update(7, (NEW, "y", BUY, 5530.0, 1))) == []  # seq 7 is in the snapshot
    assert book.stale_updates == 2 and book.top(0)[0] == (22116, 5, 2)


def test_only_the_best_levels_are_kept_and_a_change_below_them_emits_nothing():
    book, rows = loaded(levels=1)
    assert rows_to_events(rows)["level"].tolist() == [0, 0, 0]  # CLEAR, best bid, best ask
    assert book.apply(update(8, (NEW, "deep", BUY, 5520.0, 50))) == []


def test_malformed_depth_is_counted_and_skipped_never_rounded():
    stats = FeedStats()
    book = DepthBook(ES, stats=stats)
    book.load_snapshot([*SNAPSHOT, snap_row(BUY, 5528.1, [("odd", 1)]), snap_row(0, 5528.0, [("noside", 1)])], 0)
    book.apply(update(8, (NEW, "z", BUY, 5527.3, 1)))
    book.apply(update(9, (DELETE, "ghost", SELL, 5530.0, 0)))
    bad = depth_by_order_pb2.DepthByOrder(template_id=160, symbol="ESU4", sequence_number=10, update_type=[NEW],
                                          transaction_type=[BUY, SELL], depth_price=[5529.0], depth_size=[1],
                                          exchange_order_id=["q"])
    assert book.apply(bad) == []
    assert dict(stats.malformed) == {"off-tick price": 2, "depth snapshot row without side": 1,
                                     "depth delete of an unknown order": 1,
                                     "depth update with mismatched order fields": 1}
    assert book.top(0) == [(22116, 5, 2), (22115, 7, 1)]


def test_the_dom_shows_rithmic_depth_at_its_levels():
    book, rows = loaded()
    rows += book.apply(update(8, (NEW, "b5", BUY, 5528.5, 9)))
    dom = OrderBook()
    dom.apply(rows_to_events(rows))
    d = dom.depth(10)
    assert d.bid_price.tolist() == [22116, 22115, 22114] and d.bid_size.tolist() == [5, 7, 9]
    assert d.ask_price.tolist() == [22117, 22118] and d.ask_size.tolist() == [4, 8]
    assert d.ask_count.tolist() == [1, 3]

_OPS = st.lists(st.tuples(st.sampled_from([NEW, CHANGE, DELETE]), st.integers(0, 11), st.sampled_from([BUY, SELL]),
                          st.integers(-12, 12), st.integers(1, 9)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS, levels=st.integers(1, 5))
def test_the_dom_fed_by_the_emitted_rows_always_shows_the_best_levels_of_the_resting_orders(ops, levels):
    """Whatever the order flow, the DOM built from the changed-slot rows equals the top ``levels``
    prices of the orders resting at the venue (sizes summed, orders counted)."""
    book, rows = DepthBook(ES, levels), []
    rows += book.load_snapshot(SNAPSHOT, ts_ns=0)
    resting = {("b1", BUY): (22116, 3), ("b2", BUY): (22116, 2), ("b3", BUY): (22115, 7), ("a1", SELL): (22117, 4),
               ("a2", SELL): (22118, 1), ("a3", SELL): (22118, 1), ("a4", SELL): (22118, 6)}
    dom = OrderBook()
    for seq, (kind, n, side, offset, size) in enumerate(ops, start=8):
        oid = f"o{n}"
        price = (22116 if side == BUY else 22117) + (offset if side == SELL else -offset)
        if kind == DELETE:
            if (oid, side) not in resting:
                continue
            del resting[(oid, side)]
        else:
            resting[(oid, side)] = (price, size)
        rows += book.apply(update(seq, (kind, oid, side, price * 0.25, size)))
        dom.apply(rows_to_events(rows))
        rows = []
        got = dom.depth(levels)
        for side_code, name in ((BUY, "bid"), (SELL, "ask")):
            totals: dict[int, list[int]] = {}
            for (_, s), (p, q) in resting.items():
                if s == side_code:
                    totals.setdefault(p, [0, 0])
                    totals[p][0] += q
                    totals[p][1] += 1
            best = sorted(totals, reverse=side_code == BUY)[:levels]
            shown = zip(*(getattr(got, f"{name}_{f}").tolist() for f in ("price", "size", "count")), strict=True)
            assert list(shown) == [(p, totals[p][0], totals[p][1]) for p in best]
