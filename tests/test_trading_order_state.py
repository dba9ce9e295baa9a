"""The order state machine (pure): venue notifications move an order, in any order they arrive."""

from __future__ import annotations

import msgspec

from tapeflow.core.events import Side
from tapeflow.trading.client_ids import ClientIdGenerator, is_ours
from tapeflow.trading.order_state import (
    Ack,
    Cancelled,
    CancelRequested,
    CommandRefused,
    Executed,
    Expired,
    Rejected,
    Updated,
    UpdateRequested,
    apply,
)
from tapeflow.trading.orders import EventKind, Fill, OrderRequest, OrderStatus, OrderType, new_order

S = OrderStatus


def order(qty: int = 3):
    req = OrderRequest(instrument="ES", side=Side.BUY, qty=qty, type=OrderType.LIMIT, limit_price=16000)
    return new_order(1, req, 0, client_id="tfX-1")


def fill(qty: int, price: int = 16000, fid: str = "t1") -> Executed:
    return Executed(Fill(id=1, order_id=1, ts_ns=1, instrument="ES", side=Side.BUY, qty=qty, price=price,
                         commission_cents=0, venue_fill_id=fid))


def run(o, *notices):
    kinds = []
    for n in notices:
        o, k = apply(o, n)
        kinds.append(k)
    return o, kinds


def test_a_new_order_is_submitted_and_the_ack_makes_it_accepted_with_the_venue_id():
    o = order()
    assert o.status == S.SUBMITTED and o.client_id == "tfX-1"
    o, kinds = run(o, Ack("9056"))
    assert (o.status, o.venue_id, kinds) == (S.ACCEPTED, "9056", [EventKind.ACCEPTED])


def test_a_fill_after_a_cancel_request_is_booked_and_the_cancel_then_ends_the_rest():
    o, kinds = run(order(), Ack("7"), CancelRequested(), fill(1), Cancelled("user"))
    assert kinds == [EventKind.ACCEPTED, EventKind.PENDING_CANCEL, EventKind.PARTIALLY_FILLED, EventKind.CANCELLED]
    assert (o.status, o.filled_qty, o.fill_value_ticks) == (S.CANCELLED, 1, 16000)


def test_a_fill_reported_after_the_cancel_confirmation_is_still_booked_and_the_order_stays_cancelled():
    o, kinds = run(order(), Ack("7"), CancelRequested(), Cancelled(), fill(2))
    assert kinds[-1] == EventKind.PARTIALLY_FILLED
    assert (o.status, o.filled_qty) == (S.CANCELLED, 2)


def test_a_reject_after_acceptance_ends_the_order_with_the_venue_text():
    o, kinds = run(order(), Ack("7"), Rejected("Insufficient margin"))
    assert (o.status, o.reason, kinds[-1]) == (S.REJECTED, "Insufficient margin", EventKind.REJECTED)


def test_a_cancel_ack_that_lost_the_race_to_the_last_fill_leaves_the_order_filled():
    o, kinds = run(order(), Ack("7"), CancelRequested(), fill(3), Cancelled())
    assert (o.status, o.filled_qty, kinds[-1]) == (S.FILLED, 3, None)


def test_a_modify_is_pending_until_the_venue_reports_the_new_terms_and_a_refusal_restores_the_order():
    o, _kinds = run(order(), Ack("7"), UpdateRequested())
    assert o.status == S.PENDING_UPDATE and o.limit_price == 16000
    moved, k = apply(o, Updated(qty=3, limit_price=15996))
    assert (moved.status, moved.limit_price, k) == (S.ACCEPTED, 15996, EventKind.MODIFIED)
    refused, k = apply(o, CommandRefused("price outside limits"))
    assert (refused.status, refused.limit_price, refused.reason) == (S.ACCEPTED, 16000, "price outside limits")


def test_a_modify_racing_a_fill_keeps_the_fill_and_the_new_size_below_it_completes_the_order():
    o, _ = run(order(), Ack("7"), UpdateRequested(), fill(2))
    assert (o.status, o.filled_qty) == (S.PENDING_UPDATE, 2)
    o, k = apply(o, Updated(qty=2, limit_price=16000))
    assert (o.status, k) == (S.FILLED, EventKind.FILLED)


def test_terminal_orders_ignore_stale_notices_and_a_day_order_expires():
    o, _kinds = run(order(), Ack("7"), Expired())
    assert o.status == S.EXPIRED
    same, k = apply(o, Ack("7"))
    assert same == o and k is None
    assert apply(o, Cancelled())[1] is None and apply(o, CancelRequested())[1] is None


def test_a_fill_before_the_ack_counts_as_acceptance():
    o, kinds = run(order(), fill(1), Ack("7"))
    assert (o.status, o.venue_id, kinds) == (S.PARTIALLY_FILLED, "7", [EventKind.PARTIALLY_FILLED, None])


def test_client_ids_differ_across_generators_and_sort_within_one():
    a, b = ClientIdGenerator(), ClientIdGenerator()
    assert a.session != b.session
    ids = [a.next() for _ in range(40)]
    assert len(set(ids)) == 40 and all(is_ours(i) and a.owns(i) and not b.owns(i) for i in ids)
    assert ClientIdGenerator("abc").next() == "tfabc-1"
    assert not is_ours("") and not is_ours("manual order")


def test_orders_read_back_from_old_journals_map_working_to_accepted():
    assert OrderStatus("working") == S.ACCEPTED
    assert msgspec.convert("working", OrderStatus) == S.ACCEPTED
