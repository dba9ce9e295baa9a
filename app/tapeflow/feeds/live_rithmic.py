"""Rithmic (``tapeflow[rithmic]``, the ``async-rithmic`` client): trades with aggressor side and the
order book (market depth by order, or the best bid/offer) as a ``LiveSource``.

``async-rithmic`` delivers market data to ``client.on_tick`` callbacks as dicts made from its
protobuf messages (``MessageToDict`` with proto field names): ``LastTrade`` (template 150:
``trade_price`` (float points), ``trade_size``, ``aggressor`` 1 buy / 2 sell, exchange time
``source_ssboe``/``source_nsecs``, gateway time ``ssboe``/``usecs``, ``is_snapshot``) and
``BestBidOffer`` (template 151: ``bid_price``/``bid_size``/``bid_orders``, the same for ask,
``presence_bits`` 1 bid / 2 ask). Fields equal to their default are absent from the dict (0).
:func:`translate_ticks` turns a list of them into one event batch: prices to ticks exactly (a
price off the tick grid is counted as malformed, never rounded), trades that are the subscription
snapshot of the *previous* print are skipped (counted), BBO sides become LEVEL events at depth 0.
With ``depth_levels`` (default 10) the feed also subscribes to market depth by order and
:class:`~tapeflow.feeds.rithmic_depth.DepthBook` turns it into LEVEL events at depth
0..levels-1 (snapshot, then changed slots); the BBO is then the DOM only while the depth book
shows nothing (no depth entitlement, an empty book before the open), and the depth book takes
over with a CLEAR when it has levels. ``depth_levels=0``: trades + BBO.

The feed runs on the process's shared :class:`~tapeflow.rithmic.RithmicSession` (pass
``session=``; without one the source builds and owns its own from ``[rithmic]`` of
``trading.toml``), so a terminal with a Rithmic feed and a Rithmic broker logs in once per
plant. The session reconnects; the feed's connection ends when the ticker plant goes down and the
feed reconnects on the session (re-subscribing, a new depth snapshot). A forced logout ends it
with the session's reason ("another session logged in with this user") in ``status().last_error``
until the user reconnects the session.

Rithmic has no stream sequence numbers for trades, so gaps cannot be measured: an outage is
reported with an unknown count, and after a reconnect a new depth snapshot (or the BBO snapshot)
re-states the book. The depth snapshot's ``sequence_number`` tells which buffered updates it
already holds. When the market is quiet the connection reports a heartbeat every 5 s while the
ticker plant is logged in, so a quiet market is not taken for a dead link.

Not translated: OrderBook (156, aggregated price levels; the feed does not subscribe to it) and
the DepthByOrderEndEvent (161, which the library drops): the book is taken as consistent after
each DepthByOrder message.

Credentials: ``RITHMIC_USER``, ``RITHMIC_PASSWORD`` (env or keyring ``tapeflow``/``rithmic-user``,
``rithmic-password``); system and gateway from ``[rithmic]`` (``system``, ``url``) or
``RITHMIC_SYSTEM`` (e.g. ``Rithmic Test``), ``RITHMIC_URL`` (gateway ``host:port``).

Manual check with a real (or Rithmic Test) account::

    export RITHMIC_USER=... RITHMIC_PASSWORD=... RITHMIC_SYSTEM="Rithmic Test" RITHMIC_URL=rituz00100.rithmic.com:443
    python - <<'PY'
    import asyncio
    from tapeflow.feeds.live_rithmic import RithmicLiveSource
    async def main():
        src = RithmicLiveSource("ES")
        n = 0
        async for batch in src:
            n += len(batch)
            print(n, src.status().state, src.stats.trades, src.stats.malformed)
            if n > 500:
                break
    asyncio.run(main())
    PY

Expect trades with a buy/sell side (``stats.inferred_side`` stays 0), LEVEL rows at depth 0..9 and
no ``off-tick price`` entries in ``stats.malformed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import numpy as np

from tapeflow.core.events import EVENT_DTYPE, NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import Instrument, parse_symbol
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.live_credentials import get_secret
from tapeflow.feeds.live_feed import Beat, Data, FeedError, LiveFeed, Message, Opened
from tapeflow.feeds.rithmic_depth import DepthBook, Row, message_times, one_event, points_to_ticks
from tapeflow.rithmic.session import Phase, RithmicSession, SessionState
from tapeflow.rithmic.settings import RithmicSettings

LAST_TRADE = 1  # async_rithmic.DataType.LAST_TRADE
BBO = 2  # async_rithmic.DataType.BBO
_AGGRESSOR = {1: Side.BUY, 2: Side.SELL}
_NS = 1_000_000_000
_FIELDS = ("ts_event", "ts_recv", "kind", "side", "price", "size", "count", "flags", "action", "level")


def _gateway_ns(d: dict) -> int:
    return int(d.get("ssboe", 0)) * _NS + int(d.get("usecs", 0)) * 1000


def _exchange_ns(d: dict) -> int:
    if "source_ssboe" not in d:
        return _gateway_ns(d)
    nsecs = d.get("source_nsecs")
    sub = int(nsecs) if nsecs is not None else int(d.get("source_usecs", 0)) * 1000
    return int(d["source_ssboe"]) * _NS + sub


def tick_rows(d: dict, inst: Instrument, stats: FeedStats) -> list[Row]:
    """One ``on_tick`` dict (LastTrade or BestBidOffer) -> event rows (see :data:`_FIELDS`)."""
    stats.records += 1
    kind = int(d.get("data_type", LAST_TRADE if "trade_price" in d else BBO))
    snap = int(Flag.SNAPSHOT) if d.get("is_snapshot") else 0
    recv = _gateway_ns(d)
    if kind == LAST_TRADE:
        if snap:
            stats.skip("trade snapshot on subscribe (not a new print)")
            return []
        size = int(d.get("trade_size", 0))
        if size <= 0 or "trade_price" not in d:
            stats.skip("trade without price or size")
            return []
        px = points_to_ticks(float(d["trade_price"]), inst, stats)
        if px is None:
            return []
        side = _AGGRESSOR.get(int(d.get("aggressor", 0)), Side.NONE)
        return [(_exchange_ns(d), recv, Kind.TRADE, side, px, size, 0, 0, ord("T"), 0)]
    if kind == BBO:
        rows: list[Row] = []
        bits = int(d.get("presence_bits", 3))
        for bit, side, name in ((1, Side.BUY, "bid"), (2, Side.SELL, "ask")):
            if not bits & bit:
                continue
            size = int(d.get(f"{name}_size", 0))
            if size > 0:
                px = points_to_ticks(float(d.get(f"{name}_price", 0.0)), inst, stats)
                if px is None:
                    continue
            else:
                px = NO_PRICE
            rows.append((recv, recv, Kind.LEVEL, side, px, size, int(d.get(f"{name}_orders", 0)), snap, ord("M"), 0))
        return rows
    stats.skip(f"tick data_type {kind} not translated")
    return []


def rows_to_events(rows: list[Row]) -> np.ndarray:
    """Row tuples (:data:`_FIELDS`) -> an event batch."""
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    if rows:
        for name, col in zip(_FIELDS, zip(*rows, strict=True), strict=True):
            out[name] = col
    return out


def translate_ticks(ticks: Iterable[dict], inst: Instrument, stats: FeedStats | None = None) -> np.ndarray:
    """``on_tick`` dicts (LastTrade and BestBidOffer) -> one event batch in arrival order.

    ``stats`` gets the raw tick count and skipped ticks by reason (events are counted by the feed).
    """
    stats = stats if stats is not None else FeedStats()
    rows: list[Row] = []
    for d in ticks:
        rows.extend(one_event(tick_rows(d, inst, stats)))
    return rows_to_events(rows)


class _RithmicConnection:
    """One subscription on the shared session: collects ticks and depth messages of its symbol
    in arrival order; ends (raises) when the ticker plant goes down."""

    def __init__(self, session: RithmicSession, symbol: str, inst: Instrument, stats: FeedStats,
                 depth: DepthBook | None, wall_ns: Callable[[], int], beat_s: float = 5.0) -> None:
        self.session = session
        self.beat_s = beat_s  # a quiet market: tell the feed the plant is alive this often
        self.symbol = symbol
        self.inst = inst
        self.stats = stats
        self.depth = depth
        self.wall_ns = wall_ns
        self.snapshot: list[Any] | None = None  # depth snapshot rows, loaded at the next recv
        self._bbo_shown = False  # BBO rows went out while the depth book showed nothing
        self._pending: list[tuple[bool, Any]] = []  # (is depth message, payload)
        self._ready = asyncio.Event()
        self._failed: str | None = None
        self.market_data: tuple[str, int] | None = None  # (exchange, bits) this connection subscribed
        self.depth_exchange: str | None = None
        client = session.client
        client.on_tick += self.on_tick
        client.on_market_depth += self.on_market_depth
        session.add_listener(self.on_session)

    async def on_tick(self, data: dict) -> None:
        if data.get("symbol", self.symbol) == self.symbol:
            self._pending.append((False, data))
            self._ready.set()

    async def on_market_depth(self, msg: Any) -> None:
        if self.depth is not None and msg.symbol == self.symbol:
            self._pending.append((True, msg))
            self._ready.set()

    def on_session(self, state: SessionState) -> None:
        if not self.session.is_up("ticker") and self._failed is None:
            self._failed = f"rithmic session {state}"
            self._ready.set()

    def _translate(self) -> np.ndarray:
        rows: list[Row] = []
        if self.snapshot is not None and self.depth is not None:
            rows.extend(one_event(self.depth.load_snapshot(self.snapshot, self.wall_ns())))
            self.snapshot = None
            self._bbo_shown = False  # the snapshot starts with a CLEAR
        items, self._pending = self._pending, []
        depth = self.depth
        for is_depth, payload in items:
            if depth is None:
                rows.extend(one_event(tick_rows(payload, self.inst, self.stats)))
            elif is_depth:
                changed = depth.apply(payload)
                if changed and self._bbo_shown:  # depth takes the DOM over from the BBO
                    changed = depth.restate(*message_times(payload))
                    self._bbo_shown = False
                rows.extend(one_event(changed))
            elif int(payload.get("data_type", LAST_TRADE)) == BBO:
                if not depth.shows_levels:  # no depth (yet, or not entitled): the BBO is the DOM
                    best = tick_rows(payload, self.inst, self.stats)
                    self._bbo_shown = self._bbo_shown or bool(best)
                    rows.extend(one_event(best))
                else:
                    self.stats.records += 1
            else:
                rows.extend(one_event(tick_rows(payload, self.inst, self.stats)))
        return rows_to_events(rows)

    async def recv(self) -> Message:
        while True:
            if self._pending or self.snapshot is not None:
                events = self._translate()
                if len(events):
                    return Data(events)
                continue
            if self._failed is not None:
                raise FeedError(self._failed)
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), self.beat_s)
            except TimeoutError:
                return Beat()  # quiet market, plant still up: not a dead link

    async def subscribe(self, exchange: str, bits: int, depth: bool) -> None:
        """Market data (and depth) for this connection, counted on the session until :meth:`close`."""
        self.market_data = (exchange, bits)
        await self.session.subscribe_market_data(self.symbol, exchange, bits)
        if depth:
            self.depth_exchange = exchange
            await self.session.subscribe_depth(self.symbol, exchange)

    async def close(self) -> None:
        """Stop listening and release the subscriptions (sent only if no other feed wants them)."""
        client, session = self.session.client, self.session
        with contextlib.suppress(ValueError):
            client.on_tick -= self.on_tick
        with contextlib.suppress(ValueError):
            client.on_market_depth -= self.on_market_depth
        session.remove_listener(self.on_session)
        market_data, self.market_data = self.market_data, None
        depth_exchange, self.depth_exchange = self.depth_exchange, None
        with contextlib.suppress(Exception):  # the plant may be gone: nothing to unsubscribe there
            if market_data is not None:
                await session.unsubscribe_market_data(self.symbol, *market_data)
            if depth_exchange is not None:
                await session.unsubscribe_depth(self.symbol, depth_exchange)


class RithmicConnector:
    def __init__(self, symbol: str, exchange: str, inst: Instrument, stats: FeedStats,
                 session: Callable[[], RithmicSession], depth_levels: int, login_timeout_s: float,
                 wall_ns: Callable[[], int], beat_s: float) -> None:
        self.name = f"rithmic:{exchange}/{symbol}"
        self.symbol = symbol
        self.exchange = exchange
        self.inst = inst
        self.stats = stats
        self.depth_levels = depth_levels
        self.login_timeout_s = login_timeout_s
        self.wall_ns = wall_ns
        self.beat_s = beat_s
        self._session = session

    async def connect(self, resume_from: int | None) -> tuple[_RithmicConnection, Opened]:
        session = self._session()
        await _while_forced_out(session)
        await session.open({"ticker"})
        await session.wait_up(self.login_timeout_s, ["ticker"])
        client = session.client
        symbol = self.symbol
        if symbol == self.inst.root:
            symbol = await client.get_front_month_contract(symbol, self.exchange)
        depth = DepthBook(self.inst, self.depth_levels, self.stats) if self.depth_levels else None
        conn = _RithmicConnection(session, symbol, self.inst, self.stats, depth, self.wall_ns, self.beat_s)
        try:
            await conn.subscribe(self.exchange, LAST_TRADE | BBO, depth is not None)
            if depth is not None:  # the updates are subscribed (and buffered) first, then where they start:
                conn.snapshot = await session.depth_snapshot(symbol, self.exchange)
        except BaseException:
            await conn.close()
            raise
        schema = f"rithmic-depth{self.depth_levels}" if depth else "rithmic-tbbo"
        info = FeedInfo(source=self.name, schema=schema, instrument=self.inst, symbols=[symbol])
        return conn, Opened(info=info)


async def _while_forced_out(session: RithmicSession) -> None:
    """Wait while the session is forced out: only the user's reconnect ends that, and the feed
    follows it at once (instead of at its next backoff retry, up to seconds later)."""
    if session.state.phase is not Phase.FORCED_OUT:
        return
    changed = asyncio.Event()

    def on_state(state: SessionState) -> None:
        if state.phase is not Phase.FORCED_OUT:
            changed.set()

    session.add_listener(on_state)
    try:
        if session.state.phase is Phase.FORCED_OUT:
            await changed.wait()
    finally:
        session.remove_listener(on_state)


def session_from_settings(settings: RithmicSettings | None = None) -> RithmicSession:
    """A session from ``[rithmic]`` of the user's ``trading.toml`` and the env/keyring credentials."""
    if settings is None:
        from tapeflow.appdirs import app_paths
        from tapeflow.rithmic.settings import load_rithmic_settings

        settings = load_rithmic_settings(app_paths().settings_file)
    return RithmicSession(settings, user=get_secret("RITHMIC_USER", "rithmic-user"),
                          password=get_secret("RITHMIC_PASSWORD", "rithmic-password"))


