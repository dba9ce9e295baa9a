"""The fake ticker plant on :class:`~tests.fake_rithmic.server.FakeRithmic`: front month (113),
market data subscriptions (100) with LastTrade (150) / BestBidOffer (151) pushes, and market
depth by order: snapshot (115 -> 116 rows) and update subscriptions (117) with DepthByOrder (160)
pushes, each followed by a DepthByOrderEndEvent (161), as a Rithmic ticker plant sends them.

The plant holds one order book per symbol (order id -> side, price, size) so a snapshot taken at
any moment and the updates after it are consistent, with one ``sequence_number`` counter per
symbol: a snapshot carries the number of the last update it includes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from async_rithmic.protocol_buffers import request_depth_by_order_updates_pb2, request_market_data_update_pb2
from async_rithmic.protocol_buffers.request_login_pb2 import RequestLogin
from google.protobuf.message import Message

from fake_rithmic.server import Conn, FakeRithmic, make

TICKER = RequestLogin.SysInfraType.TICKER_PLANT
LAST_TRADE_BIT, BBO_BIT = 1, 2
NEW, CHANGE, DELETE = 1, 2, 3
BUY, SELL = 1, 2
_SUBSCRIBE = request_market_data_update_pb2.RequestMarketDataUpdate.Request.SUBSCRIBE
_DEPTH_SUBSCRIBE = request_depth_by_order_updates_pb2.RequestDepthByOrderUpdates.Request.SUBSCRIBE


@dataclass
class Book:
    orders: dict[str, tuple[int, float, int]] = field(default_factory=dict)  # order id -> (side, price, size)
    sequence: int = 0


class FakeTicker:
    """Register on a server: ``ticker = FakeTicker(server, front={"ES": "ESZ6"})``."""

    def __init__(self, server: FakeRithmic, *, front: dict[str, str] | None = None, exchange: str = "CME") -> None:
        self.server = server
        self.front = dict(front or {"ES": "ESZ6"})
        self.exchange = exchange
        self.books: dict[str, Book] = {}
        self.market_data: dict[Conn, dict[str, int]] = {}  # conn -> symbol -> update bits
        self.depth_subs: dict[Conn, set[str]] = {}
        self.last_trade: dict[str, dict] = {}
        server.on(113, self._front_month)
        server.on(100, self._market_data)
        server.on(115, self._depth_snapshot)
        server.on(117, self._depth_updates)

    def book(self, symbol: str) -> Book:
        return self.books.setdefault(symbol, Book())

    # -- what a test makes the market do -----------------------------------------------------------
    async def trade(self, symbol: str, price: float, size: int, aggressor: int, *, ssboe: int, nsecs: int = 0) -> None:
        fields = {"symbol": symbol, "exchange": self.exchange, "presence_bits": 1, "trade_price": price,
                  "trade_size": size, "aggressor": aggressor, "ssboe": ssboe, "usecs": nsecs // 1000,
                  "source_ssboe": ssboe, "source_nsecs": nsecs}
        self.last_trade[symbol] = fields
        await self._push(symbol, LAST_TRADE_BIT, make(150, **fields))

    async def bbo(self, symbol: str, bid: tuple[float, int], ask: tuple[float, int], *, ssboe: int) -> None:
        await self._push(symbol, BBO_BIT, make(151, symbol=symbol, exchange=self.exchange, presence_bits=3,
                                               bid_price=bid[0], bid_size=bid[1], bid_orders=1,
                                               ask_price=ask[0], ask_size=ask[1], ask_orders=1, ssboe=ssboe))

    def rest(self, symbol: str, order_id: str, side: int, price: float, size: int) -> None:
        """An order resting before anyone looks (part of the next snapshot, no update pushed)."""
        self.book(symbol).orders[order_id] = (side, price, size)

    async def depth(self, symbol: str, changes: list[tuple[int, str, int, float, int]], *, ssboe: int,
                    nsecs: int = 0) -> None:
        """One DepthByOrder message of ``(update type, order id, side, price, size)`` entries, then
        the end event; the plant's book follows it."""
        book = self.book(symbol)
        book.sequence += 1
        for kind, oid, side, price, size in changes:
            if kind == DELETE:
                book.orders.pop(oid, None)
            else:
                book.orders[oid] = (side, price, size)
        msg = make(160, symbol=symbol, exchange=self.exchange, sequence_number=book.sequence,
                   update_type=[c[0] for c in changes], exchange_order_id=[c[1] for c in changes],
                   transaction_type=[c[2] for c in changes], depth_price=[c[3] for c in changes],
                   depth_size=[c[4] for c in changes], ssboe=ssboe, usecs=nsecs // 1000,
                   source_ssboe=ssboe, source_nsecs=nsecs)
        end = make(161, symbol=[symbol], exchange=[self.exchange], sequence_number=book.sequence, ssboe=ssboe)
        for conn, symbols in list(self.depth_subs.items()):
            if symbol in symbols and not conn.closed:
                await conn.send(msg)
                await conn.send(end)

    # -- requests ------------------------------------------------------------------------------------
    async def _push(self, symbol: str, bit: int, msg: Message) -> None:
        for conn, subs in list(self.market_data.items()):
            if not conn.closed and subs.get(symbol, 0) & bit:
                await conn.send(msg)

    async def _front_month(self, conn: Conn, req: Message) -> None:
        if req.symbol not in self.front:
            await self.server.reply(conn, req, 114, rp_code=("7", "no data"))
            return
        await self.server.reply(conn, req, 114, final={
            "symbol": req.symbol, "exchange": req.exchange, "is_front_month_symbol": True,
            "trading_symbol": self.front[req.symbol], "trading_exchange": req.exchange})

    async def _market_data(self, conn: Conn, req: Message) -> None:
        subs = self.market_data.setdefault(conn, {})
        if req.request == _SUBSCRIBE:
            subs[req.symbol] = subs.get(req.symbol, 0) | req.update_bits
        else:
            subs[req.symbol] = subs.get(req.symbol, 0) & ~req.update_bits
        await conn.send(make(101, user_msg=list(req.user_msg), rp_code=["0"]))
        last = self.last_trade.get(req.symbol)
        if req.request == _SUBSCRIBE and last is not None and req.update_bits & LAST_TRADE_BIT:
            await conn.send(make(150, is_snapshot=True, **last))  # Rithmic re-states the last print

    async def _depth_snapshot(self, conn: Conn, req: Message) -> None:
        book = self.book(req.symbol)
        levels: dict[tuple[int, float], list[tuple[str, int]]] = {}
        for oid, (side, price, size) in book.orders.items():
            levels.setdefault((side, price), []).append((oid, size))
        rows = [{"symbol": req.symbol, "exchange": req.exchange, "sequence_number": book.sequence,
                 "depth_side": side, "depth_price": price, "depth_size": [s for _, s in orders],
                 "exchange_order_id": [o for o, _ in orders]}
                for (side, price), orders in sorted(levels.items())]
        await self.server.reply(conn, req, 116, rows=rows, final={"sequence_number": book.sequence})

    async def _depth_updates(self, conn: Conn, req: Message) -> None:
        subs = self.depth_subs.setdefault(conn, set())
        if req.request == _DEPTH_SUBSCRIBE:
            subs.add(req.symbol)
        else:
            subs.discard(req.symbol)
        await conn.send(make(118, user_msg=list(req.user_msg), rp_code=["0"]))
