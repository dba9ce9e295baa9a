"""Drives a :class:`~tapeflow.feeds.replay.Replay` into a :class:`~tapeflow.pipeline.Pipeline` (or
the pipelines of several instruments, :class:`~tapeflow.pipeline_group.PipelineGroup`, on one merged
tape and one replay clock) on the asyncio loop that Qt shares through qasync.

Why a separate object: the window must stay responsive while events pour in, so the feed loop
processes one bounded batch, then yields to the loop (Qt paints and handles input in between).
It holds the replay controls (play/pause, speed, jump to time, step a bar) and the feed figures
the status bar shows (events/s, feed latency, slowest batch). No Qt in here, so it is tested
without a display.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tapeflow.feeds.replay import Replay
from tapeflow.flow.bars import BarKind
from tapeflow.pipeline import Pipeline
from tapeflow.pipeline_group import PipelineGroup

FAST_FORWARD_ROWS = 8192
"""Rows per step when jumping ahead: small enough that one step never stalls the window."""

STEP_BUDGET_S = 0.005
"""Wall time one pipeline step may take before the loop gets control back (seconds).

A replay batch holds up to 8192 rows, and the pipeline's cost per row varies with the market
(a burst of book updates, a rule firing): whole batches took up to 30 ms, and one of those right
after a chart frame made a visible stall. So a batch is processed in slices sized from the rate
measured on the previous slices, and the loop runs (Qt paints, input is handled) between slices.
5 ms rather than 8: the slice sized from the previous rate overshoots (8 ms slices took 10-12 ms
at p95 in the window benchmark), and the longest stalls measured were one frame plus one slice;
the loop round trip between slices costs well under 1% of a slice at this size."""

MIN_STEP_ROWS = 256
"""Smallest slice: below this the per-step overhead outweighs the pipeline's work."""


class FeedState(StrEnum):
    IDLE = "idle"
    PLAYING = "playing"
    PAUSED = "paused"
    SEEKING = "seeking"
    FINISHED = "finished"
    ERROR = "error"


@dataclass(slots=True)
class FeedFigures:
    """What the status bar shows about the feed (rates per wall second, times in ms)."""

    events: int = 0
    events_per_s: float = 0.0
    latency_ms: float | None = None  # ts_recv - ts_event of the last event (the recording's feed latency)
    slowest_batch_ms: float = 0.0  # longest single pipeline step since start
    last_batch_ms: float = 0.0


