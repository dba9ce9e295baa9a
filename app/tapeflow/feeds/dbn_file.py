"""Databento DBN files (``.dbn`` or ``.dbn.zst``) as a stream of normalized event batches.

The metadata header is decoded by ``databento_dbn`` (it knows every DBN version's header); the
records are normalized with numpy over the raw bytes, one chunk (``batch_size`` records) at a
time, because a Python loop over decoder objects is an order of magnitude slower. The record
layouts below are the DBN v1-v3 ``TradeMsg``/``Mbp1Msg``/``Mbp10Msg``/``MboMsg`` structs
(little-endian, packed; unchanged across those versions); the tests check them field by field
against the decoder's objects.

Every record is validated (length byte, rtype for the schema, action, side, price on the tick
grid). A record that fails is counted in ``stats.malformed`` under its reason and skipped; bytes
that cannot be framed as records are skipped up to the next plausible record and counted once
per gap; a short tail is a ``truncated final record``. Only a file that is not DBN at all (or a
schema we do not read) raises ``TapeflowError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import databento_dbn as dbn
import numpy as np
import zstandard

from tapeflow.core.events import EVENT_DTYPE, LEVEL_UNKNOWN, NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import PRICE_SCALE, Instrument, parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.prices import MAX_SIZE, PriceBand

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DBN_MAGIC = b"DBN"
UNDEF_PRICE = np.iinfo(np.int64).max
"""DBN's "no price" (an empty book side, a clear)."""

F_LAST = 0x80
F_SNAPSHOT = 0x20
_MAX_METADATA = 64 << 20  # a header longer than 64 MiB is not a DBN header

_HEADER = [
    ("length", "u1"),  # record length in 4-byte words
    ("rtype", "u1"),
    ("publisher_id", "<u2"),
    ("instrument_id", "<u4"),
    ("ts_event", "<u8"),
]
_TRADE_BODY = [
    ("price", "<i8"),
    ("size", "<u4"),
    ("action", "u1"),
    ("side", "u1"),
    ("flags", "u1"),
    ("depth", "u1"),
    ("ts_recv", "<u8"),
    ("ts_in_delta", "<i4"),
    ("sequence", "<u4"),
]
BID_ASK_DTYPE = np.dtype(
    [
        ("bid_px", "<i8"),
        ("ask_px", "<i8"),
        ("bid_sz", "<u4"),
        ("ask_sz", "<u4"),
        ("bid_ct", "<u4"),
        ("ask_ct", "<u4"),
    ]
)
_MBO_BODY = [
    ("order_id", "<u8"),
    ("price", "<i8"),
    ("size", "<u4"),
    ("flags", "u1"),
    ("channel_id", "u1"),
    ("action", "u1"),
    ("side", "u1"),
    ("ts_recv", "<u8"),
    ("ts_in_delta", "<i4"),
    ("sequence", "<u4"),
]


def record_dtype(schema: str, ts_out: bool = False) -> np.dtype:
    """The packed numpy dtype of one DBN record of ``schema`` (48/80/368/56 bytes, +8 with ts_out)."""
    if schema == "trades":
        fields = _HEADER + _TRADE_BODY
    elif schema in ("mbp-1", "tbbo"):
        fields = [*_HEADER, *_TRADE_BODY, ("levels", BID_ASK_DTYPE, (1,))]
    elif schema == "mbp-10":
        fields = [*_HEADER, *_TRADE_BODY, ("levels", BID_ASK_DTYPE, (10,))]
    elif schema == "mbo":
        fields = _HEADER + _MBO_BODY
    else:
        raise KeyError(schema)
    if ts_out:
        fields = [*fields, ("ts_out", "<u8")]
    return np.dtype(fields)


SCHEMA_RTYPES: dict[str, tuple[int, ...]] = {
    "trades": (dbn.RType.MBP_0.value,),
    # Newer databento-dbn releases give TBBO its own rtype; older ones (which the `databento`
    # client may pin) only have MBP_1, so the TBBO value is optional.
    "tbbo": tuple(r.value for r in (dbn.RType.MBP_1, getattr(dbn.RType, "TBBO", None)) if r is not None),
    "mbp-1": (dbn.RType.MBP_1.value,),
    "mbp-10": (dbn.RType.MBP_10.value,),
    "mbo": (dbn.RType.MBO.value,),
}
"""Record types accepted for each schema we read."""