class RithmicLiveSource(LiveFeed):
    """Rithmic live trades + depth: ``RithmicLiveSource('ES')`` (front month) or ``('ESZ6')``.

    ``session``: the process's shared session (else one is built from settings on first connect
    and closed when iteration ends); ``owns_session=True``: close the given one too when iteration
    ends (``open_source`` builds the session and hands it over). ``depth_levels``: DOM depth from
    market depth by order (0: the BBO only). ``beat_s``: in a quiet market, a heartbeat this often while the ticker
    plant is logged in (keep it well under ``heartbeat_timeout_s``, default 30 s).
    """

    runs_on_loop = True
    """A replay iterates this feed on its own loop (no reader thread): the session it shares with the
    broker is bound to the loop it was opened on (the terminal's qasync loop, the webhook's loop)."""

    def __init__(self, symbol: str = "ES", *, exchange: str = "CME", session: RithmicSession | None = None,
                 owns_session: bool | None = None, settings: RithmicSettings | None = None, depth_levels: int = 10,
                 login_timeout_s: float = 30.0, beat_s: float = 5.0, **feed_opts: Any) -> None:
        inst = parse_symbol(symbol).instrument
        stats = FeedStats()
        self.session = session
        self.owns_session = session is None if owns_session is None else owns_session
        self._settings = settings
        connector = RithmicConnector(symbol.upper(), exchange, inst, stats, self._get_session, depth_levels,
                                     login_timeout_s, feed_opts.get("wall_ns", time.time_ns), beat_s)
        feed_opts.setdefault("heartbeat_timeout_s", 30.0)
        schema = f"rithmic-depth{depth_levels}" if depth_levels else "rithmic-tbbo"
        super().__init__(connector, FeedInfo(source=connector.name, schema=schema, instrument=inst), **feed_opts)
        self.stats = stats  # the connection counts raw messages and malformed ones there
        self.count_records = False

    def _get_session(self) -> RithmicSession:
        if self.session is None:
            self.session = session_from_settings(self._settings)
        return self.session

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[np.ndarray]:
        batches = LiveFeed.__aiter__(self)
        try:
            async for batch in batches:
                yield batch
        finally:
            # closed here, not left to the garbage collector: its reader task would live on and
            # log the session in again after it is closed below
            await batches.aclose()  # type: ignore[attr-defined]
            if self.owns_session and self.session is not None:
                with contextlib.suppress(Exception):
                    await self.session.close()
                self.session = None


