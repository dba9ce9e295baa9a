"""Replay driver: play recorded (or simulated) events back at market pace, or as fast as possible.

Why: the terminal's replay mode and the UI's replay controls need the live pipeline's shape (an
async stream of batches) with the recording's timing, scaled by a speed factor, plus pause,
seek and step. Pacing slices batches at time boundaries: every event due within one
``quantum_ns`` of wall time is delivered in one batch after one ``sleep``, so a UI sees events at
the right wall time without a sleep per event.

Everything read from the source is retained in one growing array (capacity doubling), so a
backward ``seek`` is a ``searchsorted`` over that array, not a re-read of the source. The clock
is injectable (``FakeClock`` in tests: its ``sleep`` advances fake time instantly).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from tapeflow.core.events import EVENT_DTYPE
from tapeflow.errors import TapeflowError

NS_PER_SECOND = 1_000_000_000
MAX_SLEEP_S = 0.1
"""Longest single sleep (wall s): pause, seek and speed changes are noticed at least this often."""
READER_NICE = 19
"""OS niceness of the reader thread (Linux: per thread). Why: simulating a source chunk is a few hundred
ms of CPU; at normal priority it took half the CPU from the thread that paints (measured on one
core: a 7 ms paint took 15 ms, and frames that fell in a chunk stalled the window for 50-75 ms).
At the lowest priority it runs on the time the loop leaves idle, which is when it is awaited."""


def _lower_reader_priority() -> None:
    """Thread initializer: lower this thread's priority (no-op where threads have no own nice)."""
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id") and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICE)


