"""Session VWAP with standard-deviation bands, per trade, exact whatever the batch boundaries.

Running sums are int64 (price ticks x contracts and price^2 x contracts), so splitting the same
trades into different batches gives bit-identical values. The VWAP restarts at every Globex
session (trading-date ordinal change). Values are in ticks (float64).
"""

from __future__ import annotations

import numpy as np


class SessionVwap:
    """Volume-weighted average price of the session and its volume-weighted standard deviation."""

    def __init__(self) -> None:
        self.session = -2
        self._v = 0  # contracts
        self._pv = 0  # ticks x contracts
        self._p2v = 0  # ticks^2 x contracts

    def update(self, price: np.ndarray, size: np.ndarray, session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add trades (ticks, contracts, trading-date ordinals); returns (vwap, sd) after each trade."""
        n = len(price)
        if n == 0:
            return np.zeros(0), np.zeros(0)
        p = price.astype(np.int64)
        s = size.astype(np.int64)
        new_seg = np.empty(n, bool)
        new_seg[0] = int(session[0]) != self.session
        new_seg[1:] = session[1:] != session[:-1]
        v = segmented_cumsum(s, new_seg, self._v)
        pv = segmented_cumsum(p * s, new_seg, self._pv)
        p2v = segmented_cumsum(p * p * s, new_seg, self._p2v)
        self.session, self._v, self._pv, self._p2v = int(session[-1]), int(v[-1]), int(pv[-1]), int(p2v[-1])
        safe = np.maximum(v, 1).astype(np.float64)
        vwap = pv / safe
        var = np.maximum(p2v / safe - vwap * vwap, 0.0)
        return vwap, np.sqrt(var)

    @property
    def value(self) -> float | None:
        """Current VWAP in ticks (None before the first trade)."""
        return self._pv / self._v if self._v else None


def segmented_cumsum(x: np.ndarray, new_seg: np.ndarray, carry: int) -> np.ndarray:
    """Running sum of ``x`` that restarts where ``new_seg`` is True; ``carry`` continues the first segment."""
    cs = np.cumsum(x, dtype=np.int64)
    starts = np.flatnonzero(new_seg)
    if len(starts) == 0:
        return cs + carry
    base = np.zeros(len(x), np.int64)
    base[starts] = cs[starts] - x[starts]
    seg_id = np.cumsum(new_seg)
    offset = np.where(seg_id > 0, base[starts][np.maximum(seg_id - 1, 0)], -carry)
    return cs - offset
