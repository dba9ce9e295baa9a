"""OCO brackets: a stop and a target that protect an entry's filled quantity.

Held client-side by the account so that they work with any broker. Children are placed on the
entry's first fill (prices anchored on that fill: stop ``stop_ticks`` against it, target
``target_ticks`` in favour), resized on every later fill so that, together, they never protect more
than the entry has filled minus what they already closed, nor more than the open position; when
one side fills completely the other is cancelled (one-cancels-other).
"""

from __future__ import annotations

from dataclasses import dataclass

from tapeflow.core.events import Side
from tapeflow.trading.orders import Bracket, Order, OrderRequest, OrderType, Source


@dataclass(slots=True)
class BracketState:
    """One entry and its children (order ids)."""

    entry_id: int
    instrument: str
    side: Side  # entry side
    spec: Bracket
    anchor: int | None = None  # first entry fill price, ticks
    stop_id: int | None = None
    target_id: int | None = None

    def child_requests(self, qty: int, tag: str) -> list[tuple[str, OrderRequest]]:
        """Stop and target requests for ``qty`` contracts, anchored on the first fill."""
        assert self.anchor is not None
        exit_side = Side(-int(self.side))
        out: list[tuple[str, OrderRequest]] = []
        common = {
            "instrument": self.instrument,
            "side": exit_side,
            "qty": qty,
            "source": Source.BRACKET,
            "reduce_only": True,
            "tag": tag,
            "parent_id": self.entry_id,
        }
        if self.spec.stop_ticks is not None:
            px = self.anchor - int(self.side) * self.spec.stop_ticks
            out.append(("stop", OrderRequest(type=OrderType.STOP, stop_price=px, **common)))
        if self.spec.target_ticks is not None:
            px = self.anchor + int(self.side) * self.spec.target_ticks
            out.append(("target", OrderRequest(type=OrderType.LIMIT, limit_price=px, **common)))
        return out

    def protected_qty(self, orders: dict[int, Order], position: int) -> int:
        """Contracts the children should still cover now."""
        entry = orders[self.entry_id]
        closed = sum(orders[i].filled_qty for i in (self.stop_id, self.target_id) if i is not None)
        in_direction = max(0, position * int(self.side))
        return max(0, min(entry.filled_qty - closed, in_direction))
