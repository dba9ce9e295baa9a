"""Price zones a detector keeps watching after a bar closes: retests and trade-throughs.

A zone sits either *below* price (support: a buy stacked imbalance, an unfinished low) or *above*
it (resistance). It is *armed* while the last trade was strictly on the far side of it; an armed
zone is *retested* by a trade that reaches it, and *traded through* by a trade beyond its far edge.
Stacked-imbalance zones live until traded through (a retest is reported once); unfinished
auctions and zero prints end at their first retest. Checks are vectorized over a slice of trades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapeflow.core.events import Side


@dataclass(frozen=True, slots=True)
class Zone:
    """A zone as the UI draws it (ticks, UTC ns)."""

    kind: str  # detector kind that made it, e.g. "stacked_imbalance"
    side: Side  # BUY: support below price, SELL: resistance above price
    low: int
    high: int
    bar_start_ns: int  # footprint bar it came from
    created_ns: int  # when it became known (bar close)
    retested: bool = False
    strength: float = 0.0


@dataclass(slots=True)
class _Live:
    zone: Zone
    below: bool
    armed: bool
    retested: bool = False
    ends_on_retest: bool = False


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """Something that happened to a zone at trade ``index`` of the slice."""

    index: int
    zone: Zone
    what: str  # "retest" or "through"


class ZoneTracker:
    """The active zones of one detector. ``max_zones`` bounds memory (oldest dropped first)."""

    def __init__(self, max_zones: int = 50) -> None:
        self.max_zones = max_zones
        self._live: list[_Live] = []

    def add(self, zone: Zone, *, last_price: int, ends_on_retest: bool) -> None:
        """Watch a new zone; ``last_price`` (ticks) is the bar's close, which decides if it is armed."""
        below = zone.side == Side.BUY
        armed = last_price > zone.high if below else last_price < zone.low
        self._live.append(_Live(zone, below, armed, ends_on_retest=ends_on_retest))
        if len(self._live) > self.max_zones:
            del self._live[0]

    def zones(self) -> list[Zone]:
        return [_snapshot(z) for z in self._live]

    def scan(self, price: np.ndarray | list[int]) -> list[ZoneEvent]:
        """Apply a slice of trade prices (ticks, time order; a list for a few trades); returns retests
        and trade-throughs in order. Zones the slice's range does not reach cost no numpy call."""
        if not self._live or len(price) == 0:
            return []
        if type(price) is list:
            lo_p, hi_p = min(price), max(price)
        elif len(price) <= 16:  # one list beats two numpy reductions
            listed = price.tolist()
            lo_p, hi_p = min(listed), max(listed)
        else:
            lo_p, hi_p = int(price.min()), int(price.max())
        events: list[ZoneEvent] = []
        keep: list[_Live] = []
        array: np.ndarray | None = None
        for z in self._live:
            if _unreached(z, lo_p, hi_p):
                keep.append(z)
                continue
            if array is None:
                array = np.asarray(price, np.int64)
            ev, alive = _scan_one(z, array, lo_p, hi_p)
            events.extend(ev)
            if alive:
                keep.append(z)
        self._live = keep
        events.sort(key=lambda e: e.index)
        return events


def _snapshot(z: _Live) -> Zone:
    if z.retested == z.zone.retested:
        return z.zone
    return Zone(z.zone.kind, z.zone.side, z.zone.low, z.zone.high, z.zone.bar_start_ns, z.zone.created_ns,
                z.retested, z.zone.strength)


def _unreached(z: _Live, lo_p: int, hi_p: int) -> bool:
    """True when prices within [lo_p, hi_p] can neither retest nor trade through the zone."""
    lo, hi = z.zone.low, z.zone.high
    if z.below:
        return (z.armed and lo_p > hi) or (z.retested and lo_p >= lo)
    return (z.armed and hi_p < lo) or (z.retested and hi_p <= hi)


def _scan_one(z: _Live, price: np.ndarray, lo_p: int, hi_p: int) -> tuple[list[ZoneEvent], bool]:
    lo, hi = z.zone.low, z.zone.high
    if _unreached(z, lo_p, hi_p):
        return [], True
    if z.below:
        away, touch, through = price > hi, price <= hi, price < lo
    else:
        away, touch, through = price < lo, price >= lo, price > hi
    n = len(price)
    t = _first(through, 0) if not z.ends_on_retest else n
    out: list[ZoneEvent] = []
    if not z.retested:
        start = 0 if z.armed else _first(away, 0)
        r = _first(touch, start) if start < n else n
        if r < n and (z.ends_on_retest or r < t):
            z.retested = True
            out.append(ZoneEvent(r, _snapshot(z), "retest"))
            if z.ends_on_retest:
                return out, False
    if t < n:
        out.append(ZoneEvent(t, _snapshot(z), "through"))
        return out, False
    z.armed = bool(away[-1])
    return out, True


def _first(mask: np.ndarray, start: int) -> int:
    """Index of the first True at or after ``start`` (len(mask) if none)."""
    if start >= len(mask):
        return len(mask)
    hit = np.flatnonzero(mask[start:])
    return start + int(hit[0]) if len(hit) else len(mask)
