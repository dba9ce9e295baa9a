"""Volume profile over a session (or any span): volume per price, POC, value area, volume nodes.

The profile is a dense per-tick array that grows at either end as price explores, so adding a
batch is one ``bincount`` and the UI can draw it without rebuilding anything. POC and value area
follow the rules of :mod:`tapeflow.flow.value_area`, so a one-bar profile agrees with its bar.

Volume nodes: the profile is smoothed with a centred moving average (``node_window`` ticks); a
high-volume node (HVN) is a local maximum of the smoothed profile at or above
``hvn_ratio`` x the mean traded volume per price; a low-volume node (LVN) is a local minimum at or
below ``lvn_ratio`` x that mean lying between two HVNs (the thin areas price tends to cross fast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapeflow.core.events import K_TRADE, TradeColumns, trade_columns
from tapeflow.flow.span import check_span
from tapeflow.flow.value_area import (
    DEFAULT_VALUE_AREA,
    DEFAULT_VALUE_AREA_METHOD,
    method_rows,
    poc_index,
    value_area_indices,
)


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """The figures a trader reads off a profile (prices in ticks)."""

    low: int
    high: int
    volume: int
    delta: int
    poc: int
    val: int
    vah: int
    hvn: tuple[int, ...]
    lvn: tuple[int, ...]


class VolumeProfile:
    """Bid/ask volume per tick over a span of trades; update by batch, read any time."""

    def __init__(self, *, value_area: float = DEFAULT_VALUE_AREA, node_window: int = 5,
                 hvn_ratio: float = 1.5, lvn_ratio: float = 0.5,
                 value_area_method: str = DEFAULT_VALUE_AREA_METHOD) -> None:
        method_rows(value_area_method)
        self.value_area = value_area
        self.value_area_method = value_area_method
        self.node_window = node_window
        self.hvn_ratio = hvn_ratio
        self.lvn_ratio = lvn_ratio
        self.base = 0  # tick price of index 0
        self.bid = np.zeros(0, np.int64)
        self.ask = np.zeros(0, np.int64)
        self.unknown = np.zeros(0, np.int64)
        self.version = 0  # bumped by every change (what a cached summary or view is keyed on)

    @classmethod
    def from_trades(cls, trades: np.ndarray | TradeColumns, **kw) -> VolumeProfile:
        p = cls(**kw)
        p.add(trades)
        return p

    def copy(self) -> VolumeProfile:
        """An independent copy (what a frozen view of the developing profile needs), without the
        generic ``copy`` machinery's cost."""
        out = VolumeProfile.__new__(VolumeProfile)
        out.__dict__.update(self.__dict__)
        out.bid, out.ask, out.unknown = self.bid.copy(), self.ask.copy(), self.unknown.copy()
        return out

    def reset(self) -> None:
        """Start a new session."""
        self.version += 1
        self.bid = self.ask = self.unknown = np.zeros(0, np.int64)

    def add(self, trades: np.ndarray | TradeColumns) -> None:
        """Add every trade of a batch (event rows or trade columns)."""
        if isinstance(trades, np.ndarray) and "kind" in (trades.dtype.names or ()):
            if not np.any(trades["kind"] == K_TRADE):
                return
            trades = trade_columns(trades)
        if len(trades) == 0:
            return
        self.version += 1
        lo, hi = int(trades.price.min()), int(trades.price.max())
        self._cover(lo, hi)
        idx = trades.price - self.base
        n = len(self.bid)
        for col, mask in ((self.bid, trades.side < 0), (self.ask, trades.side > 0), (self.unknown, trades.side == 0)):
            if mask.any():
                col += np.bincount(idx[mask], weights=trades.size[mask], minlength=n).astype(np.int64)

    def add_one(self, price: int, size: int, side: int) -> None:
        """Add one trade (ticks, contracts, aggressor -1/0/1): the live path, no numpy call unless
        the price is outside the covered range."""
        self.version += 1
        i = price - self.base
        if not 0 <= i < len(self.bid):
            self._cover(price, price)
            i = price - self.base
        col = self.bid if side < 0 else self.ask if side > 0 else self.unknown
        col[i] += size

    def _cover(self, lo: int, hi: int) -> None:
        if len(self.bid) == 0:
            check_span(lo, hi, "the volume profile")
            self.base = lo
            n = hi - lo + 1
            self.bid, self.ask, self.unknown = (np.zeros(n, np.int64) for _ in range(3))
            return
        top = self.base + len(self.bid) - 1
        new_lo, new_hi = min(lo, self.base), max(hi, top)
        if (new_lo, new_hi) == (self.base, top):
            return
        check_span(new_lo, new_hi, "the volume profile")
        pad = (self.base - new_lo, new_hi - top)
        self.bid, self.ask, self.unknown = (np.pad(a, pad) for a in (self.bid, self.ask, self.unknown))
        self.base = new_lo

    @property
    def prices(self) -> np.ndarray:
        return np.arange(self.base, self.base + len(self.bid), dtype=np.int64)

    @property
    def volume(self) -> np.ndarray:
        return self.bid + self.ask + self.unknown

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """(HVN prices, LVN prices) in ticks, by the rule in the module docstring."""
        vol = self.volume.astype(np.float64)
        traded = vol > 0
        if traded.sum() < 3:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        w = max(1, self.node_window)
        smooth = np.convolve(vol, np.ones(w) / w, mode="same")
        mean = vol[traded].mean()
        inner = np.arange(1, len(vol) - 1)
        peak = (smooth[inner] >= smooth[inner - 1]) & (smooth[inner] > smooth[inner + 1])
        trough = (smooth[inner] <= smooth[inner - 1]) & (smooth[inner] < smooth[inner + 1])
        hvn = inner[peak & (smooth[inner] >= self.hvn_ratio * mean)]
        lvn = inner[trough & (smooth[inner] <= self.lvn_ratio * mean)]
        lvn = lvn[(lvn > hvn[0]) & (lvn < hvn[-1])] if len(hvn) >= 2 else lvn[:0]
        return hvn + self.base, lvn + self.base

    def summary(self) -> ProfileSummary | None:
        vol = self.volume
        if len(vol) == 0 or vol.sum() == 0:
            return None
        nz = np.flatnonzero(vol)
        lo_i, hi_i = int(nz[0]), int(nz[-1])
        core = vol[lo_i : hi_i + 1]
        poc = poc_index(core)
        va_lo, va_hi = value_area_indices(core, poc, self.value_area, self.value_area_method)
        hvn, lvn = self.nodes()
        return ProfileSummary(
            low=self.base + lo_i,
            high=self.base + hi_i,
            volume=int(vol.sum()),
            delta=int(self.ask.sum() - self.bid.sum()),
            poc=self.base + lo_i + poc,
            val=self.base + lo_i + va_lo,
            vah=self.base + lo_i + va_hi,
            hvn=tuple(int(x) for x in hvn),
            lvn=tuple(int(x) for x in lvn),
        )
