"""The broker protocol, and the order-event bus the UI and journal listen on.

A broker is driven synchronously (``submit`` / ``cancel`` return at once and never block) and
reports back through one callback, so the same object serves a backtest loop and the asyncio
loop shared with Qt. Live adapters (``trading.live``: ProjectX; Rithmic next) implement the same
protocol; the paper broker is the reference. Events follow the venue's word: SUBMITTED when sent,
ACCEPTED when the venue names the order, PENDING_CANCEL / PENDING_UPDATE until it confirms (see
``order_state``). A broker that refuses an order at once emits REJECTED from inside ``submit`` (the
account then returns a failed ``SubmitResult``); one whose venue holds brackets itself sets
``holds_brackets = True`` and the account places no local OCO legs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import numpy as np

from tapeflow.trading.orders import Order, OrderEvent

EventCallback = Callable[[OrderEvent], None]


class Broker(Protocol):
    """What the account needs from an execution venue."""

    def set_listener(self, callback: EventCallback) -> None:
        """Where order events go (the account installs itself; exactly one listener)."""

    def submit(self, order: Order) -> None:
        """Send an order that passed risk; events follow through the listener."""

    def cancel(self, order_id: int, reason: str = "") -> None:
        """Cancel a working order (no-op for an unknown or finished order)."""

    def modify(
        self,
        order_id: int,
        *,
        qty: int | None = None,
        limit_price: int | None = None,
        stop_price: int | None = None,
    ) -> None:
        """Change quantity (total, >= filled) and/or prices (ticks) of a working order."""

    def on_events(self, batch: np.ndarray) -> None:
        """Market data, for brokers that simulate; live brokers may ignore it."""

    def open_orders(self) -> list[Order]:
        """Orders not yet in a terminal state, in submission order."""


class EventBus:
    """Fan-out of order events to callbacks (journal, auto-trader) and asyncio consumers (UI)."""

    def __init__(self) -> None:
        self._callbacks: list[EventCallback] = []
        self._queues: list[asyncio.Queue[OrderEvent]] = []

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback`` for every event; returns the unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def publish(self, event: OrderEvent) -> None:
        for cb in list(self._callbacks):
            cb(event)
        for q in self._queues:
            q.put_nowait(event)

    async def stream(self) -> AsyncIterator[OrderEvent]:
        """Async iterator of events from now on (for the asyncio/qasync side)."""
        q: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._queues.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._queues.remove(q)