_KNOWN_RTYPES = frozenset(int(r.value) for r in dbn.RType.variants())
_ACTIONS = np.frombuffer(b"ACMRTFN", dtype=np.uint8)
_SIDE_CODES = {ord("B"): Side.BUY, ord("A"): Side.SELL, ord("N"): Side.NONE}


# --------------------------------------------------------------------------------------------
# Opening: magic bytes, decompression, metadata
# --------------------------------------------------------------------------------------------


def sniff_dbn(head: bytes) -> str | None:
    """``'zstd'`` or ``'dbn'`` from a file's first bytes, else ``None``."""
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(DBN_MAGIC):
        return "dbn"
    return None


def _open_stream(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(raw file, stream of DBN bytes) for a raw or zstd-compressed file."""
    raw = path.open("rb")
    head = raw.read(4)
    raw.seek(0)
    kind = sniff_dbn(head)
    if kind is None:
        raw.close()
        what = "an empty file" if not head else "neither zstd nor DBN (no DBN or zstd magic bytes)"
        raise TapeflowError(f"{path}: not a DBN file: {what}")
    if kind == "zstd":
        return raw, _ZstdStream(raw)
    return raw, raw


class _ZstdStream:
    """Decompressed bytes of every zstd frame in ``raw``, fed in small pieces so the blocks
    before a corrupt one are still delivered. It never raises: corrupt data ends the stream
    with ``corrupt`` set to the reason, and ``truncated`` is set when the input ends inside a
    frame (a cut-off download), which zstandard's ``stream_reader`` passes over in silence."""

    _IN = 1 << 16

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.truncated = False
        self.corrupt: str | None = None
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._out = bytearray()
        self._in_frame = False
        self._eof = False

    def read(self, n: int) -> bytes:
        while len(self._out) < n and not self._eof:
            data = self.raw.read(self._IN)
            if not data:
                self._eof = True
                self.truncated = self._in_frame
                break
            try:
                self._decompress(data)
            except zstandard.ZstdError as e:
                self.corrupt = str(e)
                self._eof = True
        out = bytes(self._out[:n])
        del self._out[:n]
        return out

    def _decompress(self, data: bytes) -> None:
        while data:
            self._in_frame = True
            self._out += self._obj.decompress(data)
            if not self._obj.eof:
                return
            self._in_frame = False
            data = self._obj.unused_data
            self._obj = self._dctx.decompressobj()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at end of stream)."""
    parts, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _read_metadata(path: Path, stream: BinaryIO) -> dbn.Metadata:
    """Decode the DBN metadata header, leaving ``stream`` at the first record."""
    prefix = _read_exact(stream, 8)
    corrupt = getattr(stream, "corrupt", None)
    if len(prefix) < 8 and corrupt:
        raise TapeflowError(f"{path}: corrupt zstd data: {corrupt}")
    if len(prefix) < 8 or not prefix.startswith(DBN_MAGIC):
        raise TapeflowError(f"{path}: not a DBN file: decompressed data has no DBN header")
    (length,) = struct.unpack_from("<I", prefix, 4)
    if length > _MAX_METADATA:
        raise TapeflowError(f"{path}: not a DBN file: metadata length {length} is implausible")
    body = _read_exact(stream, length)
    corrupt = getattr(stream, "corrupt", None)
    if len(body) < length and corrupt:
        raise TapeflowError(f"{path}: corrupt zstd data in the DBN metadata header: {corrupt}")
    if len(body) < length:
        raise TapeflowError(f"{path}: DBN metadata header is truncated ({len(body)} of {length} bytes)")
    decoder = dbn.DBNDecoder()
    try:
        decoder.write(prefix + body)
        items = decoder.decode()
    except Exception as e:  # the decoder raises its own error types for bad headers
        raise TapeflowError(f"{path}: invalid DBN metadata: {e}") from None
    if not items or not isinstance(items[0], dbn.Metadata):
        raise TapeflowError(f"{path}: invalid DBN metadata header")
    return items[0]


def _schema_name(path: Path, meta: dbn.Metadata) -> str:
    schema = str(meta.schema) if meta.schema is not None else "mixed"
    if schema not in SCHEMA_RTYPES:
        supported = ", ".join(SCHEMA_RTYPES)
        raise TapeflowError(f"{path}: DBN schema {schema!r} is not supported (supported: {supported})")
    return schema


def _instrument_for(path: Path, symbols: list[str], override: Instrument | str | None) -> Instrument:
    """The product from the metadata symbols (``ESU4`` -> ES) unless the caller names one."""
    if isinstance(override, Instrument):
        return override
    if isinstance(override, str):
        return parse_symbol(override).instrument
    found: set[str] = set()
    insts: list[Instrument] = []
    for sym in symbols:
        head = sym.split(".")[0]  # continuous 'ES.c.0' and parent 'ES.FUT' name the root first
        try:
            inst = parse_symbol(head).instrument
        except TapeflowError:
            continue
        if inst.root not in found:
            found.add(inst.root)
            insts.append(inst)
    if len(insts) != 1:
        why = "names several products" if insts else "names no product we know"
        raise TapeflowError(f"{path}: DBN symbols {symbols} {why}; pass instrument= (e.g. 'ES')")
    return insts[0]


def _instrument_ids(meta: dbn.Metadata) -> dict[int, str]:
    """instrument_id -> raw symbol from the metadata mappings."""
    out: dict[int, str] = {}
    for raw_symbol, intervals in (meta.mappings or {}).items():
        for iv in intervals:
            sym = iv["symbol"] if isinstance(iv, dict) else getattr(iv, "symbol", "")
            if str(sym).isdigit():
                out[int(sym)] = raw_symbol
    return out


# --------------------------------------------------------------------------------------------
# Framing: raw bytes -> fixed-size records, with resynchronization after bad bytes
# --------------------------------------------------------------------------------------------


class RecordFramer:
    """Cuts a byte stream into records of one fixed size, skipping (and reporting) what doesn't fit.

    The fast path checks the length and rtype bytes of a whole chunk at once. A mismatch is
    either a well-framed record of another type (skipped by its own length) or unreadable bytes
    (skipped to the next offset where two consecutive records look right).
    """

    def __init__(self, record_size: int, rtypes: tuple[int, ...], schema: str) -> None:
        self.size = record_size
        self.words = record_size // 4
        self.rtypes = rtypes
        self.schema = schema
        self._buf = b""
        self._in_gap = False

    def _ok(self, length: np.ndarray, rtype: np.ndarray) -> np.ndarray:
        good = rtype == self.rtypes[0]
        for r in self.rtypes[1:]:
            good |= rtype == r
        return good & (length == self.words)

    def feed(self, data: bytes, eof: bool, skip: list[tuple[str, int]]) -> np.ndarray:
        """Frame ``data`` (appended to the leftover) into a uint8 array of shape (n, record_size).

        Reasons for skipped bytes are appended to ``skip``; at ``eof`` nothing is left over.
        """
        buf = self._buf + data if self._buf else data
        arr = np.frombuffer(buf, dtype=np.uint8)
        n, size, pos = len(arr), self.size, 0
        pieces: list[np.ndarray] = []
        while n - pos >= size:
            k = (n - pos) // size
            block = arr[pos : pos + k * size].reshape(k, size)
            ok = self._ok(block[:, 0], block[:, 1])
            bad = int(np.argmin(ok)) if not ok.all() else k
            if bad:
                pieces.append(block[:bad])
                pos += bad * size
                self._in_gap = False
            if bad == k:
                break
            step = self._skip_bad(arr, pos, eof, skip)
            if step is None:  # need more bytes to decide
                break
            pos = step
        if eof:
            tail = n - pos
            if tail and not self._in_gap:
                skip.append(("truncated final record", 1))
            pos = n
        self._buf = bytes(buf[pos:]) if pos < n else b""
        if not pieces:
            return np.empty((0, size), dtype=np.uint8)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def _skip_bad(self, arr: np.ndarray, pos: int, eof: bool, skip: list[tuple[str, int]]) -> int | None:
        """New position after the bad bytes at ``pos`` (``None``: wait for more data)."""
        n = len(arr)
        length, rtype = int(arr[pos]) * 4, int(arr[pos + 1])
        end = pos + length
        if (
            length >= 16
            and rtype in _KNOWN_RTYPES
            and end <= n
            and self._plausible_start(arr, end, eof)
            and not self._framed_within(arr, pos, end)
        ):
            if rtype in self.rtypes:
                reason = f"bad record length {length} for {self.schema}"
            else:
                reason = f"record type 0x{rtype:02x} is not {self.schema}"
            skip.append((reason, 1))
            self._in_gap = False
            return end
        nxt = self._resync(arr, pos + 1, eof)
        if not self._in_gap:
            skip.append(("unreadable bytes (bad record length or type)", 1))
            self._in_gap = True
        if nxt is None:
            return None if not eof else n
        return nxt

    def _framed_within(self, arr: np.ndarray, pos: int, end: int) -> bool:
        """True when two of our records frame cleanly starting inside ``(pos, end)``: then the
        length byte at ``pos`` is a flipped bit, not a foreign record to skip whole (trusting it
        would throw away the good records it covers)."""
        window = arr[: min(len(arr), end + self.size + 2)]
        nxt = self._resync(window, pos + 1, eof=False)
        return nxt is not None and nxt < end

    def _plausible_start(self, arr: np.ndarray, at: int, eof: bool) -> bool:
        if at + 2 > len(arr):
            return eof and at == len(arr)
        return bool(self._ok(arr[at : at + 1], arr[at + 1 : at + 2])[0]) or (
            int(arr[at]) >= 4 and int(arr[at + 1]) in _KNOWN_RTYPES
        )

    def _resync(self, arr: np.ndarray, start: int, eof: bool) -> int | None:
        """First offset >= start where a record (and the one after it, if present) looks right."""
        n, size = len(arr), self.size
        if n - start < 2:
            return None
        cand = np.flatnonzero(self._ok(arr[start : n - 1], arr[start + 1 : n])) + start
        for c in cand.tolist():
            nxt = c + size
            if nxt + 2 <= n:
                if self._ok(arr[nxt : nxt + 1], arr[nxt + 1 : nxt + 2])[0]:
                    return c
            elif eof and nxt == n:
                return c
            elif not eof:
                return None  # not enough bytes to confirm; wait for more
        return None


# --------------------------------------------------------------------------------------------
# Normalization: records -> EVENT_DTYPE rows
# --------------------------------------------------------------------------------------------


def _side_of(codes: np.ndarray) -> np.ndarray:
    """DBN side bytes ('B'/'A'/'N') to ``Side`` values (int8)."""
    out = np.zeros(len(codes), dtype=np.int8)
    out[codes == ord("B")] = Side.BUY
    out[codes == ord("A")] = Side.SELL
    return out


def _to_ticks(px: np.ndarray, tick: int) -> tuple[np.ndarray, np.ndarray]:
    """(ticks with NO_PRICE for undefined, mask of defined prices off the tick grid)."""
    undef = px == UNDEF_PRICE
    q, r = np.divmod(px, tick)
    off = (r != 0) & ~undef
    return np.where(undef, NO_PRICE, q), off


def _event_flags(raw: np.ndarray) -> np.ndarray:
    out = np.zeros(len(raw), dtype=np.uint8)
    out[(raw & F_LAST) != 0] |= np.uint8(Flag.LAST)
    out[(raw & F_SNAPSHOT) != 0] |= np.uint8(Flag.SNAPSHOT)
    return out


def _validate(
    recs: np.ndarray, schema: str, tick: int, band: PriceBand | None = None
) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Keep-mask and (reason, count) for records whose content is unusable.

    ``band`` carries the reference price across chunks of one stream (see ``feeds.prices``);
    without one, prices are judged against this chunk's median."""
    bad = np.zeros(len(recs), dtype=bool)
    reasons: list[tuple[str, int]] = []

    def reject(mask: np.ndarray, reason: str) -> None:
        new = mask & ~bad
        if new.any():
            reasons.append((reason, int(new.sum())))
            bad[:] |= new

    action, side = recs["action"], recs["side"]
    reject(~np.isin(action, _ACTIONS), "unknown action")
    reject(~np.isin(side, np.frombuffer(b"ABN", dtype=np.uint8)), "unknown side")
    px = np.ascontiguousarray(recs["price"])  # one gather: the passes below then run over contiguous memory
    undef = px == UNDEF_PRICE
    reject((px % tick != 0) & ~undef, "off-tick price")
    is_trade = action == ord("T")
    band = band if band is not None else PriceBand(PRICE_SCALE)
    for reason, mask in band.reasons(px, is_trade, undef):
        reject(mask, reason)
    if schema == "trades":
        reject(~is_trade, "non-trade action in trades schema")
    if schema == "mbo":
        needs_price = np.isin(action, np.frombuffer(b"ACMTF", dtype=np.uint8))
        reject(needs_price & undef, "undefined order price")
        book_change = np.isin(action, np.frombuffer(b"ACM", dtype=np.uint8))
        reject(book_change & (side == ord("N")), "order without side")
    else:
        reject(is_trade & undef, "undefined trade price")
    size = np.ascontiguousarray(recs["size"])
    reject(is_trade & (size == 0), "zero-size trade")
    reject(size > MAX_SIZE, "implausible size")
    if "levels" in (recs.dtype.names or ()):
        lv = recs["levels"]
        for col in ("bid_px", "ask_px"):
            p = lv[col]
            undef_l = p == UNDEF_PRICE
            reject(((p % tick != 0) & ~undef_l).any(axis=1), "off-tick price")
            for reason, mask in band.reasons(p, ignore=undef_l):
                reject(mask.any(axis=1), reason)
        for col in ("bid_sz", "ask_sz"):
            reject((lv[col] > MAX_SIZE).any(axis=1), "implausible size")
    band.accept()
    return ~bad, reasons


