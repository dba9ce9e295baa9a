"""Modify and cancel, one at a time per order: Rithmic refuses a change to an order while another
is in progress ("Atomic order operation in progress"), so a second command waits for the venue's
answer to the first. A cancel replaces a waiting modify; waiting modifies merge into one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec


class Modify(msgspec.Struct, frozen=True):
    """A change of terms; ``None`` keeps the order's value at the time it is sent."""

    qty: int | None = None
    limit_price: int | None = None
    stop_price: int | None = None

    def then(self, later: Modify) -> Modify:
        """This change followed by ``later`` (a field ``later`` names wins)."""
        return Modify(later.qty if later.qty is not None else self.qty,
                      later.limit_price if later.limit_price is not None else self.limit_price,
                      later.stop_price if later.stop_price is not None else self.stop_price)


class Cancel(msgspec.Struct, frozen=True):
    reason: str = ""


Command = Modify | Cancel


class OneAtATime:
    """Per order: the command in flight and the one waiting. ``send(order_id, cmd)`` returns once
    the venue has answered it (or given up); ``spawn`` runs a coroutine in the background."""

    def __init__(self, send: Callable[[int, Command], Awaitable[None]],
                 spawn: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        self.send, self.spawn = send, spawn
        self.busy: set[int] = set()
        self.waiting: dict[int, Command] = {}

    def put(self, order_id: int, cmd: Command) -> None:
        if order_id in self.busy:
            queued = self.waiting.get(order_id)
            if isinstance(queued, Cancel):
                return
            if isinstance(queued, Modify) and isinstance(cmd, Modify):
                cmd = queued.then(cmd)
            self.waiting[order_id] = cmd
            return
        self.busy.add(order_id)
        self.spawn(self._run(order_id, cmd))

    async def _run(self, order_id: int, cmd: Command | None) -> None:
        try:
            while cmd is not None:
                await self.send(order_id, cmd)
                cmd = self.waiting.pop(order_id, None)
        finally:
            self.busy.discard(order_id)
