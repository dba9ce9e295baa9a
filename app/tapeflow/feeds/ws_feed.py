"""Websocket feed client: any server speaking :mod:`tapeflow.feeds.wire` as a ``LiveSource``.

``WebsocketSource(url)`` is a :class:`~tapeflow.feeds.live_feed.LiveFeed` (reconnect, heartbeat
timeout, gap detection and resume from the next event, stale state, bounded queue, status) over
a websocket connector. Frames larger than ``max_frame_bytes`` or not decodable are recorded as a
clear error and the client reconnects (resuming where it was); nothing here raises into the
consumer except giving up after ``max_attempts`` failed connections or ``max_stalls``
reconnects in a row that brought no new event (a server that resends what we have, then stalls).

``open_ws_source(url)`` is what ``open_source`` returns for ``ws://`` URLs: it subscribes from
event 0 with the lossless ``block`` policy, so iterating it (synchronously, on a helper thread)
yields exactly the events the server's source holds, and ends at the server's ``end`` message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from tapeflow.core.events import Flag, Kind
from tapeflow.core.instruments import instrument, parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.feeds import wire
from tapeflow.feeds.base import FeedInfo
from tapeflow.feeds.live_feed import Beat, Data, Ended, FeedError, LiveFeed, Message, Opened

HELLO_TIMEOUT_S = 5.0


class WebsocketConnection:
    """One open websocket: frames in, normalized messages out."""

    def __init__(self, ws: ClientConnection, url: str, max_frame_bytes: int) -> None:
        self.ws = ws
        self.url = url
        self.max_frame_bytes = max_frame_bytes
        self.marks_events = False  # the source has set Flag.LAST on some row (it marks its event ends)

    async def recv_wire(self) -> wire.ServerMessage:
        try:
            frame = await self.ws.recv()
        except ConnectionClosed as e:
            codes = {f.code for f in (e.rcvd, e.sent) if f is not None}
            if 1009 in codes:
                raise FeedError(f"frame larger than max_frame_bytes={self.max_frame_bytes:,}: {e}") from None
            raise FeedError(f"connection closed: {e}") from None
        return wire.decode_server(frame)

    async def recv(self) -> Message:
        msg = await self.recv_wire()
        if isinstance(msg, wire.Batch):
            return Data(self._event_ends(wire.batch_events(msg)), msg.sent_ns, msg.seq, msg.first_event)
        if isinstance(msg, wire.Heartbeat):
            return Beat(msg.sent_ns, msg.seq, msg.next_event)
        if isinstance(msg, wire.End):
            return Ended(msg.next_event, dict(msg.malformed), msg.reason)
        if isinstance(msg, wire.Error):
            raise FeedError(f"server error: {msg.message}")
        raise FeedError(f"unexpected {type(msg).__name__.lower()} message (seq {msg.seq}) mid-stream")

    def _event_ends(self, events: np.ndarray) -> np.ndarray:
        """A signal acts at the end of its exchange event (``Flag.LAST``): a bridge that never marks
        event ends would hold every signal forever, so until a source has marked one, a batch with
        prints and no mark has each row taken as its own event (what such a source can promise)."""
        if not self.marks_events:
            if (events["flags"] & Flag.LAST).any():
                self.marks_events = True
            elif (events["kind"] == Kind.TRADE).any():
                events["flags"] |= np.uint8(Flag.LAST)
        return events

    async def close(self) -> None:
        await self.ws.close()


class WebsocketConnector:
    """Connects, subscribes from the event wanted, and reads the server's hello."""

    def __init__(self, url: str, *, encoding: wire.Encoding = "msgpack", max_frame_bytes: int = wire.MAX_FRAME_BYTES,
                 symbol: str | None = None, open_timeout_s: float = 5.0) -> None:
        self.name = url
        self.url = url
        self.encoding: wire.Encoding = encoding
        self.max_frame_bytes = max_frame_bytes
        self.symbol = symbol
        self.open_timeout_s = open_timeout_s

    async def connect(self, resume_from: int | None) -> tuple[WebsocketConnection, Opened]:
        try:
            ws = await connect(self.url, max_size=self.max_frame_bytes, compression=None,
                               open_timeout=self.open_timeout_s, max_queue=64)
        except (InvalidURI, InvalidHandshake) as e:
            raise FeedError(f"{self.url}: {e}") from None
        conn = WebsocketConnection(ws, self.url, self.max_frame_bytes)
        try:
            await ws.send(wire.encode(wire.Subscribe(from_event=resume_from, client="tapeflow"), self.encoding))
            hello = await _with_timeout(conn.recv_wire(), HELLO_TIMEOUT_S, "hello")
            if isinstance(hello, wire.Error):
                raise FeedError(f"server refused: {hello.message}")
            if not isinstance(hello, wire.Hello):
                raise FeedError(f"expected hello, got {type(hello).__name__.lower()}")
            if hello.protocol != wire.PROTOCOL:
                raise FeedError(f"server speaks protocol {hello.protocol}, we speak {wire.PROTOCOL}")
        except BaseException:
            await ws.close()
            raise
        return conn, Opened(self._info(hello), hello.start_event, hello.sent_ns)

    def _info(self, hello: wire.Hello) -> FeedInfo:
        root = self.symbol or hello.instrument
        try:
            inst = parse_symbol(root).instrument if self.symbol else instrument(root)
        except TapeflowError as e:
            raise FeedError(f"server names an instrument we do not know: {e}") from None
        return FeedInfo(
            source=self.url,
            schema=hello.schema,
            instrument=inst,
            symbols=list(hello.symbols),
            instrument_ids=dict(hello.instrument_ids),
            notes=[f"served from {hello.source}"],
        )


async def _with_timeout(aw: Any, timeout_s: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(aw, timeout_s)
    except TimeoutError:
        raise FeedError(f"no {what} within {timeout_s:g} s") from None


class WebsocketSource(LiveFeed):
    """A live feed from a ``ws://`` URL speaking the Tapeflow wire protocol.

    ``start_event``: event sequence number to start from (0: everything the server retains;
    ``None``: live from now). ``encoding``: ``'msgpack'`` (fast) or ``'json'``. Other keyword
    arguments are :class:`LiveFeed` settings (policy, timeouts, backoff, max_attempts, max_stalls, clock).
    """

    def __init__(self, url: str, *, start_event: int | None = None, encoding: wire.Encoding = "msgpack",
                 max_frame_bytes: int = wire.MAX_FRAME_BYTES, symbol: str | None = None, **feed_opts: Any) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise TapeflowError(f"{url}: not a websocket URL (expected ws://host:port)")
        connector = WebsocketConnector(url, encoding=encoding, max_frame_bytes=max_frame_bytes, symbol=symbol)
        inst = parse_symbol(symbol).instrument if symbol else instrument("ES")
        super().__init__(connector, FeedInfo(source=url, schema="unknown", instrument=inst), start_event=start_event,
                         **feed_opts)


def open_ws_source(url: str, *, symbol: str | None = None, **opts: Any) -> WebsocketSource:
    """The ``open_source`` entry for ``ws://`` URLs: everything from event 0, lossless, ends at
    the server's end-of-stream; gives up after 8 failed connection attempts (about 6 s)."""
    settings: dict[str, Any] = {"start_event": 0, "policy": "block", "max_attempts": 8}
    settings.update(opts)
    return WebsocketSource(url, symbol=symbol, **settings)

