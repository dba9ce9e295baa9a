"""Footprint bars: per-bar OHLC, volume and delta, and per-price bid x ask volume.

Columnar (CSR) storage: one array per bar field, and per-tick level arrays where bar ``i`` owns
rows ``level_offsets[i]:level_offsets[i+1]``, dense from its low to its high, so zero prints
(prices inside the bar that never traded) are explicit rows of zeros. The UI, the rule engine and
the CLI read these arrays; nothing re-reads trades to draw or to aggregate rows.

Sell-aggressor volume is bid volume, buy-aggressor volume is ask volume; prints without an
aggressor are counted in ``volume`` and ``unknown`` only. Prices are ticks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from tapeflow.core.instruments import Instrument
from tapeflow.flow.bars import BarSpec

BAR_FIELDS = (
    "start_ns",  # bar open: aligned start for time bars, first print for tick/volume bars
    "end_ns",  # last print in the bar
    "open",
    "high",
    "low",
    "close",
    "volume",
    "delta",  # ask (buy) volume - bid (sell) volume
    "min_delta",  # lowest running delta after any print in the bar
    "max_delta",
    "trades",  # prints (a split volume-bar print counts in both bars)
    "unknown_volume",
    "poc",
    "val",
    "vah",
    "cum_delta",  # cumulative delta at bar close, reset per ``cum_reset``
    "session",  # trading date of the bar as a proleptic ordinal (date.toordinal())
)
LEVEL_FIELDS = ("bid", "ask", "unknown", "count")


@dataclass(frozen=True, eq=False)
class FootprintBars:
    """A series of finished (and possibly one open, last) footprint bars."""

    spec: BarSpec
    start_ns: np.ndarray
    end_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    delta: np.ndarray
    min_delta: np.ndarray
    max_delta: np.ndarray
    trades: np.ndarray
    unknown_volume: np.ndarray
    poc: np.ndarray
    val: np.ndarray
    vah: np.ndarray
    cum_delta: np.ndarray
    session: np.ndarray
    level_offsets: np.ndarray  # n + 1
    bid: np.ndarray  # per tick row, contracts sold at the bid
    ask: np.ndarray  # per tick row, contracts bought at the ask
    unknown: np.ndarray  # per tick row, contracts with no aggressor
    count: np.ndarray  # per tick row, prints

    def __len__(self) -> int:
        return len(self.start_ns)

    @classmethod
    def of_columns(cls, spec: BarSpec, level_offsets: np.ndarray, columns: dict[str, np.ndarray]) -> FootprintBars:
        """The same object as the constructor makes, without its per-field frozen-setattr cost
        (a series is made at every bar close, on the live path). ``columns``: every bar and
        level field by name."""
        out = object.__new__(cls)
        out.__dict__.update(columns, spec=spec, level_offsets=level_offsets)
        return out

    @classmethod
    def empty(cls, spec: BarSpec) -> FootprintBars:
        z = np.zeros(0, np.int64)
        kw: dict[str, Any] = {f: z for f in (*BAR_FIELDS, *LEVEL_FIELDS)}
        return cls(spec=spec, level_offsets=np.zeros(1, np.int64), **kw)

    def level_slice(self, i: int) -> slice:
        return slice(int(self.level_offsets[i]), int(self.level_offsets[i + 1]))

    def level_prices(self, i: int) -> np.ndarray:
        """Tick prices of bar ``i``'s rows, low to high."""
        return np.arange(int(self.low[i]), int(self.high[i]) + 1, dtype=np.int64)

    def rows(self, i: int, ticks_per_row: int = 1) -> dict[str, np.ndarray]:
        """Bar ``i``'s rows merged ``ticks_per_row`` ticks at a time (a view over the stored ticks).

        Row price is the lowest tick of the row, rows aligned to multiples of ``ticks_per_row``.
        """
        s = self.level_slice(i)
        prices = self.level_prices(i)
        cols = {name: getattr(self, name)[s] for name in LEVEL_FIELDS}
        if ticks_per_row == 1:
            return {"price": prices, **cols}
        row_of = np.floor_divide(prices, ticks_per_row)
        starts = np.flatnonzero(np.r_[True, row_of[1:] != row_of[:-1]])
        out = {"price": row_of[starts] * ticks_per_row}
        for name, col in cols.items():
            out[name] = np.add.reduceat(col, starts)
        return out

    def bar(self, i: int) -> dict[str, int]:
        """Bar ``i``'s scalar fields as Python ints."""
        return {f: int(getattr(self, f)[i]) for f in BAR_FIELDS}

    def select(self, indices: slice) -> FootprintBars:
        """A contiguous run of bars (e.g. the last N) as its own series."""
        idx = range(len(self))[indices]
        if len(idx) == 0:
            return FootprintBars.empty(self.spec)
        a, b = idx.start, idx.stop if idx.step == 1 else None
        if b is None:
            raise ValueError("select takes a contiguous slice")
        lo, hi = int(self.level_offsets[a]), int(self.level_offsets[b])
        kw = {f: getattr(self, f)[a:b] for f in BAR_FIELDS}
        kw.update({f: getattr(self, f)[lo:hi] for f in LEVEL_FIELDS})
        return FootprintBars(spec=self.spec, level_offsets=self.level_offsets[a : b + 1] - lo, **kw)

    def same_as(self, other: FootprintBars) -> bool:
        """Exact equality of every bar and level field (batch vs streaming checks)."""
        return self.spec == other.spec and all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if f.name != "spec"
        )

    def differences(self, other: FootprintBars) -> list[str]:
        """Names of the fields that differ (for test failure messages)."""
        return [
            f.name
            for f in fields(self)
            if f.name != "spec" and not np.array_equal(getattr(self, f.name), getattr(other, f.name))
        ]

    def iter_json_records(self, instrument: Instrument) -> Iterator[dict[str, Any]]:
        """One dict per bar for ``--format json`` (prices in index points, e.g. 4800.25)."""
        pts = float(instrument.tick_size)
        for i in range(len(self)):
            b = self.bar(i)
            s = self.level_slice(i)
            levels = [
                [p * pts, int(bv), int(av)]
                for p, bv, av in zip(self.level_prices(i).tolist(), self.bid[s], self.ask[s], strict=True)
            ]
            yield {
                "start_ns": b["start_ns"],
                "end_ns": b["end_ns"],
                "open": b["open"] * pts,
                "high": b["high"] * pts,
                "low": b["low"] * pts,
                "close": b["close"] * pts,
                "poc": b["poc"] * pts,
                "vah": b["vah"] * pts,
                "val": b["val"] * pts,
                "volume": b["volume"],
                "delta": b["delta"],
                "min_delta": b["min_delta"],
                "max_delta": b["max_delta"],
                "cum_delta": b["cum_delta"],
                "trades": b["trades"],
                "unknown_volume": b["unknown_volume"],
                "levels": levels,
            }
