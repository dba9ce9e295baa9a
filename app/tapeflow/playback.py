"""Several instruments on one account, fast: flow and rules planned ahead per instrument, the plans
played back against the account in the tape order the caller gives.

Stepping several pipelines on one account the plain way hands each pipeline the pieces of its tape
between the other instruments' rows: on ES+NQ one pipeline step per ~30 rows, and the fixed cost
of a step (flow, rules, broker) made two instruments 10-15x slower than the two alone. Yet only the
account is shared: flow and rules of one instrument never read another's tape or the account. So
each instrument's pipeline runs ahead on a whole batch of its own rows (``Pipeline.plan``: which
signals fire, after which row each one acts) and :class:`Playback` then plays the plans through the
merged order: broker rows and acts, piece by piece as the plain way would.

Playback gives the broker exactly the calls the plain way gives it (same cuts: the end of the
exchange event of each signal's row, the row that closes a time bar in a live-sized piece and the
end of its event, the pieces' own edges), so fills, orders
and signals are the same, with one saving: while the account is idle (no working order, no open
position) no row can fill, mark or breach anything, so rows wait and go to the broker in one call
per instrument just before the next entry signal is acted on (when an order could meet a book).
Every such act flushes every instrument's waiting rows first, so an order always meets every book
as of its time; other signals are only recorded and journaled, in the same order.

Two drivers: the multi-instrument backtest merges whole days itself
(:class:`tapeflow.backtest.lockstep.Lockstep`); the terminal replays a tape merged and tagged by
source upstream, slice by slice, and keeps that order (:class:`tapeflow.pipeline_group.PipelineGroup`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from tapeflow.core.events import K_TRADE
from tapeflow.flow.bars import BarKind
from tapeflow.flow.state import SMALL_BATCH
from tapeflow.pipeline import Pipeline, event_end, event_ends
from tapeflow.signals.model import Signal
from tapeflow.trading.account import Account

MAX_HELD_BATCHES = 4
"""Planned batches one instrument may hold back before an idle flush (bounds the memory held)."""

Step = Callable[[int, list[Signal]], None]
"""Called with (instrument index, signals) after a step has acted on them (the run's records)."""


@dataclass
class PlannedTape:
    """One instrument's plan: its signals by the row after which each acts, its time bars' closing
    rows, and the rows the broker has not taken yet. Rows are counted from the tape's start."""

    pipe: Pipeline
    bar_ns: int | None  # the time-bar size when the engine closes bars on the clock, else None
    planned: int = 0  # rows planned so far
    start: int = 0  # row index of the batch being played
    acts: deque[tuple[int, Signal]] = field(default_factory=deque)
    bars: deque[tuple[int, int, int]] = field(default_factory=deque)  # (open from row, closing row, its event's end)
    rows: np.ndarray | None = None  # the batch being played, as the broker reads it (``Pipeline.for_broker``)
    waiting: list[list] = field(default_factory=list)  # [rows, lo, hi] held back while the account is idle
    _end: int | None = None  # the open time bar's end, as planned so far
    _open_at: int = 0
    _clock: int = 0

    @classmethod
    def of(cls, pipe: Pipeline) -> PlannedTape:
        """The plan of what ``pipe`` takes next, its time bars going on from where its flow state is
        (a bar left open by earlier rows closes in this plan)."""
        builder = pipe.flow.builder
        return cls(pipe, _bar_ns(pipe), _end=builder.open_bar_end, _clock=builder.clock_ns)

    def plan(self, batch: np.ndarray) -> None:
        """Flow and rules over the tape's next batch (non-empty); it becomes the batch being played."""
        pos = self.planned
        for x in self.pipe.plan(batch):
            if isinstance(x, int):
                pos += x
            else:
                self.acts.append((pos, x))
        if pos != self.planned + len(batch):
            raise RuntimeError(f"plan of {len(batch)} rows fed the broker {pos - self.planned}")
        if self.bar_ns is not None:
            self._plan_bars(batch)
        self.start, self.planned = self.planned, pos
        self.rows = self.pipe.for_broker(batch)

    def _plan_bars(self, batch: np.ndarray) -> None:
        """Where the time bars close (``FlowState.closing_row``): a trade opens a bar that ends at
        the next multiple of the bar size; the first row whose clock reaches the end closes it (a
        trade there opens the next one)."""
        size, off = self.bar_ns, self.planned
        clock = np.maximum.accumulate(np.maximum(batch["ts_event"].astype(np.int64), self._clock))
        self._clock = int(clock[-1])
        is_trade = batch["kind"] == K_TRADE
        trades = np.flatnonzero(is_trade)
        ends = event_ends(batch)
        pos, n = 0, len(batch)
        while pos < n:
            if self._end is None:
                j = int(np.searchsorted(trades, pos))
                if j == len(trades):
                    return
                t = int(trades[j])
                self._end, self._open_at, pos = (int(clock[t]) // size + 1) * size, off + t + 1, t + 1
                continue
            c = pos + int(np.searchsorted(clock[pos:], self._end))
            if c >= n:
                return
            end = event_end(ends, c + 1, True)  # None: past this batch, so past any piece that closes it
            self.bars.append((self._open_at, off + c, off + n + 1 if end is None else off + end))
            if is_trade[c]:
                self._end, self._open_at = (int(clock[c]) // size + 1) * size, off + c + 1
            else:
                self._end = None
            pos = c + 1

    def splits(self, a: int, b: int) -> list[int]:
        """Where ``Pipeline.process`` of rows ``a:b`` cuts its broker calls besides its signals: a
        live-sized piece with the row that closes the open time bar splits before it and after the end
        of its exchange event (the bar's signals act there: ``Pipeline._release``)."""
        bars = self.bars
        while bars and bars[0][1] < a:
            bars.popleft()
        if self.bar_ns is None or b - a > SMALL_BATCH or not bars:
            return []
        opened, c, end = bars[0]
        return [c, end] if opened <= a <= c < b else []

    def next_act(self) -> int | None:
        """Rows of the batch being played that the broker sees before the next planned act, or None."""
        return self.acts[0][0] - self.start if self.acts else None


class Playback:
    """Plays planned tapes back against the shared account, piece by piece in the caller's order
    (module doc). ``tapes[k]`` is pipeline ``k``'s; ``step`` hears every act."""

    def __init__(self, pipes: Sequence[Pipeline], account: Account, step: Step) -> None:
        self.account, self.step = account, step
        self.tapes = [PlannedTape.of(p) for p in pipes]

    def plan(self, k: int, batch: np.ndarray) -> None:
        """Plan instrument ``k``'s next batch of rows (its earlier batch must have been played)."""
        self.tapes[k].plan(batch)

    def play(self, k: int, a: int, b: int) -> None:
        """What ``Pipeline.process`` of rows ``a:b`` of instrument ``k``'s current batch does to the
        account, from the plan."""
        tape = self.tapes[k]
        base = tape.start
        lo, hi = base + a, base + b
        bounds = tape.splits(lo, hi)
        pos = lo
        while tape.acts and tape.acts[0][0] <= hi:
            cut, sig = tape.acts.popleft()
            if cut > pos:
                self._feed(tape, pos, cut, bounds)
                pos = cut
            if sig.is_entry and tape.pipe.auto is not None and tape.pipe.auto_trade:
                self.flush()  # the auto-trader may send an order: every book as of now (others only record)
            tape.pipe.act(sig)
            self.step(k, [sig])
        if pos < hi:
            self._feed(tape, pos, hi, bounds)

    def _feed(self, tape: PlannedTape, lo: int, hi: int, bounds: list[int]) -> None:
        """Rows ``lo:hi`` (tape indices) to the broker, one call per stretch between ``bounds``."""
        edges = [lo, *(x for x in bounds if lo < x < hi), hi] if bounds else (lo, hi)
        rows, start = tape.rows, tape.start
        for x, y in pairwise(edges):
            x, y = x - start, y - start
            if self.idle():
                self.hold(tape, x, y)
            else:
                if any(t.waiting for t in self.tapes):
                    raise RuntimeError("playback: rows held back while the account was busy")
                self.account.on_events(rows[x:y])

    def hold(self, tape: PlannedTape, x: int, y: int) -> None:
        """Rows ``x:y`` of the tape's current batch wait for the next flush (while the account is idle)."""
        w = tape.waiting
        if w and w[-1][0] is tape.rows and w[-1][2] == x:
            w[-1][2] = y  # the held stretch goes on
        else:
            w.append([tape.rows, x, y])
            if len(w) > MAX_HELD_BATCHES:  # idle, any moment will do: keep the held batches few
                self.flush()

    def idle(self) -> bool:
        """Nothing a row could fill, mark or breach: no working order, no open position."""
        acc = self.account
        return not acc.has_open_orders() and not any(p.qty for p in acc.ledger.positions.values())

    def flush(self) -> None:
        """Every held row to the broker (one call per instrument and batch): the books as of now."""
        for t in self.tapes:
            for rows, x, y in t.waiting:
                self.account.on_events(rows[x:y])
            t.waiting.clear()


def _bar_ns(pipe: Pipeline) -> int | None:
    spec = pipe.flow.builder.spec
    if getattr(pipe.engine, "on_clock", None) is None or spec.kind is not BarKind.TIME:
        return None
    return int(spec.size)
