"""Property tests over random interleavings of venue notifications (hypothesis).

Whatever order the venue's reports arrive in, repeated or crossed (order updates, trades replayed by
a reconnect's Trade/search and again after a restart): the booked position is the sum of the
distinct fills, no fill is booked twice, an order's filled quantity is the sum of its own fills, and
a terminal order never comes back to life.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.core.events import Side
from tapeflow.trading import order_state as n
from tapeflow.trading.live.book import VenueOrders
from tapeflow.trading.orders import Fill, OrderEvent, OrderRequest, new_order

N_ORDERS = 3
notice = st.sampled_from([
    n.Ack("v"), n.CancelRequested(), n.Cancelled("c"), n.Rejected("r"), n.Expired(), n.UpdateRequested(),
    n.CommandRefused("no"), n.Updated(qty=2, limit_price=100), n.Updated(qty=5, limit_price=99),
])
# (order index, trade id, qty, price): trade ids are global at the venue, so the same id always
# names the same execution (a replay repeats it exactly)
trade = st.tuples(st.integers(0, N_ORDERS - 1), st.integers(1, 8), st.integers(1, 2), st.integers(95, 105))
step = st.one_of(
    st.tuples(st.just("notice"), st.integers(0, N_ORDERS - 1), notice),
    st.tuples(st.just("fill"), trade),
    st.tuples(st.just("restart")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=60), st.lists(st.sampled_from([Side.BUY, Side.SELL]), min_size=N_ORDERS,
                                             max_size=N_ORDERS))
def test_any_interleaving_books_each_fill_once_and_the_position_is_the_sum_of_fills(steps, sides):
    events: list[OrderEvent] = []
    journal_fill_ids: list[str] = []

    def listen(e: OrderEvent) -> None:
        events.append(e)
        if e.fill is not None:
            journal_fill_ids.append(e.fill.venue_fill_id)

    book = VenueOrders(listen)
    orders = []
    for i, side in enumerate(sides):
        o = new_order(i + 1, OrderRequest(instrument="ES", side=side, qty=3), 0, client_id=f"tfS-{i}")
        book.submitted(o, 0)
        orders.append(o.id)
    canon: dict[int, tuple[int, int, int]] = {}  # trade id -> (order index, qty, price) first seen
    terminal_seen: dict[int, str] = {}
    for s in steps:
        if s[0] == "notice":
            book.notify(orders[s[1]], s[2], 1)
        elif s[0] == "fill":
            idx, tid, qty, px = s[1]
            idx, qty, px = canon.setdefault(tid, (idx, qty, px))
            o = book.orders[orders[idx]]
            book.fill(o.id, Fill(id=tid, order_id=o.id, ts_ns=2, instrument="ES", side=o.side, qty=qty, price=px,
                                 commission_cents=0, venue_fill_id=f"t{tid}"))
        else:  # restart: a new book seeded with the journaled fill ids, same orders
            old = book
            book = VenueOrders(listen, journal_fill_ids)
            for o in old.orders.values():
                book._store(o)
            book.positions = dict(old.positions)
        for oid in orders:
            st_now = book.orders[oid].status
            if oid in terminal_seen:
                assert st_now.is_terminal, "a terminal order came back to life"
            elif st_now.is_terminal:
                terminal_seen[oid] = st_now.value

    booked = [e.fill for e in events if e.fill is not None]
    assert len({f.venue_fill_id for f in booked}) == len(booked), "a fill was booked twice"
    assert {f.venue_fill_id for f in booked} == {f"t{t}" for t in canon}
    expected_pos = sum(int(sides[i]) * q for i, q, _ in canon.values())
    assert book.positions.get("ES", 0) == sum(int(f.side) * f.qty for f in booked) == expected_pos
    for i, oid in enumerate(orders):
        mine = [v for v in canon.values() if v[0] == i]
        o = book.orders[oid]
        assert o.filled_qty == sum(q for _, q, _ in mine)
        assert o.fill_value_ticks == sum(q * p for _, q, p in mine)
