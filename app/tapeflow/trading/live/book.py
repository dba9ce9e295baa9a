"""Orders of one live venue connection, keyed three ways, and the fills already booked.

Ids: the account's integer id for our orders; orders found at the venue that nobody here placed
(another platform, the venue's own bracket legs) get negative ids, so they never collide with the
account's counter and the ledger still books their fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from tapeflow.trading.broker import EventCallback
from tapeflow.trading.order_state import Executed, Notice, apply
from tapeflow.trading.orders import EventKind, Fill, Order, OrderEvent, OrderRequest, OrderStatus, Source

_replace = msgspec.structs.replace


def seen_fill_ids(fill_rows: Iterable[dict[str, Any]]) -> set[str]:
    """Venue fill ids of journaled fills (``Journal.rows("fills")``): never booked again."""
    return {str(r["venue_fill_id"]) for r in fill_rows if r.get("venue_fill_id")}


class VenueOrders:
    """Our and external orders at one venue; every change goes out as an :class:`OrderEvent`."""

    def __init__(self, listener: EventCallback, seen_fills: Iterable[str] = ()) -> None:
        self.listener = listener
        self.orders: dict[int, Order] = {}
        self._by_client: dict[str, int] = {}
        self._by_venue: dict[str, int] = {}
        self.seen_fills: set[str] = set(seen_fills)
        self.external: set[int] = set()  # ids of adopted orders nobody here placed
        self._next_external = -1
        self.positions: dict[str, int] = {}  # instrument -> signed contracts from the fills booked here

    # -- lookup ----------------------------------------------------------------------------------
    def by_client(self, client_id: str | None) -> Order | None:
        i = self._by_client.get(client_id or "")
        return None if i is None else self.orders[i]

    def by_venue(self, venue_id: str) -> Order | None:
        i = self._by_venue.get(venue_id)
        return None if i is None else self.orders[i]

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open]

    # -- changes ---------------------------------------------------------------------------------
    def submitted(self, order: Order, ts_ns: int) -> None:
        """Our order, about to go on the wire."""
        self._store(order)
        self.listener(OrderEvent(ts_ns=ts_ns, kind=EventKind.SUBMITTED, order=order))

    def adopt(self, venue_id: str, request: OrderRequest, status: OrderStatus, ts_ns: int, *,
              external: bool = True, reason: str = "external order", client_id: str = "") -> Order:
        """An order the venue reports that this session did not place: shown, its fills booked, and
        with ``external`` counted as placed outside Tapeflow."""
        i = self._next_external
        self._next_external -= 1
        order = Order(id=i, request=request, status=status, ts_created=ts_ns, qty=request.qty,
                      limit_price=request.limit_price, stop_price=request.stop_price, venue_id=venue_id,
                      reason=reason, client_id=client_id)
        self._store(order)
        if external:
            self.external.add(i)
        self.listener(OrderEvent(ts_ns=ts_ns, kind=EventKind.ACCEPTED, order=order, reason=order.reason))
        return order

    def notify(self, order_id: int, notice: Notice, ts_ns: int, reason: str = "") -> Order:
        """Apply a venue notice (not a fill) and publish what changed."""
        new, kind = apply(self.orders[order_id], notice)
        self._store(new)
        if kind is not None:
            self.listener(OrderEvent(ts_ns=ts_ns, kind=kind, order=new, reason=reason or new.reason))
        return new

    def fill(self, order_id: int, fill: Fill) -> bool:
        """Book one execution unless its venue fill id was booked before; True if booked."""
        if fill.venue_fill_id:
            if fill.venue_fill_id in self.seen_fills:
                return False
            self.seen_fills.add(fill.venue_fill_id)
        new, kind = apply(self.orders[order_id], Executed(fill))
        self._store(new)
        self.positions[fill.instrument] = self.positions.get(fill.instrument, 0) + int(fill.side) * fill.qty
        assert kind is not None
        self.listener(OrderEvent(ts_ns=fill.ts_ns, kind=kind, order=new, fill=fill))
        return True

    def note(self, order_id: int, reason: str, ts_ns: int) -> None:
        """A note on an order still SUBMITTED (no answer yet): journaled and shown, status unchanged."""
        o = _replace(self.orders[order_id], reason=reason)
        self.orders[order_id] = o
        self.listener(OrderEvent(ts_ns=ts_ns, kind=EventKind.SUBMITTED, order=o, reason=reason))

    def bracket_parent(self, root: str, exit_side: Any) -> Order | None:
        """Our newest bracketed entry a venue-held leg on ``exit_side`` belongs to (its legs may be
        reported before the entry's own fill: an open entry counts too)."""
        for o in reversed(list(self.orders.values())):
            bracketed = o.request.bracket is not None and (o.filled_qty > 0 or o.is_open)
            if o.id > 0 and bracketed and o.instrument == root and o.side != exit_side:
                return o
        return None

    def _store(self, order: Order) -> None:
        self.orders[order.id] = order
        if order.client_id:
            self._by_client[order.client_id] = order.id
        if order.venue_id:
            self._by_venue[order.venue_id] = order.id


def external_request(instrument: str, side: Any, qty: int, type_: Any, limit: int | None, stop: int | None,
                     *, source: Source = Source.MANUAL, tag: str = "external") -> OrderRequest:
    """The request an adopted order is shown with (its side, size and prices as the venue reports)."""
    return OrderRequest(instrument=instrument, side=side, qty=max(qty, 1), type=type_, limit_price=limit,
                        stop_price=stop, source=source, tag=tag)
