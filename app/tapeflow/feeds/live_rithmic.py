"""Rithmic (``tapeflow[rithmic]``, the ``async-rithmic`` client): trades with aggressor side and the
best bid/offer as a ``LiveSource``.

``async-rithmic`` delivers market data to ``client.on_tick`` callbacks as dicts made from its
protobuf messages (``MessageToDict`` with proto field names): ``LastTrade`` (template 150:
``trade_price`` (float points), ``trade_size``, ``aggressor`` 1 buy / 2 sell, exchange time
``source_ssboe``/``source_nsecs``, gateway time ``ssboe``/``usecs``, ``is_snapshot``) and
``BestBidOffer`` (template 151: ``bid_price``/``bid_size``/``bid_orders``, the same for ask,
``presence_bits`` 1 bid / 2 ask). Fields equal to their default are absent from the dict (0).
:func:`translate_ticks` turns a list of them into one event batch: prices to ticks exactly (a
price off the tick grid is counted as malformed, never rounded), trades that are the subscription
snapshot of the *previous* print are skipped (counted), BBO sides become LEVEL events at depth 0.
Full depth (``on_market_depth``, DepthByOrder) is not translated yet.

Rithmic has no stream sequence numbers, so gaps cannot be measured: an outage is reported with
an unknown count, and after a reconnect the BBO snapshot re-states the book.

Credentials: ``RITHMIC_USER``, ``RITHMIC_PASSWORD`` (env or keyring ``tapeflow``/``rithmic-user``,
``rithmic-password``), ``RITHMIC_SYSTEM`` (e.g. ``Rithmic Test``), ``RITHMIC_URL`` (gateway
``host:port``).

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

Expect trades with a buy/sell side (``stats.inferred_side`` stays 0), BBO LEVEL rows and no
``off-tick price`` entries in ``stats.malformed``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from tapeflow import __version__
from tapeflow.core.events import EVENT_DTYPE, NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import Instrument, parse_symbol
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.live_credentials import get_secret
from tapeflow.feeds.live_feed import Data, FeedError, LiveFeed, Message, Opened

LAST_TRADE = 1  # async_rithmic.DataType.LAST_TRADE
BBO = 2  # async_rithmic.DataType.BBO
_AGGRESSOR = {1: Side.BUY, 2: Side.SELL}
_NS = 1_000_000_000


def _ticks(price: float, inst: Instrument, stats: FeedStats) -> int | None:
    """Points (float) to ticks, exactly: a price more than 1e-6 points off the grid is malformed."""
    ticks = round(price / float(inst.tick_size))
    if abs(ticks * float(inst.tick_size) - price) > 1e-6:
        stats.skip("off-tick price")
        return None
    return ticks


def _gateway_ns(d: dict) -> int:
    return int(d.get("ssboe", 0)) * _NS + int(d.get("usecs", 0)) * 1000


def _exchange_ns(d: dict) -> int:
    if "source_ssboe" not in d:
        return _gateway_ns(d)
    nsecs = d.get("source_nsecs")
    sub = int(nsecs) if nsecs is not None else int(d.get("source_usecs", 0)) * 1000
    return int(d["source_ssboe"]) * _NS + sub


def translate_ticks(ticks: Iterable[dict], inst: Instrument, stats: FeedStats | None = None) -> np.ndarray:
    """``on_tick`` dicts (LastTrade and BestBidOffer) -> one event batch in arrival order.

    ``stats`` gets the raw tick count and skipped ticks by reason (events are counted by the feed).
    """
    stats = stats if stats is not None else FeedStats()
    rows: list[tuple[int, ...]] = []  # ts_event, ts_recv, kind, side, price, size, count, flags, action
    for d in ticks:
        stats.records += 1
        kind = int(d.get("data_type", LAST_TRADE if "trade_price" in d else BBO))
        snap = int(Flag.SNAPSHOT) if d.get("is_snapshot") else 0
        recv = _gateway_ns(d)
        if kind == LAST_TRADE:
            if snap:
                stats.skip("trade snapshot on subscribe (not a new print)")
                continue
            size = int(d.get("trade_size", 0))
            if size <= 0 or "trade_price" not in d:
                stats.skip("trade without price or size")
                continue
            px = _ticks(float(d["trade_price"]), inst, stats)
            if px is None:
                continue
            side = _AGGRESSOR.get(int(d.get("aggressor", 0)), Side.NONE)
            rows.append((_exchange_ns(d), recv, Kind.TRADE, side, px, size, 0, 0, ord("T")))
        elif kind == BBO:
            bits = int(d.get("presence_bits", 3))
            for bit, side, name in ((1, Side.BUY, "bid"), (2, Side.SELL, "ask")):
                if not bits & bit:
                    continue
                size = int(d.get(f"{name}_size", 0))
                if size > 0:
                    px = _ticks(float(d.get(f"{name}_price", 0.0)), inst, stats)
                    if px is None:
                        continue
                else:
                    px = NO_PRICE
                rows.append((recv, recv, Kind.LEVEL, side, px, size, int(d.get(f"{name}_orders", 0)), snap, ord("M")))
        else:
            stats.skip(f"tick data_type {kind} not translated")
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    if rows:
        cols = list(zip(*rows, strict=True))
        for name, col in zip(("ts_event", "ts_recv", "kind", "side", "price", "size", "count", "flags", "action"),
                             cols, strict=True):
            out[name] = col
        out["level"] = 0
    return out


class _RithmicConnection:
    def __init__(self, client: Any, inst: Instrument, stats: FeedStats) -> None:
        self.client = client
        self.inst = inst
        self.stats = stats
        self._pending: list[dict] = []
        self._ready = asyncio.Event()

    async def on_tick(self, data: dict) -> None:
        self._pending.append(data)
        self._ready.set()

    async def recv(self) -> Message:
        while True:
            if not self._pending:
                self._ready.clear()
                await self._ready.wait()
                continue
            ticks, self._pending = self._pending, []
            events = translate_ticks(ticks, self.inst, self.stats)
            if len(events):
                return Data(events)

    async def close(self) -> None:
        try:
            await self.client.disconnect()
        except Exception as e:  # the gateway may already be gone
            raise FeedError(f"rithmic disconnect: {e}") from None


class RithmicConnector:
    def __init__(self, symbol: str, exchange: str, inst: Instrument, stats: FeedStats, client_factory: Any = None):
        self.name = f"rithmic:{exchange}/{symbol}"
        self.symbol = symbol
        self.exchange = exchange
        self.inst = inst
        self.stats = stats
        self._client_factory = client_factory

    def _client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory()
        try:
            from async_rithmic import RithmicClient
        except ImportError:
            raise FeedError("the async-rithmic package is not installed: pip install 'tapeflow[rithmic]'") from None
        return RithmicClient(
            user=get_secret("RITHMIC_USER", "rithmic-user"),
            password=get_secret("RITHMIC_PASSWORD", "rithmic-password"),
            system_name=os.environ.get("RITHMIC_SYSTEM", "Rithmic Test"),
            app_name="tapeflow",
            app_version=__version__,
            url=os.environ.get("RITHMIC_URL", "rituz00100.rithmic.com:443"),
        )

    async def connect(self, resume_from: int | None) -> tuple[_RithmicConnection, Opened]:
        client = self._client()
        conn = _RithmicConnection(client, self.inst, self.stats)
        client.on_tick += conn.on_tick
        await client.connect()
        symbol = self.symbol
        if symbol == self.inst.root:
            symbol = await client.get_front_month_contract(symbol, self.exchange)
        await client.subscribe_to_market_data(symbol, self.exchange, LAST_TRADE | BBO)
        info = FeedInfo(source=self.name, schema="rithmic-tbbo", instrument=self.inst, symbols=[symbol])
        return conn, Opened(info=info)


class RithmicLiveSource(LiveFeed):
    """Rithmic live trades + BBO: ``RithmicLiveSource('ES')`` (front month) or ``('ESZ6')``."""

    def __init__(self, symbol: str = "ES", *, exchange: str = "CME", client_factory: Any = None,
                 **feed_opts: Any) -> None:
        inst = parse_symbol(symbol).instrument
        stats = FeedStats()
        connector = RithmicConnector(symbol.upper(), exchange, inst, stats, client_factory)
        feed_opts.setdefault("heartbeat_timeout_s", 30.0)
        super().__init__(connector, FeedInfo(source=connector.name, schema="rithmic-tbbo", instrument=inst),
                         **feed_opts)
        self.stats = stats  # translate_ticks counts raw ticks and malformed ones there
        self.count_records = False
