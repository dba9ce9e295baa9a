"""The order plant's notifications as order-state notices (pure: no I/O, no state).

Rithmic tells the story of an order twice: ``RithmicOrderNotification`` (351: its life inside
Rithmic: received, open, modified, complete with a reason, a modify or cancel that failed) and
``ExchangeOrderNotification`` (352: the exchange's reports: status, modify, cancel, trigger, fill
with a ``fill_id``, reject). Both arrive live, as snapshots (``is_snapshot``: show orders, replayed
executions) and possibly out of order; ``order_state.apply`` makes repeats harmless, and fills are
booked once by :func:`fill_key` (``live.book``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from async_rithmic.protocol_buffers.exchange_order_notification_pb2 import ExchangeOrderNotification
from async_rithmic.protocol_buffers.rithmic_order_notification_pb2 import RithmicOrderNotification

from tapeflow.core.events import Side
from tapeflow.trading.order_state import (
    Cancelled,
    CommandRefused,
    Expired,
    Notice,
    Rejected,
    Triggered,
    Updated,
)
from tapeflow.trading.orders import Order, OrderType

BUY, SELL = 1, 2  # TransactionType
LIMIT, MARKET, STOP_LIMIT, STOP_MARKET = 1, 2, 3, 4  # PriceType
PRICE_TYPE = {OrderType.MARKET: MARKET, OrderType.LIMIT: LIMIT, OrderType.STOP: STOP_MARKET,
              OrderType.STOP_LIMIT: STOP_LIMIT}
ORDER_TYPE = {v: k for k, v in PRICE_TYPE.items()}

MODIFY_ANSWERS = {(351, RithmicOrderNotification.MODIFIED), (351, RithmicOrderNotification.MODIFICATION_FAILED),
                  (352, ExchangeOrderNotification.MODIFY), (352, ExchangeOrderNotification.NOT_MODIFIED)}
"""Notifications that end a modify (the next command on the order may go)."""


def fill_key(basket_id: str, fill_id: str) -> str:
    """The venue fill id we de-duplicate on: Rithmic numbers fills per order, so the order's basket
    id is part of it (the same key from a live fill, a replayed execution and the fill history)."""
    return f"{basket_id}:{fill_id}"


def to_ticks(price: float, tick: Decimal) -> int:
    """A Rithmic price (a double in points) in whole ticks; the nearest tick (doubles are inexact)."""
    return int((Decimal(repr(price)) / tick).to_integral_value())


def to_price(ticks: int | None, tick: Decimal) -> float | None:
    return None if ticks is None else float(ticks * tick)


def side_of(transaction_type: Any) -> Side:
    """352/351 carry the enum; the fill history (3513) a string."""
    t = str(transaction_type).upper()
    return Side.BUY if t in ("1", "BUY", "B") else Side.SELL


def terms(n: Any, order: Order, tick: Decimal) -> Updated:
    """The order's terms as the notification states them (fields not used by its type stay None)."""
    typ = order.request.type
    lp = to_ticks(n.price, tick) if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT) and n.price else order.limit_price
    sp = (to_ticks(n.trigger_price, tick) if typ in (OrderType.STOP, OrderType.STOP_LIMIT) and n.trigger_price
          else order.stop_price)
    return Updated(qty=n.quantity or order.qty, limit_price=lp, stop_price=sp)


def rithmic_notice(n: Any, order: Order, tick: Decimal) -> Notice | None:
    """A 351 as a notice (``None``: nothing the order state needs; fills come from 352)."""
    nt = n.notify_type
    text = n.text or n.report_text or n.completion_reason
    if nt == RithmicOrderNotification.MODIFIED:
        return terms(n, order, tick)
    if nt in (RithmicOrderNotification.MODIFICATION_FAILED, RithmicOrderNotification.CANCELLATION_FAILED):
        return CommandRefused(text or "refused by Rithmic")
    if nt == RithmicOrderNotification.COMPLETE:
        why = (n.completion_reason or "").lower()
        if why.startswith(("reject", "fail")) or why == "r":
            return Rejected(text or "rejected by Rithmic")
        if why.startswith("cancel") or why == "c":
            return Cancelled("cancelled at the venue")
        if why.startswith("expire"):
            return Expired()
    return None


def exchange_notice(n: Any, order: Order, tick: Decimal) -> Notice | None:
    """A 352 other than a fill as a notice."""
    nt = n.notify_type
    text = n.text or n.report_text
    if nt == ExchangeOrderNotification.MODIFY:
        return terms(n, order, tick)
    if nt in (ExchangeOrderNotification.NOT_MODIFIED, ExchangeOrderNotification.NOT_CANCELLED):
        return CommandRefused(text or "refused by the exchange")
    if nt == ExchangeOrderNotification.CANCEL:
        return Cancelled("cancelled at the venue")
    if nt == ExchangeOrderNotification.REJECT:
        return Rejected(text or "rejected by the exchange")
    if nt == ExchangeOrderNotification.TRIGGER:
        return Triggered()
    if nt == ExchangeOrderNotification.STATUS and (n.status or "").lower() == "open":
        return terms(n, order, tick)
    return None


FILL = ExchangeOrderNotification.FILL
ENDED = {(351, RithmicOrderNotification.COMPLETE), (352, ExchangeOrderNotification.CANCEL),
         (352, ExchangeOrderNotification.REJECT)}
"""Notifications of an order's end: an order we never saw that has ended is not adopted (nothing to show)."""
CANCEL_ANSWERS = {(351, RithmicOrderNotification.CANCELLATION_FAILED), (352, ExchangeOrderNotification.NOT_CANCELLED)}
"""Notifications that end a cancel that failed (one that worked ends the order)."""
