"""What a live venue reports back to the session, whichever venue it is (ProjectX, Rithmic)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from tapeflow.trading.orders import Order, OrderType


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a connect or reconnect found at the venue."""

    fills_booked: int  # trades the journal did not have
    venue_positions: dict[str, int]  # instrument -> signed contracts, as the venue reports
    external_orders: tuple[int, ...]  # working orders nobody here placed (negative ids)
    unknown_orders: tuple[int, ...]  # ours, sent, still not found at the venue
    unprotected: tuple[str, ...]  # instruments with a venue position and no working stop

    @property
    def warnings(self) -> list[str]:
        out = [f"{inst}: position of {self.venue_positions[inst]} has NO working stop" for inst in self.unprotected]
        if self.external_orders:
            out.append(f"{len(self.external_orders)} working order(s) placed outside Tapeflow")
        if self.unknown_orders:
            out.append(f"{len(self.unknown_orders)} order(s) sent with no answer yet: not resent, still looking")
        return out


class KillReport(msgspec.Struct, frozen=True):
    """Kill switch at the venue: flat confirmed by the venue's own position report, or what is left."""

    flat_confirmed: bool
    still_open: dict[str, int]

    @property
    def text(self) -> str:
        if self.flat_confirmed:
            return "flat confirmed by broker"
        return "still open at broker: " + ", ".join(f"{k} {v:+d}" for k, v in self.still_open.items())


def unprotected(venue_positions: dict[str, int], working: Iterable[Order]) -> tuple[str, ...]:
    """Instruments the venue holds a position in with no working stop on the closing side."""
    stops = [o for o in working if o.request.type in (OrderType.STOP, OrderType.STOP_LIMIT)]
    return tuple(sorted(
        inst for inst, q in venue_positions.items()
        if q and not any(o.instrument == inst and int(o.side) * q < 0 for o in stops)
    ))
