"""The resilience wrapper every live adapter runs behind (websocket, Databento, Rithmic).

Why one wrapper: reconnecting, heartbeats, gap detection, staleness and back-pressure are the
same problem for every vendor; an adapter only supplies a ``Connector`` (open one connection,
hand back normalized messages) and gets all of this:

* reconnect with exponential backoff and jitter; ``max_attempts`` consecutive failures give up;
* no progress: ``max_stalls`` connections in a row that end without one new event, having
  resent only events we had or said nothing at all (a server that replays, then stalls), give
  up with a clear reason, whatever ``max_attempts`` says, instead of reconnecting forever. A
  connection that only had heartbeats is a quiet market, not a stall;
* heartbeat timeout: no message at all for ``heartbeat_timeout_s`` while waiting for one means
  a dead link -> reconnect (time spent waiting for a slow consumer does not count);
* stale data: connected but no data for ``stale_after_s`` -> state STALE (signals should be
  suppressed; the status bar shows it);
* gap detection on per-connection message ``seq`` and on the stream's event sequence numbers,
  with a logged warning, and recovery by reconnecting with ``resume_from`` where the source can
  replay; after a reconnect the stream resumes at the next event needed, duplicates trimmed;
* a bounded queue between the socket reader and the consumer with an explicit policy
  (``block``: lossless, the reader waits (TCP back-pressure), for batch reading; ``coalesce``:
  merge batches when the queue is full, drop the oldest events only past ``max_queue_events``;
  ``drop_oldest``) whose every drop or merge is counted in ``status()``;
* clock skew (local receive wall time minus the source's send time) and latency percentiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

import msgspec
import numpy as np

from tapeflow.core.events import EVENT_DTYPE
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import FeedInfo, FeedStats

log = logging.getLogger(__name__)

Policy = Literal["block", "coalesce", "drop_oldest"]


class FeedError(TapeflowError):
    """A connection-level failure with a clear message; the wrapper records it and reconnects."""


class FeedState(StrEnum):
    CONNECTING = "CONNECTING"
    LIVE = "LIVE"
    STALE = "STALE"
    RECONNECTING = "RECONNECTING"
    ENDED = "ENDED"


# ------------------------------------------------------------------ what connectors hand back


@dataclass(slots=True)
class Opened:
    """A connection is up: what the source is and where its stream starts."""

    info: FeedInfo | None = None
    start_event: int | None = None  # event sequence number of the first event to come (None: not numbered)
    server_ns: int | None = None  # source's wall clock at hello (UTC ns), for skew


@dataclass(slots=True)
class Data:
    events: np.ndarray
    sent_ns: int | None = None  # source send time, UTC ns
    seq: int | None = None  # per-connection message number
    first_event: int | None = None  # event sequence number of events[0]


@dataclass(slots=True)
class Beat:
    sent_ns: int | None = None
    seq: int | None = None
    next_event: int | None = None


@dataclass(slots=True)
class Ended:
    next_event: int | None = None
    malformed: dict[str, int] = field(default_factory=dict)
    reason: str = "end of source"


Message = Data | Beat | Ended


class Connection(Protocol):
    async def recv(self) -> Message: ...

    async def close(self) -> None: ...


class Connector(Protocol):
    """Opens one connection; ``resume_from`` is the next event sequence number wanted (or None)."""

    name: str

    async def connect(self, resume_from: int | None) -> tuple[Connection, Opened]: ...


# ------------------------------------------------------------------ settings and status


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays (s): ``initial_s * factor**attempt`` capped at ``max_s``, minus up to
    ``jitter`` of it at random so many clients do not reconnect in lock-step."""

    initial_s: float = 0.05
    max_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int, rnd: float) -> float:
        d = min(self.max_s, self.initial_s * self.factor ** max(0, attempt))
        return d * (1.0 - self.jitter * rnd)


class Gap(msgspec.Struct, frozen=True):
    """Something the consumer did not get as sent: a warning for the status bar and the log."""

    kind: str  # 'events' (stream skipped), 'messages' (seq jump), 'outage' (disconnect), 'dropped' (slow consumer)
    at_event: int | None  # event sequence number where it happened (None: not numbered)
    missing: int  # events lost; -1 unknown; 0 after a full recovery
    recovered: bool
    detail: str
    wall_ns: int


