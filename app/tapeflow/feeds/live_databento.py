"""Databento live (``tapeflow[databento]``): CME futures trades and MBP-1/MBP-10/MBO as a ``LiveSource``.

The records Databento streams are the same DBN structs as its files, so translation reuses the
DBN file reader's validation and normalization (``validate_records`` and ``Normalizer`` from
:mod:`tapeflow.feeds.dbn_file`) over the records' raw bytes: live and file data normalize
identically. The session runs behind :class:`~tapeflow.feeds.live_feed.LiveFeed` (backoff,
heartbeat timeout, stale state, queue policy, status). Databento's gateway sends a heartbeat
``SystemMsg`` every ``heartbeat_interval_s`` when idle; a reconnect replays from the last record's
``ts_event`` (intraday replay) and skips what was already delivered, or, for MBO, asks for a
book snapshot.

API key: ``DATABENTO_API_KEY`` or the OS keyring (``tapeflow``/``databento-api-key``).

Manual check with a real account (costs a little live data)::

    export DATABENTO_API_KEY=db-...
    python - <<'PY'
    import asyncio
    from tapeflow.feeds.live_databento import DatabentoLiveSource
    async def main():
        src = DatabentoLiveSource("ES.c.0", schema="mbp-1")
        n = 0
        async for batch in src:
            n += len(batch)
            print(n, src.status().state, src.status().latency_p50_ms, src.info.instrument_ids)
            if n > 1000:
                break
    asyncio.run(main())
    PY

Expect ES trades and book updates within seconds in the CME session, state LIVE, a mapping of
the front-month id to e.g. ``ESZ6``; pull the network cable for ten seconds: the status shows
RECONNECTING, then LIVE with an ``outage`` gap and no duplicated events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from typing import Any

import databento_dbn as dbn
import numpy as np

from tapeflow.core.events import EVENT_DTYPE
from tapeflow.core.instruments import PRICE_SCALE, Instrument, parse_symbol
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.dbn_file import SCHEMA_RTYPES, Normalizer, record_dtype, validate_records
from tapeflow.feeds.live_credentials import get_secret
from tapeflow.feeds.live_feed import Beat, Data, FeedError, LiveFeed, Message, Opened
from tapeflow.feeds.prices import PriceBand

DATASET = "GLBX.MDP3"


class DatabentoTranslator:
    """databento_dbn records -> event batches, for one schema; keeps book state across calls."""

    def __init__(self, schema: str, instrument: Instrument, stats: FeedStats | None = None) -> None:
        if schema not in SCHEMA_RTYPES:
            raise ValueError(f"unsupported schema {schema!r}")
        self.schema = schema
        self.instrument = instrument
        self.stats = stats or FeedStats()
        self.dtype = record_dtype(schema)
        self.rtypes = frozenset(SCHEMA_RTYPES[schema])
        self.normalize = Normalizer(schema, instrument.tick_size_nanos)
        self.band = PriceBand(PRICE_SCALE)  # the reference price outlives one (often one-record) read
        self.instrument_ids: dict[int, str] = {}
        self.heartbeats = 0
        self.errors: list[str] = []
        self.notices: list[str] = []
        self.last_ts: int | None = None  # ts_event of the last market record, for replay on reconnect
        self.at_last_ts = 0  # market records seen with that ts_event

    def __call__(self, records: Iterable[Any]) -> np.ndarray:
        """Translate records in arrival order; control records update state and yield no events."""
        size = self.dtype.itemsize
        chunks: list[bytes] = []
        for rec in records:
            raw = bytes(rec)
            if len(raw) >= 2 and raw[1] in self.rtypes:
                if len(raw) not in (size, size + 8):  # + 8: sent with ts_out
                    self.stats.skip(f"bad record length {len(raw)} for {self.schema}")
                    continue
                chunks.append(raw[:size])
                ts = rec.ts_event
                if ts == self.last_ts:
                    self.at_last_ts += 1
                else:
                    self.last_ts, self.at_last_ts = ts, 1
            elif isinstance(rec, dbn.SymbolMappingMsg):
                self.instrument_ids[int(rec.instrument_id)] = str(rec.stype_out_symbol)
            elif isinstance(rec, dbn.SystemMsg):
                if rec.is_heartbeat():
                    self.heartbeats += 1
                else:
                    self.notices.append(str(rec.msg))
            elif isinstance(rec, dbn.ErrorMsg):
                self.errors.append(str(rec.err))
            else:
                what = f"record type 0x{raw[1]:02x}" if len(raw) > 1 else "empty record"
                self.stats.skip(f"{what} not part of {self.schema}")
        if not chunks:
            return np.zeros(0, dtype=EVENT_DTYPE)
        recs = np.frombuffer(b"".join(chunks), dtype=self.dtype)
        self.stats.records += len(recs)
        keep, reasons = validate_records(recs, self.schema, self.instrument.tick_size_nanos, self.band)
        for reason, n in reasons:
            self.stats.skip(reason, n)
        if not keep.all():
            recs = recs[keep]
        return self.normalize(recs)


class _DatabentoConnection:
    """Records arrive on the client's own thread; they are handed over in batches to our loop."""

    def __init__(self, client: Any, translator: DatabentoTranslator, skip_replayed: tuple[int, int] | None) -> None:
        self.client = client
        self.translator = translator
        self._lock = threading.Lock()
        self._pending: list[Any] = []
        self._closed: BaseException | None = None
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._skip = skip_replayed  # (ts_event, records at it already delivered)

    def on_record(self, rec: Any) -> None:
        with self._lock:
            self._pending.append(rec)
        self._loop.call_soon_threadsafe(self._ready.set)

    def on_error(self, exc: BaseException) -> None:
        self._closed = exc
        self._loop.call_soon_threadsafe(self._ready.set)

    def _drop_replayed(self, recs: list[Any]) -> list[Any]:
        """Skip records a replay-from-time resend that we already delivered before the reconnect."""
        if self._skip is None:
            return recs
        ts, seen = self._skip
        out = []
        for r in recs:
            t = getattr(r, "ts_event", None)
            if self._skip is not None and t is not None and bytes(r)[1] in self.translator.rtypes:
                if t < ts or (t == ts and seen > 0):
                    seen -= t == ts
                    continue
                self._skip = None
            out.append(r)
        if self._skip is not None:
            self._skip = (ts, seen)
        return out

    async def recv(self) -> Message:
        while True:
            with self._lock:
                recs, self._pending = self._pending, []
            if not recs:
                if self._closed is not None:
                    raise FeedError(f"databento session closed: {self._closed}")
                self._ready.clear()
                await self._ready.wait()
                continue
            beats = self.translator.heartbeats
            errors = len(self.translator.errors)
            events = self.translator(self._drop_replayed(recs))
            if len(self.translator.errors) > errors:
                raise FeedError(f"databento gateway error: {self.translator.errors[-1]}")
            if len(events):
                return Data(events)
            if self.translator.heartbeats > beats:
                return Beat()

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed
            self.client.stop()