class Clock(Protocol):
    """Wall time for pacing: monotonic seconds and an awaitable sleep."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A test clock: ``sleep`` advances ``now`` by exactly the time asked and returns at once."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.slept = 0.0  # total seconds slept, for assertions
        self.sleeps = 0  # number of sleep calls

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        self.slept += max(0.0, seconds)
        self.sleeps += 1
        await asyncio.sleep(0)


class Replay:
    """An async iterator of event batches paced by ``ts_event``.

    ``speed``: replay rate relative to market time (1.0 = real time, 10.0 = ten times faster);
    ``None`` plays as fast as possible. ``quantum_ns``: wall-time window whose due events are
    grouped into one batch (default 2 ms). ``max_batch``: most rows per batch. Control methods
    (``pause``, ``resume``, ``set_speed``, ``seek``, ``step_events``, ``step_bar``) may be called
    from other tasks while the iterator waits; a waiting iterator notices within ``MAX_SLEEP_S``.
    ``step_*`` return the stepped-over events directly (the iterator then continues after them).
    """

    def __init__(
        self,
        source_or_events: Iterable[np.ndarray] | np.ndarray,
        speed: float | None = 1.0,
        clock: Clock | None = None,
        *,
        quantum_ns: int = 2_000_000,
        max_batch: int = 65_536,
    ) -> None:
        self.speed = _check_speed(speed)
        self.clock: Clock = clock or MonotonicClock()
        self.quantum_ns = int(quantum_ns)
        self.max_batch = int(max_batch)
        self.info = getattr(source_or_events, "info", None)
        self.source = None if isinstance(source_or_events, np.ndarray) else source_or_events  # e.g. its status()
        self.stats = getattr(source_or_events, "stats", None)
        self._buf = np.zeros(0, dtype=EVENT_DTYPE)
        self._n = 0  # rows loaded into _buf
        self._source: Iterator[np.ndarray] | None
        self._live: AsyncIterable[np.ndarray] | None = None  # a source read on the loop that awaits it
        self._live_iter: AsyncIterator[np.ndarray] | None = None
        if isinstance(source_or_events, np.ndarray):
            self._append(source_or_events)
            self._source = None
        elif getattr(source_or_events, "runs_on_loop", False):
            self._live = source_or_events  # type: ignore[assignment]
            self._source = None
        else:
            self._source = iter(source_or_events)
        self._source_lock = threading.Lock()
        self._reader: ThreadPoolExecutor | None = None
        self._pos = 0  # next row to deliver
        self._t_ns: int | None = None  # replay (market) time, ns
        self._paused = False
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._anchor: tuple[float, int] | None = None  # (wall s, market ns) that map onto each other

    # ------------------------------------------------------------------ loading

    def _append(self, batch: np.ndarray) -> None:
        if batch.dtype != EVENT_DTYPE:
            raise TapeflowError(f"replay needs EVENT_DTYPE batches, got dtype {batch.dtype}")
        need = self._n + len(batch)
        if need > len(self._buf):
            self._buf = _grown(self._buf, self._n, need)
        self._buf[self._n : need] = batch
        self._n = need

    def _next_batch(self) -> np.ndarray | None:
        """The source's next non-empty batch, or None at its end (thread-safe)."""
        with self._source_lock:
            if self._source is None:
                return None
            for batch in self._source:
                if len(batch):
                    return batch
            self._source = None
            return None

    def _pull(self) -> bool:
        """Load one more source batch; False when the source is exhausted."""
        batch = self._next_batch()
        if batch is None:
            return False
        self._append(batch)
        return True

    async def _pull_async(self) -> bool:
        """:meth:`_pull` with the reading (file decoding, simulation) on a worker thread.

        Producing a source batch can take a large fraction of a second (decompressing, simulating
        a chunk); done on the event loop it would freeze a UI sharing that loop. A source that
        ``runs_on_loop`` (a live feed on a connection bound to this loop, e.g. Rithmic's shared
        session) is iterated here instead: its batches are small and come as the market sends them.
        """
        if self._live is not None:
            return await self._pull_live()
        if self._source is None:
            return False
        if self._reader is None:
            # Our own worker rather than the loop's default executor: under qasync that one is a
            # QThread pool, which Qt aborts on if it is still alive at interpreter exit.
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-reader",
                                              initializer=_lower_reader_priority)
        buf, n = self._buf, self._n
        batch, grown = await asyncio.get_running_loop().run_in_executor(self._reader, self._read_ahead, buf, n)
        if batch is None:
            self._reader.shutdown(wait=False)
            self._reader = None
            return False
        if grown is not None and self._buf is buf and self._n == n:
            # rows never change once loaded, so the copy the reader made of rows [0, n) is current
            self._buf = grown
        self._append(batch)
        return True

    async def _pull_live(self) -> bool:
        """The loop-bound source's next non-empty batch (waits for the market); False at its end."""
        assert self._live is not None
        if self._live_iter is None:
            self._live_iter = aiter(self._live)
        while True:
            try:
                batch = await anext(self._live_iter)
            except StopAsyncIteration:
                self._live = self._live_iter = None
                return False
            if len(batch):
                self._append(batch)
                return True

    async def aclose(self) -> None:
        """End a loop-bound source's iteration (its connection, its subscriptions, a session it
        owns). Whoever stops reading calls this: a consumer cancelled while it waited elsewhere (a
        pacing sleep, a slice of the pipeline) leaves the source's async generator suspended, and
        nothing finalizes it (the qasync loop runs no async-generator hooks), so the connection
        would live on. No-op for other sources."""
        it, self._live_iter, self._live = self._live_iter, None, None
        if it is not None and hasattr(it, "aclose"):
            await it.aclose()

    def _read_ahead(self, buf: np.ndarray, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """On the reader thread: the next batch, and the grown store if it will not fit in ``buf``.

        Why here: the store holds the whole replay, so growing it copies hundreds of MB (a 4M-row
        store took 0.4-0.8 s); numpy copies without the GIL, so on this thread the loop runs on.
        """
        batch = self._next_batch()
        if batch is None or n + len(batch) <= len(buf):
            return batch, None
        return batch, _grown(buf, n, n + len(batch))

    async def _ensure_rows(self, upto: int) -> None:
        while self._n < upto and await self._pull_async():
            pass

    async def _ensure_time(self, ts_ns: int) -> None:
        if self._live is not None:  # what has arrived is all there is: never wait for a later event
            return
        while (self._n == 0 or self._buf[self._n - 1]["ts_event"] <= ts_ns) and await self._pull_async():
            pass

    def _load_rows(self, upto: int) -> None:
        """Make sure rows [0, upto) are loaded (or the source is exhausted)."""
        while self._n < upto and self._pull():
            pass

    def _load_time(self, ts_ns: int) -> None:
        """Load until a row later than ``ts_ns`` is in memory (or the source is exhausted)."""
        while (self._n == 0 or self._buf[self._n - 1]["ts_event"] <= ts_ns) and self._pull():
            pass

    @property
    def _ts(self) -> np.ndarray:
        return self._buf["ts_event"][: self._n]

    # ------------------------------------------------------------------ state

    @property
    def finished(self) -> bool:
        """True once every event of the source was delivered (a backward seek clears it)."""
        self._load_rows(self._pos + 1)
        return self._pos >= self._n and self._source is None and self._live is None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def position(self) -> int:
        """Index of the next event to deliver (events loaded so far are numbered from 0)."""
        return self._pos

    @property
    def time_ns(self) -> int | None:
        """Current replay time in UTC ns: follows the clock while playing paced, else the last
        delivered event (or the seek target); None before anything was played or sought."""
        if self._anchor is None or self._paused or self.speed is None or self._t_ns is None:
            return self._t_ns
        wall, mkt = self._anchor
        now_mkt = mkt + int((self.clock.now() - wall) * self.speed * NS_PER_SECOND)
        self._load_rows(self._pos + 1)
        if self._pos < self._n:
            now_mkt = min(now_mkt, int(self._ts[self._pos]))
        return max(self._t_ns, now_mkt)

    def pause(self) -> None:
        """Stop delivering; replay time freezes."""
        if not self._paused:
            self._t_ns = self.time_ns
            self._paused = True
            self._resumed.clear()

    def resume(self) -> None:
        """Continue from the frozen replay time (wall pacing restarts from now)."""
        if self._paused:
            self._paused = False
            self._anchor = None
            self._resumed.set()

    def set_speed(self, speed: float | None) -> None:
        """Change the rate (1.0 real time, ``None`` as fast as possible) from the current time."""
        self._t_ns = self.time_ns
        self.speed = _check_speed(speed)
        self._anchor = None

    def seek(self, ts_ns: int) -> None:
        """Jump to market time ``ts_ns``: the next batch starts at the first event at or after it.

        Forward seeks load the source as far as needed; backward seeks search the retained
        events. Pacing restarts from the new time.
        """
        self._load_time(int(ts_ns))
        self._pos = int(np.searchsorted(self._ts, ts_ns, side="left"))
        self._t_ns = int(ts_ns)
        self._anchor = None

    def step_events(self, n: int = 1) -> np.ndarray:
        """Deliver the next ``n`` events at once (ignores pacing; use while paused)."""
        if n < 1:
            raise TapeflowError(f"step needs at least one event, got {n}")
        self._load_rows(self._pos + n)
        return self._take(min(self._pos + n, self._n))

    def step_bar(self, bar_ns: int = 60 * NS_PER_SECOND) -> np.ndarray:
        """Deliver the events up to the end of the bar (UTC-aligned, ``bar_ns`` long) that holds the
        next event; returns an empty batch when finished."""
        self._load_rows(self._pos + 1)
        if self._pos >= self._n:
            return self._buf[:0].copy()
        first = int(self._ts[self._pos])
        bar_end = (first // bar_ns + 1) * bar_ns
        self._load_time(bar_end - 1)
        end = int(np.searchsorted(self._ts, bar_end, side="left"))
        batch = self._take(end)
        self._t_ns = max(self._t_ns or first, bar_end - 1)
        return batch

    def _take(self, end: int) -> np.ndarray:
        """Rows [pos, end) as a new array; replay time moves to the last of them."""
        batch = self._buf[self._pos : end].copy()
        self._pos = end
        if len(batch):
            self._t_ns = int(batch["ts_event"][-1])
        self._anchor = None
        return batch

    # ------------------------------------------------------------------ iteration

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self

    async def __anext__(self) -> np.ndarray:
        while True:
            if self._paused:
                await self._resumed.wait()
                continue
            await self._ensure_rows(self._pos + 1)
            if self._pos >= self._n:
                raise StopAsyncIteration
            if self.speed is None:
                if self._live is None:  # a live source: what has arrived, without waiting for more
                    await self._ensure_rows(self._pos + self.max_batch)
                return self._take(min(self._pos + self.max_batch, self._n))
            batch = await self._paced()
            if batch is not None:
                return batch

    async def _paced(self) -> np.ndarray | None:
        """The events due now (within one quantum); None if state changed while waiting."""
        speed = self.speed
        assert speed is not None
        first = int(self._ts[self._pos])
        if self._anchor is None:
            start = first if self._t_ns is None else min(max(self._t_ns, 0), first)
            self._anchor = (self.clock.now(), start)
        wall, mkt = self._anchor
        anchor_before = self._anchor
        due = wall + (first - mkt) / (speed * NS_PER_SECOND)
        wait = due - self.clock.now()
        if wait > 0:
            anchor = self._anchor
            await self.clock.sleep(min(wait, MAX_SLEEP_S))
            if self._paused or self._anchor is not anchor or self.speed != speed:
                return None
            if wait > MAX_SLEEP_S:
                return None  # woke early on purpose: re-check state and the due time
        now_mkt = mkt + (self.clock.now() - wall) * speed * NS_PER_SECOND
        limit = int(now_mkt + self.quantum_ns * speed)
        await self._ensure_time(limit)
        if self._paused or self._anchor is not anchor_before:
            return None
        end = int(np.searchsorted(self._ts, limit, side="right"))
        end = min(max(end, self._pos + 1), self._pos + self.max_batch)
        anchor = self._anchor
        batch = self._take(end)
        self._anchor = anchor  # _take clears it for the stepping API; pacing keeps its anchor
        return batch


def _grown(buf: np.ndarray, n: int, need: int) -> np.ndarray:
    """A store of at least ``need`` rows (doubling) holding ``buf[:n]``; rows past ``n`` are not
    initialized (never read before they are written), which halves the cost of growing."""
    grown = np.empty(max(need, 2 * len(buf), 1024), dtype=EVENT_DTYPE)
    grown[:n] = buf[:n]
    return grown


def _check_speed(speed: float | None) -> float | None:
    if speed is None:
        return None
    s = float(speed)
    if not math.isfinite(s) or s <= 0:
        raise TapeflowError(f"replay speed must be a positive number or None (max), got {speed!r}")
    return s
