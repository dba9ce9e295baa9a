"""Record live event batches to DBN files, one file per CME trading session, for later replay.

Why DBN: the recordings open with every tool that reads DBN (``DbnFileSource``, ``tapeflow
footprint``, ``serve-replay``, Databento's own libraries). The metadata header is encoded by
``databento_dbn.Metadata``; records are packed with numpy in the exact ``TradeMsg``/``Mbp1Msg``/
``Mbp10Msg``/``MboMsg`` layouts that :mod:`tapeflow.feeds.dbn_file` reads (a Python object per
record would cost more than the feed itself at burst rates); the tests decode the files with
``databento_dbn``'s decoder as a cross-check. Files are zstd-compressed ``.dbn.zst``.

Schemas: ``mbo`` writes one record per event. ``trades`` writes the TRADE events. ``mbp-1`` and
``mbp-10`` (MBP carries book *state*, not changes) group consecutive events that share
``ts_event``, ``ts_recv``, ``sequence``, instrument and action into one record in the reader's
slot order (clear, bid/ask per depth, trade) and write the book state after them; reading the
file back yields the same events, in the same order.

What a recording loses (none of it is in the normalized events, or the reader ignores it):
publisher id, ``ts_in_delta``, raw DBN flags other than F_LAST/F_SNAPSHOT, the order price/size
of an MBP book-change record, records that changed nothing we show. Events that cannot be
represented are counted in ``skipped`` by reason, never silently: ORDER events in an MBP file,
LEVEL events deeper than the file's depth or with an unknown depth, non-trades in a trades file,
and (MBP) a LEVEL event that restates its slot's current value. Events whose ``action`` is not a
DBN action get ``M`` (book) or ``T`` (trade), and ``BAD_TS`` flags are dropped. The first record of
a rolled file carries the whole book, so that file read alone starts with the full book.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import databento_dbn as dbn
import numpy as np
import zstandard

from tapeflow.core.events import NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import Instrument
from tapeflow.core.sessions import label_ordinals
from tapeflow.feeds.base import FeedInfo
from tapeflow.feeds.dbn_file import F_LAST, F_SNAPSHOT, UNDEF_PRICE, record_dtype

DATASET = "GLBX.MDP3"
PUBLISHER_GLBX = 1
_RTYPE = {"trades": 0x00, "mbp-1": 0x01, "mbp-10": 0x0A, "mbo": 0xA0}
_DEPTH = {"mbp-1": 1, "mbp-10": 10}
_SCHEMA_FOR_SOURCE = {"mbp-1": "mbp-1", "tbbo": "mbp-1", "mbp-10": "mbp-10", "mbo": "mbo", "trades": "trades",
                      "csv-tas": "trades"}
_DBN_ACTIONS = frozenset(b"ACMRTFN")
_SIDE_CODE = {int(Side.BUY): ord("B"), int(Side.SELL): ord("A"), int(Side.NONE): ord("N")}


def recording_schema(source_schema: str) -> str:
    """The DBN schema to record a source in: its own when DBN has it, else ``mbp-10``."""
    return _SCHEMA_FOR_SOURCE.get(source_schema, "mbp-10")


@dataclass
class _Interval:
    start_date: date
    end_date: date
    symbol: str


@dataclass
class _Mapping:
    raw_symbol: str
    intervals: list[_Interval] = field(default_factory=list)


class DbnRecorder:
    """Writes event batches to ``directory/<ROOT>_<schema>_<trading date>.dbn.zst``, rolling per session.

    ``write(batch)`` any number of times, then ``close()`` (or use it as a context manager);
    ``tee(source)`` records a live source while passing its batches on. ``files`` lists what was
    written, ``skipped`` counts events that could not be represented (by reason).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        instrument: Instrument,
        schema: str = "mbp-10",
        symbols: list[str] | None = None,
        instrument_ids: dict[int, str] | None = None,
    ) -> None:
        if schema not in _RTYPE:
            raise ValueError(f"cannot record schema {schema!r}; one of {', '.join(_RTYPE)}")
        self.directory = Path(directory)
        self.instrument = instrument
        self.schema = schema
        self.symbols = list(symbols or [instrument.root])
        self.instrument_ids = dict(instrument_ids or {})
        self.files: list[Path] = []
        self.skipped: Counter = Counter()
        self.records = 0
        self._dtype = record_dtype(schema)
        self._tick = instrument.tick_size_nanos
        self._session: int | None = None
        self._raw = None
        self._out = None
        self._book: dict[int, np.ndarray] = {}  # instrument_id -> (6, depth): bid px, ask px (1e-9), sz, sz, ct, ct

    @classmethod
    def for_source(cls, directory: str | Path, info: FeedInfo, schema: str | None = None) -> DbnRecorder:
        return cls(directory, instrument=info.instrument, schema=schema or recording_schema(info.schema),
                   symbols=info.symbols, instrument_ids=info.instrument_ids)

    # ------------------------------------------------------------------ writing

    def write(self, batch: np.ndarray) -> None:
        """Append a batch, starting a new file where a new trading session begins (by ``ts_recv``:
        MBO snapshots carry old ``ts_event`` values, but a recording is rolled by when it was received)."""
        if not len(batch):
            return
        ts = np.where(batch["ts_recv"] > 0, batch["ts_recv"], batch["ts_event"])  # capture time: monotonic
        ords = label_ordinals(ts)[0]
        idx = np.where(ords >= 0, np.arange(len(ords)), -1)  # events outside sessions stay in the current file
        np.maximum.accumulate(idx, out=idx)
        ords = np.where(idx >= 0, ords[np.maximum(idx, 0)], -1 if self._session is None else self._session)
        cuts = np.flatnonzero(np.diff(ords)) + 1
        for part, o in zip(np.split(batch, cuts), ords[np.r_[0, cuts]].tolist(), strict=True):
            if self._out is None or o != self._session:
                self._roll(o, int(part["ts_recv"][0]))
            recs = self._records(part)
            if len(recs):
                self._out.write(recs.tobytes())
                self.records += len(recs)

    async def tee(self, source: AsyncIterable[np.ndarray]) -> AsyncIterator[np.ndarray]:
        """Pass a live source's batches through, recording each; closes the file at the end."""
        try:
            async for batch in source:
                self.write(batch)
                yield batch
        finally:
            self.close()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._raw.close()
            self._out = self._raw = None

    def __enter__(self) -> DbnRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _roll(self, session: int, start_ns: int) -> None:
        self.close()
        self._session = session
        self.directory.mkdir(parents=True, exist_ok=True)
        day = date.fromordinal(session).isoformat() if session > 0 else "outside-session"
        stem = f"{self.instrument.root}_{self.schema}_{day}"
        path = self.directory / f"{stem}.dbn.zst"
        k = 2
        while path.exists():
            path = self.directory / f"{stem}-{k}.dbn.zst"
            k += 1
        self._raw = path.open("wb")
        self._out = zstandard.ZstdCompressor(level=3).stream_writer(self._raw)
        self._out.write(self._metadata(start_ns).encode())
        self.files.append(path)

    def _metadata(self, start_ns: int) -> dbn.Metadata:
        today = date.today()
        mappings = [_Mapping(sym, [_Interval(today, today, str(iid))]) for iid, sym in self.instrument_ids.items()]
        return dbn.Metadata(
            dataset=DATASET,
            start=start_ns,
            stype_in=dbn.SType.RAW_SYMBOL,
            stype_out=dbn.SType.INSTRUMENT_ID,
            schema=dbn.Schema.from_str(self.schema),
            symbols=self.symbols,
            mappings=mappings,
            ts_out=False,
        )

    # ------------------------------------------------------------------ events -> records

    def _records(self, ev: np.ndarray) -> np.ndarray:
        if self.schema == "mbo":
            return self._flat(ev, ev["kind"] != 0)
        if self.schema == "trades":
            keep = ev["kind"] == Kind.TRADE
            self._skip(~keep, "non-trade event in a trades recording")
            return self._flat(ev, keep)
        return self._mbp(ev)

    def _skip(self, mask: np.ndarray, reason: str) -> None:
        n = int(np.count_nonzero(mask))
        if n:
            self.skipped[reason] += n

    def _header(self, out: np.ndarray) -> None:
        out["length"] = self._dtype.itemsize // 4
        out["rtype"] = _RTYPE[self.schema]
        out["publisher_id"] = PUBLISHER_GLBX

    def _flat(self, ev: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """One record per kept event (trades, MBO)."""
        ev = ev[keep]
        out = np.zeros(len(ev), dtype=self._dtype)
        self._header(out)
        for name in ("instrument_id", "ts_event", "ts_recv", "sequence", "size"):
            out[name] = ev[name]
        px = ev["price"]
        out["price"] = np.where(px == NO_PRICE, UNDEF_PRICE, px * self._tick)
        side = np.full(len(ev), ord("N"), dtype=np.uint8)
        side[ev["side"] == Side.BUY] = ord("B")
        side[ev["side"] == Side.SELL] = ord("A")
        out["side"] = side
        action = ev["action"].copy()
        bad = ~np.isin(action, np.frombuffer(bytes(_DBN_ACTIONS), dtype=np.uint8))
        kind = ev["kind"]
        action[bad & (kind == Kind.TRADE)] = ord("T")
        action[bad & (kind == Kind.CLEAR)] = ord("R")
        action[bad & (kind == Kind.ORDER)] = ord("M")
        out["action"] = action
        out["flags"] = _raw_flags(ev["flags"])
        if self.schema == "mbo":
            out["order_id"] = ev["order_id"]
        return out

    def _state(self, iid: int, depth: int) -> np.ndarray:
        book = self._book.get(iid)
        if book is None:
            book = np.zeros((6, depth), dtype=np.int64)
            book[0:2] = UNDEF_PRICE
            self._book[iid] = book
        return book

    def _mbp(self, ev: np.ndarray) -> np.ndarray:
        """Group events into MBP records (see the module docstring); a Python loop over columns."""
        depth = _DEPTH[self.schema]
        last_slot = 1 + 2 * depth
        cols = {n: ev[n].tolist() for n in ("ts_event", "ts_recv", "sequence", "instrument_id", "kind", "side",
                                            "level", "action", "flags", "price", "size", "count")}
        rows: list[tuple] = []  # (header tuple, trade (px, sz, side) or None, book copy, raw flags, action)
        key = None
        slot_hi = -1
        group: dict | None = None
        tick = self._tick

        def flush() -> None:
            if group is not None and (group["changed"] or group["trade"] is not None or group["clear"]):
                rows.append((group["hdr"], group["trade"], self._state(group["hdr"][3], depth).copy(),
                             group["flags"], group["action"], group["book_side"]))

        for i in range(len(ev)):
            kind = cols["kind"][i]
            iid = cols["instrument_id"][i]
            if kind == Kind.ORDER:
                self.skipped["ORDER event in an MBP recording"] += 1
                continue
            if kind == Kind.LEVEL:
                level = cols["level"][i]
                if level >= depth:
                    self.skipped[f"LEVEL event beyond depth {depth} (or unknown depth)"] += 1
                    continue
                slot = 1 + 2 * level + (1 if cols["side"][i] == Side.SELL else 0)
            elif kind == Kind.TRADE:
                slot = last_slot
            elif kind == Kind.CLEAR:
                slot = 0
            else:
                self.skipped[f"unknown event kind {kind}"] += 1
                continue
            action = cols["action"][i]
            if action not in _DBN_ACTIONS:
                action = {Kind.TRADE: ord("T"), Kind.CLEAR: ord("R")}.get(kind, ord("M"))
            flags = cols["flags"][i]
            hdr = (cols["ts_event"][i], cols["ts_recv"][i], cols["sequence"][i], iid)
            k = (*hdr, action, flags & Flag.SNAPSHOT)
            if group is None or k != key or slot <= slot_hi:
                flush()
                group = {"hdr": hdr, "trade": None, "changed": False, "clear": False, "flags": 0, "action": action,
                         "book_side": ord("N")}
                key = k
            slot_hi = slot
            group["flags"] = _raw_flag(flags)
            if kind == Kind.TRADE:
                group["trade"] = (cols["price"][i] * tick, cols["size"][i], _SIDE_CODE.get(cols["side"][i], ord("N")))
            elif kind == Kind.CLEAR:
                group["clear"] = True
            else:
                book = self._state(iid, depth)
                ask = slot % 2 == 0
                lvl = (slot - 1) // 2
                px = cols["price"][i]
                new = (UNDEF_PRICE if px == NO_PRICE else px * tick, cols["size"][i], cols["count"][i])
                s = 1 if ask else 0
                old = (int(book[s, lvl]), int(book[2 + s, lvl]), int(book[4 + s, lvl]))
                if new == old:  # a clear re-emits non-empty slots on reading; elsewhere this is lost
                    if not group["clear"]:
                        self.skipped["LEVEL event that restates the slot's value"] += 1
                    continue
                book[s, lvl], book[2 + s, lvl], book[4 + s, lvl] = new
                group["changed"] = True
                group["book_side"] = ord("A") if ask else ord("B")
                group["book_px"] = new[0]
            if flags & Flag.LAST:
                flush()
                group = None
        flush()
        return self._pack_mbp(rows, depth)

    def _pack_mbp(self, rows: list[tuple], depth: int) -> np.ndarray:
        out = np.zeros(len(rows), dtype=self._dtype)
        if not rows:
            return out
        self._header(out)
        hdr = np.array([r[0] for r in rows], dtype=np.int64)
        out["ts_event"], out["ts_recv"], out["sequence"], out["instrument_id"] = hdr.T
        out["flags"] = [r[3] for r in rows]
        out["action"] = [r[4] for r in rows]
        out["price"] = UNDEF_PRICE
        out["side"] = [r[5] for r in rows]
        for j, r in enumerate(rows):
            if r[1] is not None:
                out["price"][j], out["size"][j], out["side"][j] = r[1]
        books = np.stack([r[2] for r in rows])  # (n, 6, depth)
        lv = out["levels"]
        for c, name in enumerate(("bid_px", "ask_px", "bid_sz", "ask_sz", "bid_ct", "ask_ct")):
            lv[name] = books[:, c, :]
        return out


def _raw_flag(flags: int) -> int:
    raw = F_LAST if flags & Flag.LAST else 0
    return raw | (F_SNAPSHOT if flags & Flag.SNAPSHOT else 0)


def _raw_flags(flags: np.ndarray) -> np.ndarray:
    out = np.where((flags & Flag.LAST) != 0, F_LAST, 0).astype(np.uint8)
    out |= np.where((flags & Flag.SNAPSHOT) != 0, F_SNAPSHOT, 0).astype(np.uint8)
    return out