class DatabentoConnector:
    """Opens a Databento live session (``databento.Live``) subscribed to one schema and symbol set."""

    def __init__(self, symbols: list[str], *, schema: str, stype_in: str, instrument: Instrument, key: str | None,
                 heartbeat_interval_s: int = 10, client_factory: Any = None) -> None:
        self.name = f"databento:{DATASET}/{schema}/{','.join(symbols)}"
        self.symbols = symbols
        self.schema = schema
        self.stype_in = stype_in
        self.instrument = instrument
        self.key = key
        self.heartbeat_interval_s = heartbeat_interval_s
        self.translator = DatabentoTranslator(schema, instrument)
        self._client_factory = client_factory

    def _client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory()
        try:
            import databento as db
        except ImportError:
            raise FeedError("the databento package is not installed: pip install 'tapeflow[databento]'") from None
        key = self.key or get_secret("DATABENTO_API_KEY", "databento-api-key")
        return db.Live(key=key, heartbeat_interval_s=self.heartbeat_interval_s)

    async def connect(self, resume_from: int | None) -> tuple[_DatabentoConnection, Opened]:
        client = self._client()
        tr = self.translator
        replay = tr.last_ts is not None
        skip = (tr.last_ts, tr.at_last_ts) if replay and self.schema != "mbo" else None
        conn = _DatabentoConnection(client, tr, skip)
        client.add_callback(conn.on_record, conn.on_error)
        kwargs: dict[str, Any] = {"dataset": DATASET, "schema": self.schema, "stype_in": self.stype_in,
                                  "symbols": self.symbols}
        if replay and self.schema == "mbo":
            kwargs["snapshot"] = True  # MBO recovers by snapshot: the book is rebuilt, not replayed
        elif replay:
            kwargs["start"] = tr.last_ts
        client.subscribe(**kwargs)
        client.start()
        info = FeedInfo(source=self.name, schema=self.schema, instrument=self.instrument, symbols=list(self.symbols),
                        instrument_ids=tr.instrument_ids)
        return conn, Opened(info=info)


class DatabentoLiveSource(LiveFeed):
    """Databento live for ES/MES/NQ/MNQ: ``DatabentoLiveSource('ES.c.0', schema='mbp-1')``.

    ``symbols``: continuous (``ES.c.0``, front month by calendar) or raw (``ESZ6``) symbols of one
    product; ``schema``: ``trades``, ``mbp-1``, ``mbp-10`` or ``mbo``. Other keyword arguments are
    :class:`LiveFeed` settings.
    """

    def __init__(self, symbols: str | list[str] = "ES.c.0", *, schema: str = "mbp-1", key: str | None = None,
                 client_factory: Any = None, **feed_opts: Any) -> None:
        syms = [symbols] if isinstance(symbols, str) else list(symbols)
        stype_in = "continuous" if all(".c." in s for s in syms) else "raw_symbol"
        inst = parse_symbol(syms[0].split(".")[0]).instrument
        connector = DatabentoConnector(syms, schema=schema, stype_in=stype_in, instrument=inst, key=key,
                                       client_factory=client_factory)
        feed_opts.setdefault("heartbeat_timeout_s", 3 * connector.heartbeat_interval_s)
        super().__init__(connector, FeedInfo(source=connector.name, schema=schema, instrument=inst, symbols=syms),
                         **feed_opts)
        self.stats = connector.translator.stats  # raw records and malformed ones are counted there
        self.count_records = False
