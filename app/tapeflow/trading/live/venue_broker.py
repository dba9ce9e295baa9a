"""The part of a live venue broker that does not depend on the venue: the order book, the
listener, background commands and the kill switch's run-and-report.

A venue adapter (ProjectX, Rithmic) subclasses :class:`VenueBroker` and supplies the protocol:
``submit``/``cancel``/``modify``, ``start``/``reconcile`` and ``kill`` (cancel all and close at the
venue, then ask the venue whether it is flat).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from datetime import date
from typing import Any

import numpy as np

from tapeflow.trading.broker import EventCallback
from tapeflow.trading.live.book import VenueOrders
from tapeflow.trading.live.reports import KillReport, ReconcileReport
from tapeflow.trading.order_state import Ack, Cancelled, CancelRequested, Rejected
from tapeflow.trading.orders import Order, OrderEvent, OrderStatus, Source


class VenueBroker:
    holds_brackets = True  # the account must not add local OCO legs: the venue holds them

    def __init__(self, *, seen_fills: Iterable[str], since_ns: int, poll_s: float, clock: Callable[[], int]) -> None:
        self._listener: EventCallback = lambda e: None
        self.book = VenueOrders(self._emit, seen_fills)
        self.since_ns = since_ns  # trades before this are in the journal already
        self.poll_s, self.clock = poll_s, clock
        self.connected = False
        self.reconciling = True
        self.venue_positions: dict[str, int] = {}
        self.unknown: set[int] = set()  # our orders sent without an answer
        self._placing: set[int] = set()  # submits (and their look-ups) still running
        self._cancel_after_ack: set[int] = set()  # cancelled before the venue named them
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_report: ReconcileReport | None = None
        self.status_listener: Callable[[str], None] = lambda s: None  # "disconnected", "reconciling", ...
        self.report_listener: Callable[[ReconcileReport], None] = lambda r: None  # after every reconnect
        self.killing = False  # kill at the venue under way: it closes positions itself
        self._kill_task: asyncio.Task[KillReport] | None = None
        self.venue_realized_cents: dict[date, int] = {}  # trading date -> the venue's realized net
        self.venue_pnl_listener: Callable[[], None] = lambda: None  # the venue's P&L changed (not by a fill)

    # -- Broker protocol (venue-independent part) -----------------------------------------------
    def set_listener(self, callback: EventCallback) -> None:
        self._listener = callback

    def submit(self, order: Order) -> None:
        if self._intake(order):
            self._spawn(self._place(order))

    def cancel(self, order_id: int, reason: str = "") -> None:
        o = self.book.orders.get(order_id)
        if o is None or not o.is_open or o.status == OrderStatus.PENDING_CANCEL:
            return
        self.book.notify(order_id, CancelRequested(), self.clock(), reason)
        if o.venue_id:
            self._cancel_at_venue(o)
        elif order_id in self.unknown and order_id not in self._placing:
            # sent, never answered, not found by its tag: look once more, then let it go
            self._spawn(self._forget_if_absent(order_id))
        else:
            self._cancel_after_ack.add(order_id)  # the submit is in flight: cancel once the venue names it

    def _acked(self, order_id: int, venue_id: str) -> None:
        """The venue named our order: a cancel asked for meanwhile goes now."""
        self.unknown.discard(order_id)
        self.book.notify(order_id, Ack(venue_id), self.clock())
        if order_id in self._cancel_after_ack:
            self._cancel_after_ack.discard(order_id)
            if self.book.orders[order_id].is_open:
                self._cancel_at_venue(self.book.orders[order_id])

    async def _place(self, order: Order) -> None:
        raise NotImplementedError

    def _cancel_at_venue(self, order: Order) -> None:
        raise NotImplementedError

    async def _forget_if_absent(self, order_id: int) -> None:
        raise NotImplementedError

    def on_events(self, batch: np.ndarray) -> None:
        """The venue fills; the tape is not ours to simulate."""

    def open_orders(self) -> list[Order]:
        return self.book.open_orders()

    async def idle(self) -> None:
        """Wait until every command in flight has its answer (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _intake(self, order: Order) -> bool:
        """Book our order as SUBMITTED; False if it ends here (a kill's close under way, a refusal)."""
        now = self.clock()
        self.book.submitted(order, now)
        if self.killing and order.request.source == Source.FLATTEN:
            # the venue's close-position is closing it; a second close would open the other way
            self.book.notify(order.id, Cancelled("kill switch: closed by the venue's close-position"), now)
            return False
        problem = self._refusal(order)
        if problem:
            self.book.notify(order.id, Rejected(problem), now)
            return False
        return True

    def _refusal(self, order: Order) -> str:
        return self._halted(order)

    def _halted(self, order: Order) -> str:
        """New entries wait while the order connection is down or a reconciliation runs; exits pass."""
        entry = not order.request.reduce_only and order.request.source != Source.FLATTEN
        return self.entries_halted() if entry else ""

    def entries_halted(self) -> str:
        """Why a new entry would be refused now ("" when entries pass): shown in the risk panel's state."""
        if not self.connected:
            return "order connection down: entries halted until it is back"
        if self.reconciling:
            return "reconciling with the venue: entries halted until it is done"
        return ""

    # -- kill switch -----------------------------------------------------------------------------
    def kill_at_venue(self) -> None:
        """``Account.kill`` calls this first, from any source (panel, hotkey, webhook): the venue's
        cancel-all and close run in the background, and until they are done the account's own
        closing orders are not sent (two closes of one position would open the other side)."""
        self.killing = True
        if self._kill_task is None or self._kill_task.done():
            self._kill_task = asyncio.get_running_loop().create_task(self._kill_and_report())

    async def kill_result(self) -> KillReport:
        """The outcome of the kill under way (or the last one)."""
        assert self._kill_task is not None, "no kill was started"
        return await asyncio.shield(self._kill_task)

    async def _kill_and_report(self) -> KillReport:
        try:
            report = await self.kill()
        finally:
            self.killing = False
        self.status_listener(f"kill switch: {report.text}")
        return report

    async def kill(self) -> KillReport:
        raise NotImplementedError

    async def run(self) -> None:
        """Stay online until cancelled (reconnect and reconcile on every drop)."""
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    # -- plumbing --------------------------------------------------------------------------------
    def _emit(self, event: OrderEvent) -> None:
        self._listener(event)

    def _emit_reason(self, order_id: int, reason: str) -> None:
        self.book.note(order_id, reason, self.clock())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