def session_of(source: Any) -> RithmicSession | None:
    """The Rithmic session a source reads on (a ``rithmic:`` feed), else None: what a broker of the
    same process shares (one login per plant)."""
    return source.session if isinstance(source, RithmicLiveSource) else None


SPEC_KEYS = ("exchange", "depth")


def parse_rithmic_spec(spec: str, symbol: str | None = None) -> tuple[str, str, int]:
    """``rithmic:ES``, ``rithmic:ESZ6``, ``rithmic:MES?exchange=CME&depth=5`` -> (symbol as Rithmic
    names it, exchange, depth levels). A bare root is the front month (asked of Rithmic at connect);
    a dated contract in any form ``parse_symbol`` reads (``ESZ26``, ``ES 12-26``) becomes ``ESZ6``.
    ``symbol`` (``--symbol``) stands in for a spec that names none (``rithmic:``)."""
    from urllib.parse import parse_qsl

    head, _, query = spec.strip().partition("?")
    scheme, _, name = head.partition(":")
    if scheme.lower() != "rithmic":
        raise TapeflowError(f"not a Rithmic feed spec: {spec!r} (expected rithmic:ES, rithmic:ESZ6, ...)")
    name = name.strip().lstrip("/") or (symbol or "")
    if not name:
        raise TapeflowError(f"{spec}: name the instrument, e.g. rithmic:ES (front month) or rithmic:ESZ6")
    parsed = parse_symbol(name)
    if parsed.continuous_rank not in (None, 1):
        raise TapeflowError(f"{spec}: Rithmic streams the front month ({parsed.instrument.root}) or a dated "
                            f"contract (e.g. {parsed.instrument.root}Z6), not {name}")
    rithmic_symbol = parsed.instrument.root if parsed.month is None else parsed.code
    opts: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in SPEC_KEYS:
            raise TapeflowError(f"{spec}: unknown option {key!r} (known: {', '.join(SPEC_KEYS)})")
        opts[key] = value.strip()
    exchange = opts.get("exchange", "CME").upper()
    if not exchange.isalnum():
        raise TapeflowError(f"{spec}: exchange must be a name like CME, got {opts['exchange']!r}")
    depth = opts.get("depth", "10")
    if not depth.isdigit() or int(depth) > 50:
        raise TapeflowError(f"{spec}: depth must be a number of DOM levels from 0 (best bid/ask only) to 50, "
                            f"got {depth!r}")
    return rithmic_symbol, exchange, int(depth)


def open_rithmic_source(spec: str, *, symbol: str | None = None) -> RithmicLiveSource:
    """The ``open_source`` entry for ``rithmic:`` specs: the feed on a session of its own, built now
    from ``[rithmic]`` settings and the env/keyring credentials (so missing ones are said before
    anything runs). The broker of the same process shares that session (``source.session``); the
    source closes it when its iteration ends."""
    import importlib.util

    sym, exchange, depth = parse_rithmic_spec(spec, symbol)
    if importlib.util.find_spec("async_rithmic") is None:
        raise TapeflowError(f"{spec}: the Rithmic feed needs the rithmic extra: pip install 'tapeflow[rithmic]'")
    try:
        session = session_from_settings()
    except TapeflowError as e:
        raise TapeflowError(f"{spec}: {e}") from None
    return RithmicLiveSource(sym, exchange=exchange, session=session, owns_session=True, depth_levels=depth)
