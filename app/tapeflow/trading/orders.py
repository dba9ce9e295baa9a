"""Order records: requests, live order state, state-change events and fills.

Prices are integer ticks of the instrument, quantities are contracts, money is integer US cents,
times are UTC nanoseconds. Records are frozen ``msgspec.Struct``: a change makes a new record, so a
snapshot handed to the UI or the journal can never change under it.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from tapeflow.core.events import Side
from tapeflow.trading.client_ids import next_client_id


class OrderType(StrEnum):
    """How the order executes."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"  # becomes a market order when a trade prints at/through stop_price
    STOP_LIMIT = "stop_limit"  # becomes a limit at limit_price when the stop triggers


class Source(StrEnum):
    """Who asked for the order; risk rules and automation switches depend on it."""

    MANUAL = "manual"  # DOM click, hotkey
    RULE = "rule"  # auto-trader from the rule engine
    WEBHOOK = "webhook"  # TradingView alert
    BRACKET = "bracket"  # OCO stop/target child of an entry
    FLATTEN = "flatten"  # flatten / kill switch / risk breach


AUTOMATED_SOURCES = (Source.RULE, Source.WEBHOOK)
"""Sources that the kill switch and a daily-loss breach switch off."""


class OrderStatus(StrEnum):
    """Lifecycle, driven by the venue's own notifications (``order_state.apply`` is the one place
    that moves it); terminal states are FILLED, CANCELLED, REJECTED, EXPIRED."""

    SUBMITTED = "submitted"  # passed risk, sent; the venue has not acknowledged it yet
    ACCEPTED = "accepted"  # acknowledged: the venue's order id is known, the order is working
    PENDING_UPDATE = "pending_update"  # a modify is on its way; the old terms still work
    PENDING_CANCEL = "pending_cancel"  # a cancel is on its way; fills may still arrive
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # by the venue (its text in ``reason``), also after acceptance
    EXPIRED = "expired"  # DAY order at the session's end

    @classmethod
    def _missing_(cls, value: object) -> OrderStatus | None:
        # journals written before the live order model: "working" was the acknowledged state
        return cls.ACCEPTED if value == "working" else None

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class EventKind(StrEnum):
    """What happened to an order (the event stream the UI and journal consume)."""

    SUBMITTED = "submitted"  # sent to the venue
    ACCEPTED = "accepted"  # the venue acknowledged it (venue id known)
    PENDING_UPDATE = "pending_update"
    PENDING_CANCEL = "pending_cancel"
    TRIGGERED = "triggered"  # a stop or stop-limit was triggered
    MODIFIED = "modified"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Bracket(msgspec.Struct, frozen=True):
    """OCO exit attached to an entry: distances in ticks from the entry fill price."""

    stop_ticks: int | None = None
    target_ticks: int | None = None


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a caller asks for. ``side`` is BUY or SELL; prices in ticks."""

    instrument: str  # root, e.g. "ES"
    side: Side
    qty: int  # contracts, > 0
    type: OrderType = OrderType.MARKET
    limit_price: int | None = None  # ticks, LIMIT and STOP_LIMIT
    stop_price: int | None = None  # ticks, STOP and STOP_LIMIT
    source: Source = Source.MANUAL
    bracket: Bracket | None = None
    reduce_only: bool = False  # may only shrink the position (exits, flatten)
    tag: str = ""  # free text: rule name, webhook id
    parent_id: int | None = None  # entry order of a bracket child
    oco_id: int | None = None  # sibling in an OCO pair


class Order(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the account knows it now."""

    id: int
    request: OrderRequest
    status: OrderStatus
    ts_created: int  # UTC ns
    filled_qty: int = 0
    fill_value_ticks: int = 0  # sum of price * qty over fills (exact average = this / filled_qty)
    limit_price: int | None = None  # current (after modify)
    stop_price: int | None = None
    qty: int = 0  # current total qty (after modify)
    triggered: bool = False
    reason: str = ""
    client_id: str = ""  # unique across restarts and installations; the venue's tag
    venue_id: str = ""  # the venue's own order id, once acknowledged

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    @property
    def side(self) -> Side:
        return self.request.side

    @property
    def instrument(self) -> str:
        return self.request.instrument

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution. ``commission_cents`` includes exchange fees (for all ``qty`` contracts)."""

    id: int
    order_id: int
    ts_ns: int
    instrument: str
    side: Side
    qty: int
    price: int  # ticks
    commission_cents: int
    source: Source = Source.MANUAL
    venue_fill_id: str = ""  # the venue's trade id: a fill seen twice is booked once


class OrderEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A state change of one order, with the order as it is after the change."""

    ts_ns: int
    kind: EventKind
    order: Order
    fill: Fill | None = None
    reason: str = ""  # why: risk rule that rejected, who cancelled


def new_order(order_id: int, request: OrderRequest, ts_ns: int, client_id: str | None = None) -> Order:
    """The SUBMITTED order for a request that passed risk (validation is the caller's job).

    ``client_id`` defaults to a fresh one from this process's generator (see ``client_ids``)."""
    return Order(
        id=order_id,
        request=request,
        status=OrderStatus.SUBMITTED,
        ts_created=ts_ns,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        qty=request.qty,
        client_id=next_client_id() if client_id is None else client_id,
    )


def validate_request(req: OrderRequest) -> str:
    """Empty string if the request is well formed, else the reason (shown to the user)."""
    if req.side not in (Side.BUY, Side.SELL):
        return "side must be BUY or SELL"
    if req.qty <= 0:
        return f"quantity must be positive (got {req.qty})"
    needs_limit = req.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = req.type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and req.limit_price is None:
        return f"{req.type} order needs a limit price"
    if needs_stop and req.stop_price is None:
        return f"{req.type} order needs a stop price"
    if req.bracket is not None:
        for name in ("stop_ticks", "target_ticks"):
            v = getattr(req.bracket, name)
            if v is not None and v <= 0:
                return f"bracket {name} must be positive (got {v})"
    return ""