class FeedStatus(msgspec.Struct, frozen=True):
    """One immutable snapshot for the status bar."""

    state: FeedState
    source: str
    events_per_s: float
    latency_p50_ms: float | None  # source send -> local receive
    latency_p99_ms: float | None
    clock_skew_ms: float | None  # min(local receive - source send) over recent batches
    gaps: int
    events_lost: int
    reconnects: int
    dropped_events: int  # by the queue policy (slow consumer)
    coalesced_batches: int
    duplicates_trimmed: int
    queued_events: int
    next_event: int | None
    last_error: str | None
    last_warning: str | None
    data_age_s: float | None  # seconds since the last data


_LAT_WINDOW = 4096
_RATE_WINDOW_S = 2.0


class LiveFeed:
    """A ``LiveSource`` over a ``Connector``: async-iterate for batches; ``status()`` any time.

    Also a plain ``EventSource``: iterating it synchronously runs the client in a private event
    loop on a helper thread until the stream ends (what batch commands use for ``ws://`` URLs).
    """

    def __init__(
        self,
        connector: Connector,
        info: FeedInfo,
        *,
        start_event: int | None = None,
        policy: Policy = "coalesce",
        max_queue_batches: int = 256,
        max_queue_events: int = 2_000_000,
        heartbeat_timeout_s: float = 5.0,
        stale_after_s: float = 2.0,
        max_signal_age_s: float = 2.0,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        max_stalls: int = 5,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.connector = connector
        self.info = info
        self.stats = FeedStats()
        self.policy: Policy = policy
        self.max_queue_batches = max(1, max_queue_batches)
        self.max_queue_events = max(1, max_queue_events)
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.stale_after_s = stale_after_s
        self.max_signal_age_s = max_signal_age_s
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.max_stalls = max(1, max_stalls)
        self.clock = clock
        self.wall_ns = wall_ns
        self.rng = rng
        self.gaps: list[Gap] = []
        self.errors: list[str] = []
        self.last_sent_ns: int | None = None  # send time of the batch last handed to the consumer
        self.count_records = True  # False when the connector counts raw records in ``stats`` itself
        self._start_event = start_event
        self._next_event: int | None = start_event
        self._seq: int | None = None
        self._state = FeedState.CONNECTING
        self._queue: deque[tuple[np.ndarray, int | None]] = deque()
        self._queued_events = 0
        self._space = asyncio.Event()
        self._ready = asyncio.Event()
        self._done = False
        self._failure: str | None = None
        self._reconnects = 0
        self._dropped = 0
        self._coalesced = 0
        self._duplicates = 0
        self._lost = 0
        self._last_data: float | None = None
        self._connected_at: float | None = None
        self._lat: deque[int] = deque(maxlen=_LAT_WINDOW)
        self._rate: deque[tuple[float, int]] = deque()
        self._recovery_at: int | None = None
        self._outage: tuple[int | None, str] | None = None
        self._got_data = False
        self._got_beat = False

    # ------------------------------------------------------------------ status

    def status(self) -> FeedStatus:
        now = self.clock()
        state = self._state_at(now)
        age = None if self._last_data is None else now - self._last_data
        while self._rate and now - self._rate[0][0] > _RATE_WINDOW_S:
            self._rate.popleft()
        rate = sum(n for _, n in self._rate) / _RATE_WINDOW_S
        lat = np.fromiter(self._lat, dtype=np.int64) if self._lat else None
        p50 = p99 = skew = None
        if lat is not None:
            p50, p99 = (float(v) / 1e6 for v in np.percentile(lat, [50, 99]))
            skew = float(lat.min()) / 1e6
        return FeedStatus(
            state=state,
            source=self.info.source,
            events_per_s=rate,
            latency_p50_ms=p50,
            latency_p99_ms=p99,
            clock_skew_ms=skew,
            gaps=len(self.gaps),
            events_lost=self._lost,
            reconnects=self._reconnects,
            dropped_events=self._dropped,
            coalesced_batches=self._coalesced,
            duplicates_trimmed=self._duplicates,
            queued_events=self._queued_events,
            next_event=self._next_event,
            last_error=self.errors[-1] if self.errors else None,
            last_warning=self.gaps[-1].detail if self.gaps else None,
            data_age_s=age,
        )

    def _state_at(self, now: float) -> FeedState:
        """The state, STALE when connected but silent for longer than ``stale_after_s``."""
        since = self._last_data if self._last_data is not None else self._connected_at
        if self._state is FeedState.LIVE and since is not None and now - since > self.stale_after_s:
            return FeedState.STALE
        return self._state

    @property
    def stale(self) -> bool:
        """True while signals should be suppressed: not LIVE with fresh data."""
        return self._state_at(self.clock()) is not FeedState.LIVE

    def entry_hold(self, signal: Any) -> str | None:
        """Why automation must not enter on ``signal`` now, or None: the feed is not LIVE (stale,
        reconnecting, ended), or the signal's event time is more than ``max_signal_age_s`` behind the
        wall clock (a backlog after a reconnect or a coalesced queue: the market has moved on).
        The pipeline asks this before the auto-trader acts (``Pipeline.entry_hold``)."""
        state = self._state_at(self.clock())
        if state is not FeedState.LIVE:
            return f"feed {state.value.lower()}: automatic entries hold"
        age_s = (self.wall_ns() - int(signal.ts_ns)) / 1e9
        if age_s > self.max_signal_age_s:
            return f"signal {age_s:.1f} s old (limit {self.max_signal_age_s:g} s): automatic entries hold"
        return None

    # ------------------------------------------------------------------ consumer side

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self._consume()

    async def _consume(self) -> AsyncIterator[np.ndarray]:
        if self._done:  # iterating again starts over, like re-reading a file
            self._reset()
        self._space = asyncio.Event()
        self._ready = asyncio.Event()
        reader = asyncio.create_task(self._run(), name=f"feed reader {self.info.source}")
        try:
            while True:
                if not self._queue:
                    if self._done:
                        break
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                batch, sent_ns = self._queue.popleft()
                self._queued_events -= len(batch)
                self._space.set()
                self.last_sent_ns = sent_ns
                yield batch
            if self._failure is not None:
                raise TapeflowError(self._failure)
        finally:
            await cancel_and_wait(reader)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iterate_in_thread(self)

    def _reset(self) -> None:
        self.stats = FeedStats()
        self.gaps, self.errors = [], []
        self._next_event, self._seq, self._outage, self._recovery_at = self._start_event, None, None, None
        self._queue.clear()
        self._queued_events = 0
        self._done, self._failure = False, None
        self._reconnects = self._dropped = self._coalesced = self._duplicates = self._lost = 0

    # ------------------------------------------------------------------ queue policy

    async def _put(self, batch: np.ndarray, sent_ns: int | None) -> None:
        q = self._queue
        if self.policy == "block":
            while q and (len(q) >= self.max_queue_batches or self._queued_events + len(batch) > self.max_queue_events):
                self._space.clear()
                await self._space.wait()
        elif len(q) >= self.max_queue_batches:
            if self.policy == "coalesce":
                old, old_sent = q.pop()
                self._queued_events -= len(old)
                batch = np.concatenate([old, batch])
                sent_ns = old_sent if old_sent is not None else sent_ns
                self._coalesced += 1
            else:
                self._drop_oldest()
        while q and self._queued_events + len(batch) > self.max_queue_events:
            self._drop_oldest()
        q.append((batch, sent_ns))
        self._queued_events += len(batch)
        self._ready.set()

    def _drop_oldest(self) -> None:
        old, _ = self._queue.popleft()
        self._queued_events -= len(old)
        self._dropped += len(old)
        self._lost += len(old)
        self._warn("dropped", None, len(old), False, f"consumer too slow: dropped {len(old):,} queued events")

    # ------------------------------------------------------------------ reader side

    def _warn(self, kind: str, at: int | None, missing: int, recovered: bool, detail: str) -> None:
        self.gaps.append(Gap(kind, at, missing, recovered, detail, self.wall_ns()))
        log.warning("%s: %s", self.info.source, detail)

    def _error(self, text: str) -> None:
        self.errors.append(text)
        log.warning("%s: %s", self.info.source, text)

    async def _run(self) -> None:
        fails = 0  # consecutive connections that failed before delivering any new event
        stalls = 0  # consecutive opened connections that ended without a new event
        try:
            while True:
                self._state = FeedState.RECONNECTING if self._reconnects or fails else FeedState.CONNECTING
                if fails:
                    if self.max_attempts is not None and fails >= self.max_attempts:
                        self._failure = (
                            f"{self.info.source}: giving up after {fails} failed connection attempts; "
                            f"last error: {self.errors[-1]}"
                        )
                        return
                    await asyncio.sleep(self.backoff.delay(fails - 1, self.rng()))
                try:
                    conn, opened = await self.connector.connect(self._next_event)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # any failure to connect is retried, never a crash
                    self._error(f"connect failed: {_describe(e)}")
                    fails += 1
                    continue
                self._on_open(opened)
                self._got_data = self._got_beat = False
                opened_at, dups_at_open = self._next_event, self._duplicates
                try:
                    if await self._read(conn):
                        return
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # garbage, oversized frames, timeouts, resets: reconnect
                    if not isinstance(e, (FeedError, OSError, TimeoutError)):
                        log.debug("feed reader error", exc_info=True)
                    self._error(_describe(e))
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close()
                fails = 0 if self._got_data else fails + 1
                quiet = self._got_beat and self._duplicates == dups_at_open  # alive, nothing to send
                stalls = 0 if self._got_data or quiet else stalls + 1
                self._reconnects += 1
                if stalls >= self.max_stalls:
                    at = f"event {opened_at:,}" if opened_at is not None else "the same point"
                    self._failure = (
                        f"{self.info.source}: giving up after {stalls} reconnects without progress: "
                        f"the stream stops at {at} every time; nothing from there on was received "
                        f"(last error: {self.errors[-1] if self.errors else 'connection lost'})"
                    )
                    self._error(self._failure)
                    return
                self._outage = (self._next_event, self.errors[-1] if self.errors else "connection lost")
                if not fails:
                    await asyncio.sleep(self.backoff.delay(0, self.rng()))
        finally:
            self._state = FeedState.ENDED
            self._done = True
            self._ready.set()

    def _on_open(self, opened: Opened) -> None:
        if opened.info is not None:
            self.info = opened.info
        self._seq = None
        self._connected_at = self.clock()
        self._state = FeedState.LIVE
        start = opened.start_event
        if self._outage is not None:
            at, why = self._outage
            self._outage = None
            if at is None or start is None:
                self._warn("outage", at, -1, False, f"reconnected after: {why}; events in between unknown")
            elif start <= at:
                self._warn("outage", at, 0, True, f"reconnected after: {why}; resumed at event {at:,}")
            else:
                self._warn("outage", at, start - at, False, f"reconnected after: {why}; could not resume at {at:,}")
        if start is not None and self._next_event is not None and start > self._next_event:
            missing = start - self._next_event
            self._lost += missing
            self._warn("events", self._next_event, missing, False,
                       f"source no longer has events {self._next_event:,}..{start - 1:,}: {missing:,} lost")
            self._next_event = start
        elif self._next_event is None:
            self._next_event = start

    async def _read(self, conn: Connection) -> bool:
        """Read one connection until it fails (raises) or the stream ends (True)."""
        while True:
            msg = await _recv(conn, self.heartbeat_timeout_s)
            if msg.__class__ is Data:
                self._check_seq(msg.seq)
                await self._on_data(msg)
            elif msg.__class__ is Beat:
                self._got_beat = True
                self._check_seq(msg.seq)
                if msg.next_event is not None and self._next_event is not None and msg.next_event > self._next_event:
                    self._recover(self._next_event, msg.next_event)
            else:
                assert isinstance(msg, Ended)
                if msg.next_event is not None and self._next_event is not None and msg.next_event > self._next_event:
                    self._recover(self._next_event, msg.next_event)
                for reason, n in msg.malformed.items():
                    self.stats.skip(reason, n)
                return True

    def _check_seq(self, seq: int | None) -> None:
        if seq is None:
            return
        if self._seq is not None and seq != self._seq + 1:
            self._warn("messages", self._next_event, -1, False, f"message sequence jumped from {self._seq} to {seq}")
        self._seq = seq

    def _recover(self, expected: int, got: int) -> None:
        """Events [expected, got) were skipped by the source: replay them once if possible."""
        if self._recovery_at != expected:
            self._recovery_at = expected
            raise FeedError(f"gap: expected event {expected:,}, stream is at {got:,}; reconnecting to replay")
        missing = got - expected
        self._lost += missing
        self._warn("events", expected, missing, False, f"events {expected:,}..{got - 1:,} missing: {missing:,} lost")
        self._next_event = got

    async def _on_data(self, msg: Data) -> None:
        events = msg.events
        if events.dtype != EVENT_DTYPE:
            raise FeedError(f"adapter bug: batch dtype {events.dtype} is not EVENT_DTYPE")
        if msg.first_event is not None and self._next_event is not None:
            if msg.first_event > self._next_event:
                self._recover(self._next_event, msg.first_event)
            elif msg.first_event < self._next_event:
                skip = self._next_event - msg.first_event
                self._duplicates += min(skip, len(events))
                events = events[skip:]
        if msg.first_event is not None:
            self._next_event = max(self._next_event or 0, msg.first_event + len(msg.events))
        now = self.clock()
        self._last_data = now
        if len(events):
            self._got_data = True  # progress: something the consumer did not have yet
        if msg.sent_ns is not None:
            self._lat.append(self.wall_ns() - msg.sent_ns)
        if not len(events):
            return
        self._rate.append((now, len(events)))
        if self.count_records:
            self.stats.records += len(events)
        self.stats.count_batch(events)
        await self._put(events, msg.sent_ns)


async def _recv(conn: Connection, timeout_s: float) -> Message:
    try:
        return await asyncio.wait_for(conn.recv(), timeout_s)
    except TimeoutError:
        raise FeedError(f"no message for {timeout_s:g} s (heartbeat timeout)") from None


def _describe(e: BaseException) -> str:
    text = str(e) or e.__class__.__name__
    return text if isinstance(e, TapeflowError) else f"{e.__class__.__name__}: {text}"


async def cancel_and_wait(task: asyncio.Task, grace_s: float = 1.0) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again each ``grace_s`` it runs on.

    Why again: on Python 3.11 ``asyncio.wait_for`` swallows a cancel that lands as the awaited
    call completes (fixed in 3.12), so a reader looping over ``wait_for(recv())`` can carry on
    reading after one cancel, and whoever awaits it would wait forever (seen: a terminal closing
    its Rithmic feed hung). The grace lets a task that did take the cancel finish its cleanup
    (closing its connection) uninterrupted."""
    task.cancel()
    while not task.done():
        await asyncio.wait({task}, timeout=grace_s)
        if not task.done():
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# ------------------------------------------------------------------ synchronous bridge

_DONE = object()


def iterate_in_thread(feed: LiveFeed, max_batches: int = 8) -> Iterator[np.ndarray]:
    """Iterate a live feed from synchronous code: its event loop runs on a private thread.

    Why a thread and not ``asyncio.run`` per batch: the socket reader, heartbeats and timeouts
    must keep running while the caller is busy with a batch; a loop that only runs between
    batches would see false heartbeat timeouts.
    """
    q: queue.Queue = queue.Queue(maxsize=max_batches)
    stop = threading.Event()
    loop = asyncio.new_event_loop()
    task_box: list[asyncio.Task] = []

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    async def pump() -> None:
        try:
            async for batch in feed:
                await asyncio.to_thread(put, batch)
            put(_DONE)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            put(e)

    def run() -> None:
        asyncio.set_event_loop(loop)
        task_box.append(loop.create_task(pump()))
        try:
            loop.run_until_complete(task_box[0])
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    thread = threading.Thread(target=run, name=f"feed {feed.info.source}", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if thread.is_alive() and task_box:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task_box[0].cancel)
        thread.join(timeout=5)
