"""Publish any source (a file, ``sim:``, a live feed) as a websocket feed on loopback.

Why: ``tapeflow serve-replay`` exercises the whole live path (connect, subscribe, stream,
reconnect, resume) end to end over a real socket, and lets a recording stand in for a vendor.

The server keeps the last ``retain_events`` events in one array; each client has its own cursor
into it, so a reconnecting client resumes from the event it needs (its ``from_event``) and a
slow client never slows the others. Playback starts when the first client subscribes (so a
client started after the server still sees the first event). At ``speed=None`` (as fast as
possible) the producer waits for the slowest connected client instead of evicting events it
has not sent yet; when paced, events older than the retention are evicted like a live feed, and
a client that falls that far behind sees the gap in ``first_event``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tapeflow.core.events import EVENT_DTYPE
from tapeflow.feeds import wire
from tapeflow.feeds.base import FeedInfo
from tapeflow.feeds.replay import Replay

SUBSCRIBE_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


class _Client:
    __slots__ = ("cursor", "wake")

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.wake = asyncio.Event()


class FeedServer:
    """A websocket server publishing ``source`` (an ``EventSource`` or an async iterable of batches).

    With ``source=None`` the server is a hub: the application calls ``publish(batch)`` and
    ``end_stream()`` itself (a bridge from another feed, a benchmark, a test).

    ``speed``: 1.0 real time, 10.0 ten times faster, ``None`` as fast as possible (paced by the
    ``Replay`` driver). ``heartbeat_s``: idle interval before a heartbeat (s). ``max_batch_rows``:
    most events per batch message. ``port=0`` picks a free port (read ``.port`` after ``start``).
    """

    def __init__(
        self,
        source: Iterable[np.ndarray] | AsyncIterable[np.ndarray] | None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = None,
        heartbeat_s: float = 1.0,
        retain_events: int = 4_000_000,
        max_batch_rows: int = 8192,
        wait_for_subscriber: bool = True,
        info: FeedInfo | None = None,
    ) -> None:
        self.source = source
        self.host = host
        self.port = port
        self.speed = speed
        self.heartbeat_s = heartbeat_s
        self.retain_events = max(1, retain_events)
        self.max_batch_rows = max(1, max_batch_rows)
        self.wait_for_subscriber = wait_for_subscriber
        self.info: FeedInfo | None = info or getattr(source, "info", None)
        self._buf = np.zeros(1024, dtype=EVENT_DTYPE)
        self._base = 0  # event sequence number of _buf[0]
        self._n = 0  # rows in _buf
        self._ended = False
        self.end_reason = "end of source"
        self._closing = False
        self._clients: set[_Client] = set()
        self._conns: set[ServerConnection] = set()
        self._progress = asyncio.Event()
        self._subscribed = asyncio.Event()
        self.finished = asyncio.Event()
        self._server: Server | None = None
        self._producer: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def next_event(self) -> int:
        """Events published so far (the next event's sequence number)."""
        return self._base + self._n

    async def start(self) -> None:
        self._server = await serve(self._handle, self.host, self.port, compression=None, max_size=1 << 16)
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        if self.source is not None:
            self._producer = asyncio.create_task(self._produce(), name="feed producer")

    def publish(self, batch: np.ndarray) -> None:
        """Append a batch to the stream (hub mode); clients get it at once."""
        if self._ended:
            raise RuntimeError("publish after end_stream")
        if len(batch):
            self._append(batch)
            self._wake()

    def end_stream(self) -> None:
        """Mark the stream complete: clients get an ``end`` message once they have every event."""
        self._ended = True
        self.finished.set()
        self._wake()

    async def stop(self, *, abort: bool = False) -> None:
        """Stop serving; ``abort=True`` drops connections without a close handshake (a crash)."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        if self._server is None:
            return
        self._closing = True
        self._wake()
        if abort:
            for conn in list(self._conns):
                conn.transport.abort()
        self._server.close(close_connections=not abort)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ producing

    def _batches(self) -> AsyncIterator[np.ndarray]:
        src = self.source
        if hasattr(src, "__aiter__"):
            return aiter(src)  # type: ignore[arg-type]
        return aiter(Replay(src, self.speed, max_batch=self.max_batch_rows))  # type: ignore[arg-type]

    async def _produce(self) -> None:
        if self.wait_for_subscriber:
            await self._subscribed.wait()
        try:
            async for batch in self._batches():
                if not len(batch):
                    continue
                if self.speed is None:
                    while self._clients and self.next_event + len(batch) - self._slowest() > self.retain_events:
                        self._progress.clear()
                        await self._progress.wait()
                self.publish(batch)
                await asyncio.sleep(0)
        except Exception as e:  # a source that fails ends the stream with the reason, clients are told
            log.error("%s: source failed: %s", self.url, e)
            self.end_reason = f"source failed: {e}"
        self.end_stream()

    def _slowest(self) -> int:
        return min(c.cursor for c in self._clients)

    def _append(self, batch: np.ndarray) -> None:
        if len(batch) > self.retain_events:  # keep only the batch's tail
            skip = len(batch) - self.retain_events
            self._base += self._n + skip
            self._n = 0
            batch = batch[skip:]
        need = self._n + len(batch)
        if need > self.retain_events:
            drop = need - self.retain_events
            self._buf[: self._n - drop] = self._buf[drop : self._n]
            self._n -= drop
            self._base += drop
            need = self._n + len(batch)
        if need > len(self._buf):
            grown = np.zeros(max(need, 2 * len(self._buf)), dtype=EVENT_DTYPE)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n : need] = batch
        self._n = need

    def _wake(self) -> None:
        for c in self._clients:
            c.wake.set()

    # ------------------------------------------------------------------ serving one client

    async def _handle(self, ws: ServerConnection) -> None:
        self._conns.add(ws)
        try:
            await self._serve(ws)
        except ConnectionClosed:
            pass
        finally:
            self._conns.discard(ws)

    async def _serve(self, ws: ServerConnection) -> None:
        try:
            frame = await asyncio.wait_for(ws.recv(), SUBSCRIBE_TIMEOUT_S)
            sub, enc = wire.decode_subscribe(frame)
        except (TimeoutError, wire.WireError) as e:
            await ws.send(wire.encode(wire.Error(0, time.time_ns(), f"expected a subscribe frame: {e}"), "json"))
            return
        if sub.protocol != wire.PROTOCOL:
            await ws.send(wire.encode(wire.Error(0, time.time_ns(), f"protocol {sub.protocol} unsupported"), enc))
            return
        start = self.next_event if sub.from_event is None else max(sub.from_event, 0)
        client = _Client(start)
        await ws.send(wire.encode(self._hello(start), enc))
        self._clients.add(client)
        self._subscribed.set()
        try:
            await self._stream(ws, client, enc)
        finally:
            self._clients.discard(client)
            self._progress.set()

    def _hello(self, start: int) -> wire.Hello:
        info = self.info
        return wire.Hello(
            seq=0,
            sent_ns=time.time_ns(),
            source=str(info.source) if info else "unknown",
            schema=info.schema if info else "unknown",
            instrument=info.instrument.root if info else "ES",
            symbols=list(info.symbols) if info else [],
            instrument_ids=dict(info.instrument_ids) if info else {},
            first_event=self._base,
            next_event=self.next_event,
            start_event=max(start, self._base),
            heartbeat_s=self.heartbeat_s,
        )

    async def _stream(self, ws: ServerConnection, client: _Client, enc: wire.Encoding) -> None:
        seq = 0
        while not self._closing:
            if client.cursor < self._base:
                client.cursor = self._base  # evicted while this client lagged: it sees the jump
            if client.cursor < self.next_event:
                lo = client.cursor - self._base
                hi = min(self._n, lo + self.max_batch_rows)
                rows = self._buf[lo:hi]
                seq += 1
                await ws.send(wire.encode(wire.make_batch(rows, seq, time.time_ns(), client.cursor, enc), enc))
                client.cursor += hi - lo
                self._progress.set()
                continue
            if self._ended:
                seq += 1
                malformed = dict(getattr(getattr(self.source, "stats", None), "malformed", {}) or {})
                end = wire.End(seq, time.time_ns(), self.next_event, malformed, self.end_reason)
                await ws.send(wire.encode(end, enc))
                await ws.close()
                return
            client.wake.clear()
            try:
                await asyncio.wait_for(client.wake.wait(), self.heartbeat_s)
            except TimeoutError:
                seq += 1
                await ws.send(wire.encode(wire.Heartbeat(seq, time.time_ns(), self.next_event), enc))
