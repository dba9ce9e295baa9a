"""Simulated history: one seeded simulator session per trading date, recorded as DBN day files.

Why: real recordings may not be shipped, yet the catalog, date ranges, the distributed engine
and their tests and benchmarks need a folder of day files that looks like a download. Each day
is its own simulator run (seed ``seed + ordinal of the day``) recorded by the same
:class:`~tapeflow.feeds.recorder.DbnRecorder` that records live data, so the files are real DBN.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

from tapeflow.core.sessions import NS_PER_SECOND
from tapeflow.feeds.recorder import DbnRecorder
from tapeflow.feeds.simulator import MarketSimulator
from tapeflow.history.calendar import is_trading_date

RTH_MINUTES = 390.0  # 09:30 to 16:00 ET


def next_trading_dates(first: date, n: int) -> Iterator[date]:
    """The first ``n`` trading dates from ``first`` on."""
    d = first
    while n > 0:
        if is_trading_date(d):
            yield d
            n -= 1
        d = date.fromordinal(d.toordinal() + 1)


def day_simulator(day: date, *, seed: int = 0, minutes: float = RTH_MINUTES, at: time = time(9, 30),
                  symbol: str = "ES") -> MarketSimulator:
    """The simulated session of one trading date (from ``at`` ET, ``minutes`` long)."""
    return MarketSimulator(seed=seed + day.toordinal(), instrument=symbol, start=datetime.combine(day, at),
                           duration_ns=int(minutes * 60 * NS_PER_SECOND))


def write_sim_days(folder: str | Path, first: date, days: int, *, seed: int = 0, minutes: float = RTH_MINUTES,
                   schema: str = "mbp-1", symbol: str = "ES") -> list[Path]:
    """Write ``days`` trading dates from ``first`` on, one ``.dbn.zst`` each; returns the files."""
    out: list[Path] = []
    for day in next_trading_dates(first, days):
        sim = day_simulator(day, seed=seed, minutes=minutes, symbol=symbol)
        with DbnRecorder.for_source(folder, sim.info, schema=schema) as rec:
            for batch in sim:
                rec.write(batch)
        out.extend(rec.files)
    return out
