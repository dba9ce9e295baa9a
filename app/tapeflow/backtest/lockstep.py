"""Several instruments in one account, fast: plan each tape ahead, play the plans back in time order.

The plain way to run several pipelines on one account (:func:`fine_steps`) hands each instrument's
pipeline the pieces of its tape between the other instruments' rows: on ES+NQ that is one pipeline
step per ~30 rows, and the fixed cost of a step (flow, rules, broker) made a day 15x slower than the
two instruments alone. Yet only the account is shared: flow and rules of one instrument never read
another's tape or the account. So :class:`Lockstep` runs them ahead on whole source batches
(``Pipeline.plan``: which signals fire, and after which row each one acts) and then plays the
plans back through the merged tape: broker rows and acts, in time order across instruments.

Playback gives the broker exactly the calls the plain way gives it (same cuts: the end of the
exchange event of each signal's row, the row that closes a time bar in a live-sized piece and the
end of its event, the row and time caps of a batch), so fills,
orders and the report are the same, with one saving: while the account is idle (no working order,
no open position) no row can fill, mark or breach anything, so rows wait and go to the broker in
one call per instrument just before the next entry signal is acted on (when an order could meet a
book). Every such act flushes every instrument's waiting rows first, so an order always meets every
book as of its time; other signals are only recorded and journaled, in the same order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from tapeflow.core.events import K_TRADE
from tapeflow.feeds.merge import TapeMerge, merge_spans
from tapeflow.flow.bars import BarKind
from tapeflow.flow.state import SMALL_BATCH
from tapeflow.pipeline import Pipeline, event_end, event_ends
from tapeflow.signals.model import Signal
from tapeflow.trading.account import Account

MAX_HELD_BATCHES = 4
"""Source batches one instrument may hold back before an idle flush (bounds the memory held)."""

Cuts = Callable[[np.ndarray], list[int]]
"""Start indices of the pipeline batches of a piece of rows, plus its end (``runner.cut_points``)."""

Step = Callable[[int, list[Signal]], None]
"""Called with (instrument index, signals) after a step has acted on them (the run's records)."""


def fine_steps(pipes: Sequence[Pipeline], day: Sequence[Iterable[np.ndarray]], cuts: Cuts, step: Step) -> None:
    """The plain way: every merged piece through its instrument's ``Pipeline.process``. Kept as the
    reference :class:`Lockstep` must equal."""
    for k, batch, a, b in merge_spans(day):
        rows = batch[a:b]
        for x, y in pairwise(cuts(rows)):
            fired = pipes[k].process(rows[x:y])
            if fired:
                step(k, fired)


@dataclass
class _Tape:
    """One instrument's plan: its signals by the row after which each acts, its time bars' closing
    rows, and the rows the broker has not taken yet. Rows are counted from the run's start."""

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

    def plan(self, source: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for batch in source:
            if not len(batch):
                continue
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
            yield batch

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


class Lockstep:
    """Plays planned tapes back against the shared account in merged time order (module doc)."""

    def __init__(self, pipes: Sequence[Pipeline], account: Account, cuts: Cuts, step: Step) -> None:
        self.account, self.cuts, self.step = account, cuts, step
        self.tapes = [_Tape(p, _bar_ns(p)) for p in pipes]

    def run_day(self, day: Sequence[Iterable[np.ndarray]]) -> None:
        """Play one day's tapes (one source per pipeline)."""
        merge = TapeMerge([t.plan(src) for t, src in zip(self.tapes, day, strict=True)])
        for k, batch, a, b in merge.spans():
            rows = batch[a:b]
            for x, y in pairwise(self.cuts(rows)):
                self._play(k, batch, a + x, a + y)
            if self._idle():
                self._skip_ahead(merge)
        self._flush()

    def _skip_ahead(self, merge: TapeMerge) -> None:
        """While the account is idle, hold at once every row that comes before the next act (or
        before the end of a tape's current batch, past which the merge cannot see) instead of
        stepping through the merge piece by piece. Rows stepped or held give the same books."""
        live = merge.live()
        if len(live) < 2:
            return
        limit = None
        for j in live:
            tape, keys = self.tapes[j], merge.keys[j]
            at = tape.acts[0][0] - tape.start - 1 if tape.acts else len(keys)
            key = int(keys[min(max(at, 0), len(keys) - 1)])
            limit = key if limit is None else min(limit, key)
        for j in live:
            tape, pos = self.tapes[j], merge.pos[j]
            end = int(np.searchsorted(merge.keys[j], limit, side="left"))
            if end > pos:
                self._hold(tape, pos, end)
                merge.skip(j, end)

    def _play(self, k: int, batch: np.ndarray, a: int, b: int) -> None:
        """What ``Pipeline.process(batch[a:b])`` does to the account, from the plan."""
        tape = self.tapes[k]
        base = tape.start
        lo, hi = base + a, base + b
        bounds = tape.splits(lo, hi)
        pos = lo
        while tape.acts and tape.acts[0][0] <= hi:
            cut, sig = tape.acts.popleft()
            if cut > pos:
                self._feed(tape, batch, pos, cut, bounds)
                pos = cut
            if sig.is_entry and tape.pipe.auto is not None and tape.pipe.auto_trade:
                self._flush()  # the auto-trader may send an order: every book as of now (others only record)
            tape.pipe.act(sig)
            self.step(k, [sig])
        if pos < hi:
            self._feed(tape, batch, pos, hi, bounds)

    def _feed(self, tape: _Tape, batch: np.ndarray, lo: int, hi: int, bounds: list[int]) -> None:
        """Rows ``lo:hi`` (run indices) to the broker, one call per stretch between ``bounds``."""
        edges = [lo, *(x for x in bounds if lo < x < hi), hi] if bounds else (lo, hi)
        rows, start = tape.rows, tape.start
        for x, y in pairwise(edges):
            x, y = x - start, y - start
            if self._idle():
                self._hold(tape, x, y)
            else:
                if any(t.waiting for t in self.tapes):
                    raise RuntimeError("lockstep: rows held back while the account was busy")
                self.account.on_events(rows[x:y])

    def _hold(self, tape: _Tape, x: int, y: int) -> None:
        """Rows ``x:y`` of the tape's current batch wait for the next flush (while the account is idle)."""
        w = tape.waiting
        if w and w[-1][0] is tape.rows and w[-1][2] == x:
            w[-1][2] = y  # the held stretch goes on
        else:
            w.append([tape.rows, x, y])
            if len(w) > MAX_HELD_BATCHES:  # idle, any moment will do: keep the held batches few
                self._flush()

    def _idle(self) -> bool:
        """Nothing a row could fill, mark or breach: no working order, no open position."""
        acc = self.account
        return not acc.has_open_orders() and not any(p.qty for p in acc.ledger.positions.values())

    def _flush(self) -> None:
        """Every held row to the broker (one call per instrument and source batch): the books as of now."""
        for t in self.tapes:
            for rows, x, y in t.waiting:
                self.account.on_events(rows[x:y])
            t.waiting.clear()


def _bar_ns(pipe: Pipeline) -> int | None:
    spec = pipe.flow.builder.spec
    if getattr(pipe.engine, "on_clock", None) is None or spec.kind is not BarKind.TIME:
        return None
    return int(spec.size)