def _prev_index(iid: np.ndarray) -> np.ndarray:
    """For each record the index of the previous record of the same instrument (-1 if none)."""
    n = len(iid)
    prev = np.arange(-1, n - 1, dtype=np.int64)
    if n and (iid == iid[0]).all():
        return prev
    order = np.argsort(iid, kind="stable")
    s = iid[order]
    prev = np.empty(n, dtype=np.int64)
    prev[order[1:]] = order[:-1]
    first = np.ones(n, dtype=bool)
    first[1:] = s[1:] != s[:-1]
    prev[order[first]] = -1
    return prev


class _Normalizer:
    """Record arrays of one schema -> event batches, carrying book state across chunks."""

    def __init__(self, schema: str, tick: int) -> None:
        self.schema = schema
        self.tick = tick
        self._last_levels: dict[int, np.ndarray] = {}  # instrument_id -> (6, L) of the last record

    def __call__(self, recs: np.ndarray) -> np.ndarray:
        if self.schema == "mbo":
            return self._mbo(recs)
        return self._mbp(recs)

    def _base(self, recs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        out = np.zeros(len(idx), dtype=EVENT_DTYPE)
        for name in ("ts_event", "ts_recv", "sequence", "instrument_id", "action"):
            out[name] = recs[name][idx]  # per field: gathering whole packed records is slow
        return out

    def _mbo(self, recs: np.ndarray) -> np.ndarray:
        out = self._base(recs, np.arange(len(recs)))
        action = recs["action"]
        kind = np.full(len(recs), Kind.ORDER, dtype=np.uint8)
        kind[action == ord("T")] = Kind.TRADE
        kind[action == ord("R")] = Kind.CLEAR
        out["kind"] = kind
        out["order_id"] = recs["order_id"]
        out["side"] = _side_of(recs["side"])
        out["price"] = _to_ticks(recs["price"], self.tick)[0]
        out["size"] = recs["size"]
        out["flags"] = _event_flags(recs["flags"])
        out["level"] = LEVEL_UNKNOWN
        return out

    def _level_matrix(self, recs: np.ndarray) -> np.ndarray:
        """(n, 6, L) int64: bid px, ask px (ticks), bid sz, ask sz, bid ct, ask ct."""
        lv = recs["levels"]
        bid = _to_ticks(lv["bid_px"].astype(np.int64), self.tick)[0]
        ask = _to_ticks(lv["ask_px"].astype(np.int64), self.tick)[0]
        cols = [bid, ask, lv["bid_sz"], lv["ask_sz"], lv["bid_ct"], lv["ask_ct"]]
        return np.stack([c.astype(np.int64) for c in cols], axis=1)

    def _previous(self, recs: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """Level matrix of each record's predecessor (same instrument), from the carry if first."""
        iid = recs["instrument_id"]
        prev_idx = _prev_index(iid)
        prev = cur[np.maximum(prev_idx, 0)].copy()
        firsts = np.flatnonzero(prev_idx < 0)
        empty = np.zeros(cur.shape[1:], dtype=np.int64)
        empty[0:2] = NO_PRICE
        for i in firsts.tolist():
            prev[i] = self._last_levels.get(int(iid[i]), empty)
        for inst in np.unique(iid).tolist():
            last = int(np.flatnonzero(iid == inst)[-1])
            self._last_levels[inst] = cur[last].copy()
        return prev

    def _mbp(self, recs: np.ndarray) -> np.ndarray:
        n = len(recs)
        action = recs["action"]
        has_levels = "levels" in (recs.dtype.names or ())
        depth = recs["levels"].shape[1] if has_levels else 0
        # Slots per record, in emission order: clear, (bid, ask) per level, trade.
        n_slots = 2 + 2 * depth
        mask = np.zeros((n, n_slots), dtype=bool)
        is_clear = action == ord("R")
        mask[:, 0] = is_clear
        mask[:, -1] = action == ord("T")
        if has_levels:
            cur = self._level_matrix(recs)
            prev = self._previous(recs, cur)
            changed_bid = (cur[:, [0, 2, 4]] != prev[:, [0, 2, 4]]).any(axis=1)
            changed_ask = (cur[:, [1, 3, 5]] != prev[:, [1, 3, 5]]).any(axis=1)
            nonempty_bid = cur[:, 2] > 0
            nonempty_ask = cur[:, 3] > 0
            mask[:, 1:-1:2] = changed_bid | (is_clear[:, None] & nonempty_bid)
            mask[:, 2:-1:2] = changed_ask | (is_clear[:, None] & nonempty_ask)
        rec_idx, slot = np.nonzero(mask)
        out = self._base(recs, rec_idx)
        raw_flags = recs["flags"][rec_idx]
        out["flags"] = _event_flags(raw_flags) & ~np.uint8(Flag.LAST)
        last_of_rec = np.ones(len(rec_idx), dtype=bool)
        last_of_rec[:-1] = rec_idx[1:] != rec_idx[:-1]
        out["flags"][last_of_rec & ((raw_flags & F_LAST) != 0)] |= np.uint8(Flag.LAST)
        out["level"] = LEVEL_UNKNOWN

        t = slot == n_slots - 1
        out["kind"][t] = Kind.TRADE
        tr = rec_idx[t]
        out["price"][t] = _to_ticks(recs["price"][tr], self.tick)[0]
        out["size"][t] = recs["size"][tr]
        out["side"][t] = _side_of(recs["side"][tr])

        out["kind"][slot == 0] = Kind.CLEAR
        lvl = (slot >= 1) & (slot < n_slots - 1)
        if lvl.any():
            li = rec_idx[lvl]
            s = slot[lvl] - 1
            level, is_ask = s // 2, s % 2
            out["kind"][lvl] = Kind.LEVEL
            out["level"][lvl] = level
            out["side"][lvl] = np.where(is_ask == 1, Side.SELL, Side.BUY)
            out["price"][lvl] = cur[li, is_ask, level]
            out["size"][lvl] = cur[li, 2 + is_ask, level]
            out["count"][lvl] = cur[li, 4 + is_ask, level]
        return out


# --------------------------------------------------------------------------------------------
# The source
# --------------------------------------------------------------------------------------------


class DbnFileSource:
    """An ``EventSource`` over one DBN file: iterate it for event batches in file order.

    ``instrument`` overrides the product found in the metadata symbols (an ``Instrument`` or a
    symbol such as ``'ES'``); ``batch_size`` is the number of records normalized per batch.
    Iterating again re-reads the file from the start (stats are reset).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        instrument: Instrument | str | None = None,
        batch_size: int = 65536,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise TapeflowError(f"{self.path}: no such file")
        if batch_size < 1:
            raise TapeflowError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        raw, stream = _open_stream(self.path)
        try:
            self.metadata = _read_metadata(self.path, stream)
        finally:
            raw.close()
        self.schema = _schema_name(self.path, self.metadata)
        symbols = [str(s) for s in (self.metadata.symbols or [])]
        inst = _instrument_for(self.path, symbols, instrument)
        self.record_dtype = record_dtype(self.schema, bool(self.metadata.ts_out))
        self.info = FeedInfo(
            source=str(self.path),
            schema=self.schema,
            instrument=inst,
            symbols=symbols,
            instrument_ids=_instrument_ids(self.metadata),
            start_ns=self.metadata.start,
            end_ns=self.metadata.end,
        )
        self.stats = FeedStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        self.stats = FeedStats()
        tick = self.info.instrument.tick_size_nanos
        size = self.record_dtype.itemsize
        framer = RecordFramer(size, SCHEMA_RTYPES[self.schema], self.schema)
        normalize = _Normalizer(self.schema, tick)
        band = PriceBand(PRICE_SCALE)
        raw, stream = _open_stream(self.path)
        try:
            _read_metadata(self.path, stream)
            eof = False
            while not eof:
                data, eof = self._read_chunk(stream, size * self.batch_size)
                skips: list[tuple[str, int]] = []
                block = framer.feed(data, eof, skips)
                for reason, count in skips:
                    self.stats.skip(reason, count)
                batch = self._normalize(block, normalize, tick, band)
                if len(batch):
                    yield batch
        finally:
            raw.close()
        if self.stats.first_ts is not None:
            self.info.start_ns, self.info.end_ns = self.stats.first_ts, self.stats.last_ts

    def _read_chunk(self, stream: BinaryIO, n: int) -> tuple[bytes, bool]:
        """Up to ``n`` bytes and whether the stream ended (a corrupt zstd frame ends it too)."""
        data = _read_exact(stream, n)
        if len(data) < n:
            if getattr(stream, "corrupt", None):
                self.stats.skip("corrupt compressed data (the rest of the file is unreadable)")
            elif getattr(stream, "truncated", False):
                self.stats.skip("compressed data cut off (file truncated)")
        return data, len(data) < n

    def _normalize(self, block: np.ndarray, normalize: _Normalizer, tick: int, band: PriceBand) -> np.ndarray:
        if not len(block):
            return np.zeros(0, dtype=EVENT_DTYPE)
        recs = block.reshape(-1).view(self.record_dtype)
        self.stats.records += len(recs)
        keep, reasons = _validate(recs, self.schema, tick, band)
        for reason, count in reasons:
            self.stats.skip(reason, count)
        if not keep.all():
            recs = recs[keep]
        for iid in np.unique(recs["instrument_id"]).tolist():
            self.info.instrument_ids.setdefault(iid, str(iid))
        batch = normalize(recs)
        self.stats.count_batch(batch)
        return batch


# Public names for live adapters that receive the same records over a socket (feeds/live_databento.py):
# one normalization for files and live data.
Normalizer = _Normalizer
validate_records = _validate
