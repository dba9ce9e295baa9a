"""The order state machine: one pure function from (order, venue notification) to the new order.

Every venue adapter (paper aside, which simulates the venue itself) turns what its venue says into
the notices below and lets :func:`apply` decide; nothing else changes an order's status. The rules
follow what a real venue does, not what we asked for:

* a fill is a fact: it is booked in any state, also after a cancel request, after the cancel was
  confirmed (the two reports crossed) and after a reject; a terminal status never changes back;
* a reject after acceptance is legal (venue risk, exchange) and ends the order with the venue's text;
* a cancel or modify request only moves the order to PENDING_CANCEL / PENDING_UPDATE; the old terms
  keep working until the venue confirms, and a refused command returns the order to where it was;
* stale or repeated notices (an ack after the fill, a second cancel) change nothing.

Duplicate fills are filtered before this function (by venue fill id, see ``live.book``).
"""

from __future__ import annotations

import msgspec

from tapeflow.trading.orders import EventKind, Fill, Order, OrderStatus

_replace = msgspec.structs.replace
S = OrderStatus


class Ack(msgspec.Struct, frozen=True):
    """The venue took the order and named it."""

    venue_id: str


class CancelRequested(msgspec.Struct, frozen=True):
    """We sent a cancel (status until the venue answers)."""


class UpdateRequested(msgspec.Struct, frozen=True):
    """We sent a modify."""


class Updated(msgspec.Struct, frozen=True, kw_only=True):
    """The venue reports the order's current terms (after a modify, ours or the user's)."""

    qty: int
    limit_price: int | None = None
    stop_price: int | None = None


class CommandRefused(msgspec.Struct, frozen=True):
    """The venue refused a cancel or modify; the order keeps working on its old terms."""

    reason: str


class Triggered(msgspec.Struct, frozen=True):
    """A stop order was triggered at the venue."""


class Executed(msgspec.Struct, frozen=True):
    """One execution (already de-duplicated on its venue fill id)."""

    fill: Fill


class Cancelled(msgspec.Struct, frozen=True):
    reason: str = ""


class Rejected(msgspec.Struct, frozen=True):
    reason: str


class Expired(msgspec.Struct, frozen=True):
    reason: str = "expired"


Notice = (
    Ack | CancelRequested | UpdateRequested | Updated | CommandRefused | Triggered | Executed
    | Cancelled | Rejected | Expired
)


def resting_status(order: Order) -> OrderStatus:
    """Status of a live order with no command in flight."""
    if order.filled_qty > 0:
        return S.PARTIALLY_FILLED
    return S.ACCEPTED if order.venue_id or order.status != S.SUBMITTED else S.SUBMITTED


def apply(order: Order, notice: Notice) -> tuple[Order, EventKind | None]:
    """The order after ``notice`` and the event kind to publish (``None``: nothing to tell)."""
    st = order.status
    if isinstance(notice, Executed):
        return _execute(order, notice.fill)
    if isinstance(notice, Ack):
        if order.venue_id and order.venue_id != notice.venue_id:
            return order, None  # an order has one venue id; a second ack is somebody else's
        new = _replace(order, venue_id=notice.venue_id)
        if st == S.SUBMITTED:
            return _replace(new, status=S.ACCEPTED), EventKind.ACCEPTED
        return new, None
    if st.is_terminal:
        return order, None
    if isinstance(notice, CancelRequested):
        return (order, None) if st == S.PENDING_CANCEL else (
            _replace(order, status=S.PENDING_CANCEL), EventKind.PENDING_CANCEL
        )
    if isinstance(notice, UpdateRequested):
        if st == S.PENDING_CANCEL:
            return order, None
        return _replace(order, status=S.PENDING_UPDATE), EventKind.PENDING_UPDATE
    if isinstance(notice, Updated):
        new = _replace(
            order, qty=notice.qty, limit_price=notice.limit_price, stop_price=notice.stop_price
        )
        if new.filled_qty >= new.qty:
            return _replace(new, status=S.FILLED), EventKind.FILLED
        status = S.PENDING_CANCEL if st == S.PENDING_CANCEL else resting_status(new)
        if new == _replace(order, status=status):
            return (order, None) if status == st else (_replace(order, status=status), EventKind.MODIFIED)
        return _replace(new, status=status), EventKind.MODIFIED
    if isinstance(notice, CommandRefused):
        if st not in (S.PENDING_CANCEL, S.PENDING_UPDATE):
            return order, None
        return _replace(order, status=resting_status(order), reason=notice.reason), EventKind.MODIFIED
    if isinstance(notice, Triggered):
        return (order, None) if order.triggered else (_replace(order, triggered=True), EventKind.TRIGGERED)
    if isinstance(notice, Cancelled):
        return _replace(order, status=S.CANCELLED, reason=notice.reason or order.reason), EventKind.CANCELLED
    if isinstance(notice, Rejected):
        return _replace(order, status=S.REJECTED, reason=notice.reason), EventKind.REJECTED
    if isinstance(notice, Expired):
        return _replace(order, status=S.EXPIRED, reason=notice.reason), EventKind.EXPIRED
    raise TypeError(f"unknown venue notice {notice!r}")


def _execute(order: Order, fill: Fill) -> tuple[Order, EventKind]:
    filled = order.filled_qty + fill.qty
    new = _replace(order, filled_qty=filled, fill_value_ticks=order.fill_value_ticks + fill.qty * fill.price)
    done = filled >= order.qty
    kind = EventKind.FILLED if done else EventKind.PARTIALLY_FILLED
    if order.status.is_terminal:
        return new, kind  # booked; a cancelled, rejected or expired order stays so
    if done:
        return _replace(new, status=S.FILLED), kind
    if order.status in (S.PENDING_CANCEL, S.PENDING_UPDATE):
        return new, kind  # the command is still on its way
    return _replace(new, status=S.PARTIALLY_FILLED), kind
