"""The websocket feed's message format (protocol 1): what a custom source sends to Tapeflow.

Why a format of our own: any process (a bridge from another vendor, a recorder, ``tapeflow
serve-replay``) can feed the terminal by speaking a few small messages over one websocket.

Encodings. Every message is one websocket frame. Binary frames are msgpack, text frames are
JSON; the server answers in the encoding of the client's ``subscribe`` frame. Each message is a
map with a ``type`` field:

``subscribe`` (client -> server, first frame)
    ``protocol`` (1), ``from_event`` (event sequence number to start from; ``null`` = live, from
    the next event), ``client`` (free text).
``hello`` (server -> client, answer to subscribe)
    ``seq`` (0), ``sent_ns``, ``source``, ``schema``, ``instrument`` (root, e.g. ``ES``),
    ``symbols``, ``instrument_ids`` (id -> raw symbol), ``first_event`` (oldest event the server
    still retains: resuming earlier than this loses events), ``next_event`` (events published so
    far), ``start_event`` (where this connection's stream starts), ``heartbeat_s``.
``batch``
    ``seq``, ``sent_ns``, ``first_event`` (event sequence number of the first row), ``n`` rows and
    either ``rows`` (msgpack: ``n`` little-endian ``EVENT_DTYPE`` records, 56 bytes each, layout in
    :mod:`tapeflow.core.events`) or ``columns`` (JSON: one list of integers per
    ``EVENT_DTYPE`` field except ``spare``). Prices are integer ticks, times UTC ns. ``flags``
    should carry ``Flag.LAST`` on the last row of each exchange event: a signal acts after its
    event's last row. A source that never sets it has each row taken as its own event.
``heartbeat``
    ``seq``, ``sent_ns``, ``next_event``: sent when no other message went out for ``heartbeat_s``;
    lets an idle client tell "quiet market" from "dead link" and see a gap without data.
``end``
    ``seq``, ``sent_ns``, ``next_event`` (total events in the stream), ``malformed`` (reason ->
    records the source skipped), ``reason``: the stream is over; the client stops.
``error``
    ``seq``, ``sent_ns``, ``message``: the server refuses (e.g. a bad subscribe) and closes.

Sequencing. ``seq`` numbers every server message of one connection from 0 (hello) up by one, so
a lost or reordered message is seen at once. ``first_event``/``next_event`` number events across
connections (the Nth event of the stream is event N, from 0), which is what resuming uses: a
reconnecting client subscribes with ``from_event`` = the next event it needs.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import numpy as np

from tapeflow.core.events import EVENT_DTYPE
from tapeflow.errors import TapeflowError

PROTOCOL = 1
MAX_FRAME_BYTES = 16 << 20
"""Largest frame a client accepts by default (bytes): 16 MiB is about 300k events per batch."""

Encoding = Literal["msgpack", "json"]
ROW_BYTES = EVENT_DTYPE.itemsize
COLUMNS = tuple(n for n in EVENT_DTYPE.names or () if n != "spare")


class WireError(TapeflowError):
    """A frame that is not a valid protocol message (names what is wrong with it)."""


class Subscribe(msgspec.Struct, tag="subscribe", tag_field="type", frozen=True):
    protocol: int = PROTOCOL
    from_event: int | None = None
    client: str = ""


class Hello(msgspec.Struct, tag="hello", tag_field="type", frozen=True):
    seq: int
    sent_ns: int
    source: str
    schema: str
    instrument: str
    symbols: list[str] = []
    instrument_ids: dict[int, str] = {}
    first_event: int = 0
    next_event: int = 0
    start_event: int = 0
    heartbeat_s: float = 1.0
    protocol: int = PROTOCOL


class Batch(msgspec.Struct, tag="batch", tag_field="type", frozen=True):
    seq: int
    sent_ns: int
    first_event: int
    n: int
    rows: bytes | None = None
    columns: dict[str, list[int]] | None = None


class Heartbeat(msgspec.Struct, tag="heartbeat", tag_field="type", frozen=True):
    seq: int
    sent_ns: int
    next_event: int


class End(msgspec.Struct, tag="end", tag_field="type", frozen=True):
    seq: int
    sent_ns: int
    next_event: int
    malformed: dict[str, int] = {}
    reason: str = "end of source"


class Error(msgspec.Struct, tag="error", tag_field="type", frozen=True):
    seq: int
    sent_ns: int
    message: str


ServerMessage = Hello | Batch | Heartbeat | End | Error

_MP_ENC = msgspec.msgpack.Encoder()
_JSON_ENC = msgspec.json.Encoder()
_MP_SERVER = msgspec.msgpack.Decoder(ServerMessage)
_JSON_SERVER = msgspec.json.Decoder(ServerMessage)
_MP_SUB = msgspec.msgpack.Decoder(Subscribe)
_JSON_SUB = msgspec.json.Decoder(Subscribe)


def encode(msg: msgspec.Struct, encoding: Encoding) -> bytes | str:
    """One frame: ``bytes`` (binary frame) for msgpack, ``str`` (text frame) for JSON."""
    if encoding == "msgpack":
        return _MP_ENC.encode(msg)
    return _JSON_ENC.encode(msg).decode()


def decode_server(frame: bytes | str) -> ServerMessage:
    """A server message from a frame (binary = msgpack, text = JSON); ``WireError`` if invalid."""
    try:
        if isinstance(frame, str):
            return _JSON_SERVER.decode(frame)
        return _MP_SERVER.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        kind = "text" if isinstance(frame, str) else "binary"
        raise WireError(f"undecodable {kind} frame of {len(frame)} bytes: {e}") from None


def decode_subscribe(frame: bytes | str) -> tuple[Subscribe, Encoding]:
    """The client's subscribe and the encoding it chose; ``WireError`` if invalid."""
    try:
        if isinstance(frame, str):
            return _JSON_SUB.decode(frame), "json"
        return _MP_SUB.decode(frame), "msgpack"
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise WireError(f"invalid subscribe frame: {e}") from None