class FeedRunner:
    """One replayed feed into one pipeline, or one merged feed into a group of them (one clock for
    all). ``reset`` rebuilds the flow state for a backward jump."""

    def __init__(
        self,
        pipeline: Pipeline | PipelineGroup,
        replay: Replay,
        *,
        reset: Callable[[], None] | None = None,
        wall: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.pipeline = pipeline
        self.steps = pipeline if isinstance(pipeline, PipelineGroup) else PipelineGroup([pipeline])
        self.replay = replay
        self.reset = reset
        self.wall = wall
        self.state = FeedState.IDLE
        self.error = ""
        self.figures = FeedFigures()
        self._task: asyncio.Task | None = None
        self._rate_t0 = wall()
        self._rate_n = 0
        self._step_rows = 1024  # rows per slice, adapted to STEP_BUDGET_S (starts small, doubles at most per step)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> asyncio.Task:
        """Start the feed task on the running loop (once)."""
        if self._task is None or self._task.done():
            if self.state is not FeedState.PAUSED:
                self.state = FeedState.PLAYING
            self._task = asyncio.ensure_future(self._run())
        return self._task

    def cancel(self) -> None:
        """Stop the feed task without waiting (window close, file change). Once: a second cancel
        would cut short a live feed letting go of its connection."""
        if self._task is not None and not self._task.done() and not self._task.cancelling():
            self._task.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            async for batch in self.replay:
                pos = 0
                while pos < len(batch):
                    part = batch[pos:pos + self._step_rows]
                    pos += len(part)
                    t0 = self.wall()
                    self._process(part)
                    self._adapt(len(part), self.wall() - t0)
                    await asyncio.sleep(0)  # let Qt paint and take input between slices
                self.steps.idle()  # caught up with the source: precompute off the next events' path
            self.state = FeedState.FINISHED
        except asyncio.CancelledError:
            await self._close_live()
            raise
        except Exception as e:
            self.state = FeedState.ERROR
            self.error = f"{type(e).__name__}: {e}"
            await self._close_live()

    async def _close_live(self) -> None:
        """A live source read on this loop lets go of its connection when the runner stops."""
        with contextlib.suppress(Exception):
            await self.replay.aclose()

    def _adapt(self, rows: int, seconds: float) -> None:
        """Next slice size: what the last slice's rate gets done in :data:`STEP_BUDGET_S`."""
        if seconds <= 0 or rows < MIN_STEP_ROWS:
            return
        want = int(rows / seconds * STEP_BUDGET_S)
        # grow gently (a cheap slice says little about the next), shrink at once
        self._step_rows = max(MIN_STEP_ROWS, min(want, 2 * self._step_rows, self.replay.max_batch))

    def _process(self, batch: np.ndarray) -> None:
        if not len(batch):
            return
        t0 = self.wall()
        self.steps.process(batch)
        dt = (self.wall() - t0) * 1000.0
        f = self.figures
        f.last_batch_ms = dt
        f.slowest_batch_ms = max(f.slowest_batch_ms, dt)
        f.events += len(batch)
        last = batch[-1]
        if last["ts_recv"] > 0:
            f.latency_ms = (int(last["ts_recv"]) - int(last["ts_event"])) / 1e6
        self._rate_n += len(batch)

    def sample_rate(self) -> float:
        """Events/s since the previous call (the status bar calls it about once a second)."""
        now = self.wall()
        span = now - self._rate_t0
        if span > 0:
            self.figures.events_per_s = self._rate_n / span
        self._rate_t0, self._rate_n = now, 0
        return self.figures.events_per_s

    # ---------------------------------------------------------------- controls

    @property
    def speed(self) -> float | None:
        return self.replay.speed

    def play(self) -> None:
        self.replay.resume()
        if self.state in (FeedState.PAUSED, FeedState.IDLE):
            self.state = FeedState.PLAYING

    def pause(self) -> None:
        self.replay.pause()
        if self.state in (FeedState.PLAYING, FeedState.IDLE):
            self.state = FeedState.PAUSED

    def toggle(self) -> None:
        self.play() if self.replay.paused else self.pause()

    def set_speed(self, speed: float | None) -> None:
        """1.0 = market pace, ``None`` = as fast as the pipeline goes."""
        self.replay.set_speed(speed)

    def step_bar(self) -> int:
        """Pause and deliver the rest of the current bar (time bars; one minute otherwise)."""
        self.pause()
        spec = self.steps.bar_spec
        bar_ns = spec.size if spec.kind is BarKind.TIME else 60_000_000_000
        batch = self.replay.step_bar(bar_ns)
        self._process(batch)
        return len(batch)

    def time_ns(self) -> int | None:
        """Replay (market) time now."""
        return self.replay.time_ns

    def last_ts(self) -> int | None:
        """The latest event time the pipelines have seen (ns)."""
        return self.steps.last_ts

    async def jump_to(self, ts_ns: int) -> None:
        """Bring the pipeline to market time ``ts_ns`` and go on from there at the chosen speed.

        Forward: every event up to the target is processed (fast, in small steps) so the
        footprint has no hole. Backward: the flow state is rebuilt from the start of the data.
        """
        was_paused = self.replay.paused
        self.pause()
        previous = self.state
        self.state = FeedState.SEEKING
        now = self.steps.last_ts
        if now is not None and ts_ns < now:
            if self.reset is not None:
                self.reset()
            self.replay.seek(0)
        while True:
            chunk = self.replay.step_events(FAST_FORWARD_ROWS) if not self.replay.finished else None
            if chunk is None or not len(chunk):
                break
            ts = chunk["ts_event"]
            if ts[-1] >= ts_ns:
                cut = int(np.searchsorted(ts, ts_ns, side="left"))
                self._process(chunk[:cut])
                self.replay.seek(int(ts_ns))
                break
            self._process(chunk)
            await asyncio.sleep(0)
        self.state = FeedState.PAUSED if was_paused or previous is FeedState.PAUSED else FeedState.PLAYING
        if self.state is FeedState.PLAYING:
            self.play()
        if self.replay.finished:
            self.state = FeedState.FINISHED
        elif self._task is not None and self._task.done():
            self.start()  # the feed had ended before a backward jump: run it again from here
