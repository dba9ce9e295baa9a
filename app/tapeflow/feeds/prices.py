"""Plausible prices: what a reader accepts before a price can reach the flow analytics.

One corrupt price (a flipped bit in a DBN int64, ``1e300`` in a CSV) must not become a trade:
the footprint, profile and DOM are dense per tick, so a price a billion ticks away sizes an
array by that distance. A price is implausible, and its record malformed, when it is

* not positive (no E-mini trades at or below zero),
* above ``MAX_PRICE_POINTS`` index points (a hundred times NQ's level), or
* for a trade only, more than ``BAND_FRACTION`` away from the reference price: the median of
  the trade prices accepted in the previous chunk (for the first chunk, its own median; the CSV
  reader takes the median of the first rows), so it follows a long file's trend. A real futures contract does
  not trade at half its value inside one file; the exchange halts it long before. Resting orders
  may sit that far away (real MBO books hold stub bids at a tenth of the market), so book prices
  get only the first two checks; the book bounds its own ladder (``Book.max_span_ticks``).

Units are the reader's own (DBN: 1e-9 points; CSV: ticks); ``scale`` converts points to them.
"""

from __future__ import annotations

import numpy as np

MAX_SIZE = 10**6
"""Most contracts in one print, order or level: larger is a corrupt record (events hold int32)."""
MAX_PRICE_POINTS = 1_000_000
BAND_FRACTION = 0.5
NON_POSITIVE = "non-positive price"
TOO_LARGE = f"implausible price (above {MAX_PRICE_POINTS:,} points)"
FAR_OFF = f"implausible price (more than {BAND_FRACTION:.0%} from the median)"


class PriceBand:
    """Classifies prices (in units of ``1/scale`` points) as plausible or not; see the module doc."""

    def __init__(self, scale: int | float) -> None:
        self.max_price = int(MAX_PRICE_POINTS * scale)
        self.reference: int | None = None
        self._passed: np.ndarray | None = None  # trade prices the last ``reasons`` call let through

    def reasons(
        self, prices: np.ndarray, trades: np.ndarray | None = None, ignore: np.ndarray | None = None
    ) -> list[tuple[str, np.ndarray]]:
        """(reason, mask) for each kind of implausible price in ``prices`` (int64), never where
        ``ignore`` is true (the format's "no price"); the distance from the reference is judged
        only where ``trades`` (a mask over 1-D ``prices``) is true. Masks that would be all false
        are left out (the common case costs one pass)."""
        out: list[tuple[str, np.ndarray]] = []
        outside = (prices - 1).view(np.uint64) >= np.uint64(self.max_price)  # <= 0 or > max, one pass
        if outside.any() and ignore is not None:
            outside &= ~ignore
        if outside.any():
            nonpos = prices <= 0
            out = [(NON_POSITIVE, nonpos & outside), (TOO_LARGE, outside & ~nonpos)]
        if trades is None or not trades.any():
            return out
        idx = np.flatnonzero(trades)
        tp = prices[idx]
        usable = ~outside[idx]
        ref = self.reference
        if ref is None:
            if not usable.any():
                return out
            ref = int(np.median(tp[usable]))
        far_t = usable & (np.abs(tp - ref) > int(ref * BAND_FRACTION))
        self._passed = tp[usable & ~far_t]
        if far_t.any():
            far = np.zeros(prices.shape, dtype=bool)
            far[idx[far_t]] = True
            out.append((FAR_OFF, far))
        return out

    def accept(self) -> None:
        """Move the reference to the median of the trade prices the last ``reasons`` call let
        through (follows a long file's trend; a trade refused for another reason barely moves it)."""
        if self._passed is not None and len(self._passed):
            self.reference = int(np.median(self._passed))
        self._passed = None

    def reason(self, price: int, trade: bool = True) -> str | None:
        """Why one price is implausible, or None (the per-row path of the CSV reader)."""
        if price <= 0:
            return NON_POSITIVE
        if price > self.max_price:
            return TOO_LARGE
        if trade and self.reference is not None and abs(price - self.reference) > int(self.reference * BAND_FRACTION):
            return FAR_OFF
        return None