def make_batch(events: np.ndarray, seq: int, sent_ns: int, first_event: int, encoding: Encoding) -> Batch:
    """A batch message carrying ``events`` (raw rows for msgpack, integer columns for JSON)."""
    if encoding == "msgpack":
        return Batch(seq, sent_ns, first_event, len(events), rows=np.ascontiguousarray(events).tobytes())
    cols = {name: events[name].tolist() for name in COLUMNS}
    return Batch(seq, sent_ns, first_event, len(events), columns=cols)


def batch_events(msg: Batch) -> np.ndarray:
    """The ``EVENT_DTYPE`` rows of a batch message (a writable copy); ``WireError`` if malformed."""
    if msg.n < 0:
        raise WireError(f"batch seq {msg.seq}: negative row count {msg.n}")
    if msg.rows is not None:
        if len(msg.rows) != msg.n * ROW_BYTES:
            raise WireError(f"batch seq {msg.seq}: {len(msg.rows)} bytes of rows for n={msg.n} ({ROW_BYTES} each)")
        return np.frombuffer(msg.rows, dtype=EVENT_DTYPE).copy()
    if msg.columns is None:
        raise WireError(f"batch seq {msg.seq}: neither rows nor columns")
    out = np.zeros(msg.n, dtype=EVENT_DTYPE)
    for name in COLUMNS:
        col = msg.columns.get(name)
        if col is None:
            raise WireError(f"batch seq {msg.seq}: column {name!r} missing")
        if len(col) != msg.n:
            raise WireError(f"batch seq {msg.seq}: column {name!r} has {len(col)} values for n={msg.n}")
        try:
            out[name] = col
        except (OverflowError, ValueError, TypeError) as e:
            raise WireError(f"batch seq {msg.seq}: column {name!r}: {e}") from None
    return out
