"""The fake P&L plant on :class:`FakeRithmic`: positions (450) and account figures (451).

Answers subscribe (400) and snapshot (402: one 450 per symbol ever traded, flat ones included,
then one 451, all ``is_snapshot``, then 403); after every fill of the fake order plant it pushes
the symbol's 450 and the account's 451. The account's closed P&L is average-cost, in dollars, with
``pnl_bias`` added once a position was closed (a firm that counts differently from us).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from async_rithmic.enums import SysInfraType
from google.protobuf.message import Message

from fake_rithmic.orders import BUY, FakeOrders
from fake_rithmic.server import Conn, FakeRithmic, make

PNL = SysInfraType.PNL_PLANT
POINT_VALUE = {"ES": Decimal(50), "MES": Decimal(5), "NQ": Decimal(20), "MNQ": Decimal(2)}


class FakePnl:
    def __init__(self, server: FakeRithmic, orders: FakeOrders, *, balance: Decimal = Decimal(50_000),
                 pnl_bias: Decimal = Decimal(0)) -> None:
        self.server, self.orders = server, orders
        self.balance, self.pnl_bias = balance, pnl_bias
        self.subscribed = False
        orders.on_fill.append(self._changed)
        server.on(400, self._subscribe)
        server.on(402, self._snapshot)

    def closed_pnl(self) -> Decimal:
        """Average-cost realized P&L of every fill so far, in dollars."""
        total = Decimal(0)
        closed_any = False
        pos: dict[str, tuple[int, Decimal]] = {}
        for f in self.orders.fills:
            qty, avg = pos.get(f.symbol, (0, Decimal(0)))
            signed = f.size if f.side == BUY else -f.size
            px = Decimal(repr(f.price))
            if qty and (qty > 0) != (signed > 0):
                closing = min(abs(qty), abs(signed))
                closed_any = True
                total += (px - avg) * closing * (1 if qty > 0 else -1) * POINT_VALUE.get(f.symbol[:-2], Decimal(50))
                qty += closing if qty < 0 else -closing
                signed += -closing if signed > 0 else closing
            if signed:
                avg = (avg * abs(qty) + px * abs(signed)) / (abs(qty) + abs(signed)) if qty else px
                qty += signed
            pos[f.symbol] = (qty, avg)
        return total + (self.pnl_bias if closed_any else 0)

    def _instrument(self, symbol: str, snapshot: bool) -> Message:
        net = self.orders.positions.get(symbol, 0)
        return make(450, is_snapshot=snapshot or None, fcm_id="FCM", ib_id="IB", account_id=self.orders.account_id,
                    symbol=symbol, exchange=self.orders.exchange, net_quantity=net, open_position_quantity=abs(net))

    def _account(self, snapshot: bool) -> Message:
        closed = self.closed_pnl()
        return make(451, is_snapshot=snapshot or None, fcm_id="FCM", ib_id="IB", account_id=self.orders.account_id,
                    net_quantity=sum(self.orders.positions.values()), account_balance=str(self.balance + closed),
                    day_closed_pnl=str(closed), day_pnl=str(closed), day_open_pnl="0")

    async def _changed(self, symbol: str) -> None:
        if self.subscribed:
            await self.server.push(PNL, self._instrument(symbol, False))
            await self.server.push(PNL, self._account(False))

    async def _subscribe(self, conn: Conn, req: Message) -> None:
        self.subscribed = req.request == 1
        await self.server.reply(conn, req, 401)

    async def _snapshot(self, conn: Conn, req: Any) -> None:
        for symbol in sorted(self.orders.positions):
            await conn.send(self._instrument(symbol, True))
        await conn.send(self._account(True))
        await self.server.reply(conn, req, 403)
