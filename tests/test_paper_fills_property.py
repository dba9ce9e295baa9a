"""Property: on any MBO tape, no paper fill is better than the book allowed at that moment.

Hypothesis writes an L3 tape the way Databento sends CME data (adds, cancels, modifies, and
matches as ``T`` prints, ``F`` fills of the resting orders in time priority, then the ``C``/``M``
rows that take them out, the last with the ``LAST`` flag) and, between its rows, market, limit,
stop and stop-limit paper orders. The DOM (:class:`tapeflow.flow.book.OrderBook`, built
independently of the paper broker) is the judge:

* an order that takes liquidity (market, stop, marketable limit) never pays less than the best
  ask to buy, nor receives more than the best bid to sell, on the book as it stands when the
  fill happens, plus the slippage for market and stop orders;
* nothing takes liquidity on a print's own row: the book there is still the one before the print
  (market and stop orders wait for the row that ends the print's event);
* a resting limit fills only on a print at or through its price, and exactly at its price;
* a resting limit fills on a print *at* its price only once every order that was ahead of it
  there (resting at that price when it arrived, and not moved away since) is gone: the little
  exchange below matches in time priority, so its state after the print is the truth.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.core.events import K_TRADE, Side
from tapeflow.flow.book import OrderBook
from tapeflow.trading import Account, OrderEvent, OrderRequest, OrderType, PaperSettings, TradingSettings
from tapeflow.trading.testing import MS, et, mbo

T0 = et(date(2024, 7, 2), "10:00")
MID = 20000

op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from([1, -1]), st.integers(0, 3), st.integers(1, 6)),
    st.tuples(st.just("cancel"), st.integers(0, 50), st.integers(1, 6), st.just(0)),
    st.tuples(st.just("cancel"), st.just(-1), st.integers(1, 6), st.just(0)),  # the newest order
    st.tuples(st.just("modify"), st.integers(0, 50), st.integers(0, 4), st.integers(0, 3)),
    st.tuples(st.just("trade"), st.sampled_from([1, -1]), st.integers(1, 12), st.just(0)),
    st.tuples(st.just("trade"), st.sampled_from([1, -1]), st.integers(1, 4), st.just(0)),
    st.tuples(st.just("order"), st.sampled_from([1, -1]), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("order"), st.sampled_from([1, -1]), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("cancel_mine"), st.integers(0, 10), st.just(0), st.just(0)),
    st.tuples(st.just("join"), st.sampled_from([1, -1]), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("join"), st.sampled_from([1, -1]), st.integers(1, 3), st.just(0)),
)


class Tape:
    """A small exchange: resting orders in time priority per price, and the MBO rows it sends."""

    def __init__(self) -> None:
        self.orders: dict[int, list[int]] = {}  # id -> [side, price, size], insertion = time priority
        self.moved: list[int] = []  # orders that went to the back of another price's queue
        self.next_id = 1
        self.prints = 10_000_000

    def best(self, side: int) -> int | None:
        ps = [p for s, p, _ in self.orders.values() if s == side]
        if not ps:
            return None
        return max(ps) if side == 1 else min(ps)

    def passive_price(self, side: int, offset: int) -> int:
        """A price ``offset`` ticks behind the touch on ``side`` that does not cross the other side."""
        other = self.best(-side)
        mine = self.best(side)
        if side == 1:
            top = (other - 1) if other is not None else (mine if mine is not None else MID)
            return top - offset
        bottom = (other + 1) if other is not None else (mine if mine is not None else MID + 1)
        return bottom + offset

    def add(self, side: int, offset: int, size: int) -> list[tuple]:
        oid, self.next_id = self.next_id, self.next_id + 1
        price = self.passive_price(side, offset)
        self.orders[oid] = [side, price, size]
        return [("A", oid, side, price, size)]

    def pick(self, n: int) -> int | None:
        ids = list(self.orders)
        return ids[n % len(ids)] if ids else None

    def cancel(self, n: int, size: int) -> list[tuple]:
        oid = self.pick(n)
        if oid is None:
            return []
        s, p, q = self.orders[oid]
        if size >= q:
            del self.orders[oid]
            return [("C", oid, s, p, q)]
        self.orders[oid][2] = q - size
        return [("C", oid, s, p, size)]

    def modify(self, n: int, shrink: int, move: int) -> list[tuple]:
        oid = self.pick(n)
        if oid is None:
            return []
        s, p, q = self.orders[oid]
        price = self.passive_price(s, move - 1) if move else p
        if price != p:  # a new price: the back of that queue (dict order is time priority)
            del self.orders[oid]
            self.orders[oid] = [s, price, q]
            self.moved.append(oid)
            return [("M", oid, s, price, q)]
        self.orders[oid][2] = max(1, q - shrink)  # shrinks in place and keeps its priority
        return [("M", oid, s, p, max(1, q - shrink))]

    def trade(self, aggressor: int, qty: int) -> list[tuple]:
        """Match ``qty`` against the other side, best price first, oldest order first: per price a
        ``T`` print and the ``F`` fills of the orders it hit, then the book rows that take them out."""
        prints, book_rows = [], []
        while qty > 0 and (price := self.best(-aggressor)) is not None:
            fills = []
            for oid, (s, p, q) in list(self.orders.items()):
                if s != -aggressor or p != price or qty <= 0:
                    continue
                n = min(q, qty)
                qty -= n
                fills.append(("F", oid, s, p, n))
                if n == q:
                    del self.orders[oid]
                    book_rows.append(("C", oid, s, p, n, False))
                else:
                    self.orders[oid][2] = q - n
                    book_rows.append(("M", oid, s, p, q - n, False))
            self.prints += 1
            prints += [("T", self.prints, aggressor, price, sum(f[4] for f in fills)), *fills]
        if book_rows:
            book_rows[-1] = book_rows[-1][:5]  # the last row ends the event
        return prints + book_rows


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(op, min_size=5, max_size=70), st.integers(0, 2))
def test_no_paper_fill_is_better_than_the_mbo_book_at_that_moment(ops, slippage):
    acct = Account(TradingSettings(paper=PaperSettings(slippage_ticks=slippage)))
    dom = OrderBook()
    moment: dict[str, object] = {"row": None}
    bad: list[str] = []
    ahead: dict[int, set[int]] = {}  # our limit order id -> exchange orders ahead of it

    def check(ev: OrderEvent) -> None:
        f = ev.fill
        if f is None:
            return
        row = moment["row"]
        if row is not None and int(row["kind"]) == K_TRADE:  # a resting limit, filled by this print
            printed, limit = int(row["price"]), ev.order.limit_price
            if ev.order.request.type in (OrderType.MARKET, OrderType.STOP):
                bad.append(f"{ev.order.request.type.name} filled on a print, before its event's book")
                return
            if f.price != limit or (printed - f.price) * int(f.side) > 0:
                bad.append(f"passive {f.side.name} {f.qty}@{f.price} (limit {limit}) on a print at {printed}")
            still = [o for o in ahead.get(ev.order.id, ()) if tape.orders.get(o, [0, None])[1] == limit]
            if printed == limit and still:
                bad.append(f"{f.side.name} limit {limit} filled with orders {still} still ahead of it")
            return
        best = dom.best_ask() if f.side == Side.BUY else dom.best_bid()
        if best is None:
            return  # that side of the book is empty: nothing to compare with
        slip = slippage if ev.order.request.type in (OrderType.MARKET, OrderType.STOP) else 0  # limits: none
        allowed = best[0] + int(f.side) * slip
        if (allowed - f.price) * int(f.side) > 0:
            bad.append(f"taking {f.side.name} {f.qty}@{f.price}: book allowed {allowed} at best")

    acct.subscribe(check)
    tape = Tape()
    rows: list[tuple] = []
    for side in (1, -1):
        for off, size in ((0, 4), (0, 5), (1, 3), (2, 3)):  # 9 lots at the touch in two orders
            rows += tape.add(side, off, size)
    t = T0
    mine: list[int] = []

    def feed(rows: list[tuple]) -> None:
        nonlocal t
        if not rows:
            return
        batch = mbo(t, rows, step_ns=1)
        t += MS
        for i in range(len(batch)):
            one = batch[i : i + 1]
            dom.apply(one)
            moment["row"] = one[0]
            acct.on_events(one)
        moment["row"] = None

    feed(rows)
    for kind, a, b, c in ops:
        if kind == "add":
            feed(tape.add(a, b, c))
        elif kind == "cancel":
            feed(tape.cancel(a, b))
        elif kind == "modify":
            feed(tape.modify(a, b, c))
        elif kind == "trade":
            feed(tape.trade(a, b))
        elif kind in ("order", "join"):
            side = Side(a)
            typ = [OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT][b if kind == "order" else 1]
            touch = tape.best(-a) if tape.best(-a) is not None else MID
            kw: dict[str, int] = {}
            if kind == "join":  # at the back of the best price on our side
                kw["limit_price"] = tape.best(a) if tape.best(a) is not None else touch - a
            elif typ in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                kw["limit_price"] = touch - a * (2 - c)  # from 2 ticks passive to 1 tick marketable
            if typ in (OrderType.STOP, OrderType.STOP_LIMIT):
                kw["stop_price"] = touch + a * c
            there = {o for o, (s, p, _) in tape.orders.items() if s == a and p == kw.get("limit_price")}
            qty = b if kind == "join" else 1 + c % 3
            res = acct.submit(OrderRequest(instrument="ES", side=side, qty=qty, type=typ, **kw))
            if res.order_id is not None:
                mine.append(res.order_id)
                if typ == OrderType.LIMIT:
                    ahead[res.order_id] = there
        elif kind == "cancel_mine" and mine:
            acct.cancel(mine[a % len(mine)])
        for oid in tape.moved:  # to the back of a queue: behind every order of ours
            for ids in ahead.values():
                ids.discard(oid)
        tape.moved.clear()
    assert not bad, bad


def test_the_tape_builder_matches_in_time_priority_and_ends_each_match_with_last():
    tape = Tape()
    tape.add(-1, 0, 2)  # order 1 at MID + 1 (empty book: the ask starts above MID)
    tape.add(-1, 0, 3)  # order 2, behind it
    rows = tape.trade(1, 4)
    assert [r[:5] for r in rows] == [
        ("T", 10_000_001, 1, MID + 1, 4),
        ("F", 1, -1, MID + 1, 2),
        ("F", 2, -1, MID + 1, 2),
        ("C", 1, -1, MID + 1, 2),
        ("M", 2, -1, MID + 1, 1),
    ]
    batch = mbo(T0, rows)
    assert np.flatnonzero(batch["flags"]).tolist() == [4]
