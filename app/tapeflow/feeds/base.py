"""The adapter protocol every market-data source implements.

A source yields batches (numpy arrays of ``EVENT_DTYPE``) in source order. File-like sources
(DBN, CSV, simulator) are plain iterables, so the batch path and backtests need no event loop;
live sources are async iterables. ``aiter_batches`` turns either into an async stream for the
live pipeline. Malformed input is counted in ``stats`` per reason, skipped, never fatal and never
dropped silently.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from tapeflow.core.events import Kind
from tapeflow.core.instruments import Instrument


@dataclass(slots=True)
class FeedInfo:
    """What a source is: known before (or as soon as) the first batch is read."""

    source: str  # path or URL, for messages
    schema: str  # 'trades', 'mbp-1', 'mbp-10', 'tbbo', 'mbo', 'csv-tas', 'simulated', ...
    instrument: Instrument
    symbols: list[str] = field(default_factory=list)
    instrument_ids: dict[int, str] = field(default_factory=dict)  # id -> raw symbol
    start_ns: int | None = None
    end_ns: int | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "aggressor side inferred from bid/ask"


@dataclass(slots=True)
class FeedStats:
    """Running counts of what a source produced and what it had to skip."""

    records: int = 0  # source records read (before normalization)
    events: Counter = field(default_factory=Counter)  # Kind name -> normalized events emitted
    malformed: Counter = field(default_factory=Counter)  # reason -> records skipped
    trades: int = 0
    trade_volume: int = 0
    inferred_side: int = 0  # trades whose aggressor side was inferred, not given
    first_ts: int | None = None
    last_ts: int | None = None

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    def count_batch(self, batch: np.ndarray) -> None:
        """Add a normalized batch to the tallies (adapters call this once per batch)."""
        if len(batch) == 0:
            return
        kinds = np.bincount(batch["kind"], minlength=5)
        for k in Kind:
            if kinds[k]:
                self.events[k.name] += int(kinds[k])
        is_trade = batch["kind"] == Kind.TRADE
        self.trades += int(kinds[Kind.TRADE])
        self.trade_volume += int(batch["size"][is_trade].sum())
        ts = batch["ts_event"]
        lo, hi = int(ts.min()), int(ts.max())
        self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
        self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` malformed records skipped for ``reason``."""
        if n:
            self.malformed[reason] += n


@runtime_checkable
class EventSource(Protocol):
    """A finite or replayable source: iterate it for batches in source order."""

    info: FeedInfo
    stats: FeedStats

    def __iter__(self) -> Iterator[np.ndarray]: ...


@runtime_checkable
class LiveSource(Protocol):
    """A live source: an async iterator of batches that ends only when the feed ends."""

    info: FeedInfo
    stats: FeedStats

    def __aiter__(self) -> AsyncIterator[np.ndarray]: ...


async def aiter_batches(source: Iterable[np.ndarray] | LiveSource) -> AsyncIterator[np.ndarray]:
    """Async stream of batches from any source; yields to the loop between file batches."""
    if isinstance(source, LiveSource):
        async for batch in source:
            yield batch
        return
    for batch in source:
        yield batch
        await asyncio.sleep(0)
