"""The fake ORDER plant on :class:`FakeRithmic`: accounts, trade routes, a pretend exchange.

Answers login info (300), accounts (302), trade routes (310), order/bracket update subscriptions
(308/336), new order (312), bracket order (330), modify (314), cancel (316), cancel-all (346), exit
position (3504), show orders (320), replay executions (3506) and fill history (3512), and pushes
RithmicOrderNotification (351) and ExchangeOrderNotification (352) as Rithmic does. Every message
is one of async-rithmic's own classes (``server.make``).

The test drives the exchange: :meth:`FakeOrders.fill` (partial too), :meth:`venue_cancel`, and
``next_submit`` scripts the answer to the next submits: ``("ack", None)``, ``("reject", text)``
(refused in the response), ``("venue_reject", text)`` (taken, then rejected by the exchange),
``("hang", seconds)`` (taken, answered late), ``("drop", None)`` (taken, connection dropped before
the answer), ``("lose", None)`` (never taken, never answered). A second modify or cancel while one
is in progress (``modify_delay_s``) is refused as Rithmic refuses it; templates in ``mute`` are
taken and never answered.

Brackets: when an entry sent with 330 is completely filled, the venue places its stop and target
(``stop_ticks``/``target_ticks`` from the fill price) as orders of its own, tagged with the entry's
``original_basket_id`` and no ``user_tag``; a leg's fill cancels the other (OCO).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from async_rithmic.enums import SysInfraType
from google.protobuf.message import Message

from fake_rithmic.server import Conn, FakeRithmic, make

ORDER = SysInfraType.ORDER_PLANT
BUY, SELL = 1, 2
LIMIT, MARKET, STOP_LIMIT, STOP_MARKET = 1, 2, 3, 4
# RithmicOrderNotification.NotifyType / ExchangeOrderNotification.NotifyType
R_OPEN, R_MODIFIED, R_COMPLETE, R_MOD_FAILED, R_CANCEL_FAILED = 13, 14, 15, 16, 17
X_STATUS, X_MODIFY, X_CANCEL, X_TRIGGER, X_FILL, X_REJECT = 1, 2, 3, 4, 5, 6
TICK = Decimal("0.25")
ATOMIC = ("5", "Atomic order operation in progress")


@dataclass
class VOrder:
    basket_id: str
    user_tag: str
    symbol: str
    exchange: str
    side: int
    qty: int
    price_type: int
    price: float = 0.0
    trigger: float = 0.0
    manual_or_auto: int = 0
    filled: int = 0
    status: str = "open"  # open / complete
    reason: str = ""
    bracket: tuple[int, int] | None = None  # (stop_ticks, target_ticks)
    parent: str = ""  # a bracket leg: its entry's basket id
    legs: list[str] = field(default_factory=list)

    @property
    def working(self) -> bool:
        return self.status == "open"


@dataclass
class VFill:
    basket_id: str
    fill_id: str
    symbol: str
    side: int
    size: int
    price: float
    ssboe: int


class FakeOrders:
    def __init__(self, server: FakeRithmic, *, account_id: str = "TF-001", exchange: str = "CME") -> None:
        self.server, self.account_id, self.exchange = server, account_id, exchange
        self.orders: dict[str, VOrder] = {}
        self.fills: list[VFill] = []
        self.positions: dict[str, int] = {}
        self.next_submit: list[tuple[str, Any]] = []
        self.modify_delay_s = 0.0
        self.mute: set[int] = set()  # templates taken and never answered (a command lost on the way back)
        self.last_price: dict[str, float] = {}
        self.on_fill: list[Any] = []  # callbacks (the P&L plant) after each fill
        self._busy: set[str] = set()  # baskets with a modify or cancel in progress
        self._basket = itertools.count(1001)
        self._fill_id = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        for tid, fn in ((300, self._login_info), (302, self._accounts), (310, self._routes), (308, self._ok),
                        (336, self._ok), (312, self._submit), (330, self._submit), (314, self._modify),
                        (316, self._cancel), (346, self._cancel_all), (3504, self._exit), (320, self._show),
                        (3506, self._replay), (3512, self._fill_history)):
            server.on(tid, fn)

    # -- what tests look at ----------------------------------------------------------------------
    def submits(self) -> list[Message]:
        return [m for _, m in self.server.received if m.template_id in (312, 330)]

    def working(self) -> list[VOrder]:
        return [o for o in self.orders.values() if o.working]

    def by_tag(self, tag: str) -> VOrder:
        (o,) = [o for o in self.orders.values() if o.user_tag == tag]
        return o

    async def flushed(self) -> None:
        """Wait for late answers (hangs, modify delays) to be sent."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the exchange (driven by the test) -------------------------------------------------------
    async def fill(self, basket_id: str, qty: int, price: float) -> None:
        o = self.orders[basket_id]
        assert o.working and 0 < qty <= o.qty - o.filled, f"cannot fill {qty} of {o}"
        o.filled += qty
        f = VFill(basket_id, str(next(self._fill_id)), o.symbol, o.side, qty, price, int(time.time()))
        self.fills.append(f)
        self.positions[o.symbol] = self.positions.get(o.symbol, 0) + (qty if o.side == BUY else -qty)
        self.last_price[o.symbol] = price
        await self._push(self._fill_msg(f, o))
        if o.filled == o.qty:
            o.status, o.reason = "complete", "Fill"
            await self._push(self._order_msg(351, o, notify_type=R_COMPLETE, completion_reason="Fill"))
            if o.bracket is not None:
                await self._place_legs(o, price)
            if o.parent:
                for sib in self.orders[o.parent].legs:
                    if sib != basket_id and self.orders[sib].working:
                        await self.venue_cancel(sib)
        for cb in self.on_fill:
            await cb(o.symbol)

    async def venue_cancel(self, basket_id: str, reason: str = "Cancel") -> None:
        o = self.orders[basket_id]
        o.status, o.reason = "complete", reason
        await self._push(self._order_msg(352, o, notify_type=X_CANCEL, cancelled_size=o.qty - o.filled))
        await self._push(self._order_msg(351, o, notify_type=R_COMPLETE, completion_reason="Cancel"))

    def add_external(self, symbol: str, side: int, qty: int, price: float, tag: str = "") -> VOrder:
        """An order placed elsewhere (another platform, or us before a restart)."""
        o = VOrder(str(next(self._basket)), tag, symbol, self.exchange, side, qty, LIMIT, price=price)
        self.orders[o.basket_id] = o
        return o

    async def _place_legs(self, entry: VOrder, price: float) -> None:
        stop_ticks, target_ticks = entry.bracket or (0, 0)
        away = -1 if entry.side == BUY else 1
        exit_side = SELL if entry.side == BUY else BUY
        for ticks, typ, sign in ((stop_ticks, STOP_MARKET, away), (target_ticks, LIMIT, -away)):
            if not ticks:
                continue
            px = float(Decimal(repr(price)) + sign * ticks * TICK)
            leg = VOrder(str(next(self._basket)), "", entry.symbol, entry.exchange, exit_side, entry.qty, typ,
                         price=px if typ == LIMIT else 0.0, trigger=px if typ == STOP_MARKET else 0.0,
                         manual_or_auto=2, parent=entry.basket_id)
            self.orders[leg.basket_id] = leg
            entry.legs.append(leg.basket_id)
            await self._push(self._order_msg(351, leg, notify_type=R_OPEN))
            await self._push(self._order_msg(352, leg, notify_type=X_STATUS))

    # -- messages --------------------------------------------------------------------------------
    def _order_msg(self, template: int, o: VOrder, **extra: Any) -> Message:
        fields: dict[str, Any] = {
            "user_tag": o.user_tag or None, "basket_id": o.basket_id, "account_id": self.account_id,
            "fcm_id": "FCM", "ib_id": "IB", "symbol": o.symbol, "exchange": o.exchange, "quantity": o.qty,
            "price": o.price or None, "trigger_price": o.trigger or None, "transaction_type": o.side,
            "price_type": o.price_type, "manual_or_auto": o.manual_or_auto or None, "status": o.status,
            "total_fill_size": o.filled, "total_unfilled_size": o.qty - o.filled if o.working else 0,
            "original_basket_id": o.parent or None, "ssboe": int(time.time()),
        }
        fields.update(extra)
        return make(template, **fields)

    def _fill_msg(self, f: VFill, o: VOrder, **extra: Any) -> Message:
        return self._order_msg(352, o, notify_type=X_FILL, fill_id=f.fill_id, fill_price=f.price, fill_size=f.size,
                               fill_time=time.strftime("%H:%M:%S", time.gmtime(f.ssboe)),
                               source_ssboe=f.ssboe, source_nsecs=0, **extra)

    async def _push(self, msg: Message) -> None:
        await self.server.push(ORDER, msg)

    # -- handlers --------------------------------------------------------------------------------
    async def _ok(self, conn: Conn, req: Message) -> None:
        await self.server.reply(conn, req, req.template_id + 1)

    async def _login_info(self, conn: Conn, req: Message) -> None:
        await self.server.reply(conn, req, 301, final={"fcm_id": "FCM", "ib_id": "IB", "user_type": 3,
                                                       "user": conn.user})

    async def _accounts(self, conn: Conn, req: Message) -> None:
        await self.server.reply(conn, req, 303, rows=[{"fcm_id": "FCM", "ib_id": "IB", "account_id": self.account_id,
                                                      "account_name": "Tapeflow test", "account_currency": "USD"}])

    async def _routes(self, conn: Conn, req: Message) -> None:
        await self.server.reply(conn, req, 311, rows=[{"fcm_id": "FCM", "ib_id": "IB", "exchange": self.exchange,
                                                      "trade_route": "simulator", "status": "UP",
                                                      "is_default": True}])

    async def _submit(self, conn: Conn, req: Message) -> None:
        outcome, arg = self.next_submit.pop(0) if self.next_submit else ("ack", None)
        if outcome == "lose":
            return
        if outcome == "reject":
            await self.server.reply(conn, req, req.template_id + 1, rp_code=("1", arg or "order refused"))
            return
        o = VOrder(str(next(self._basket)), req.user_tag, req.symbol, req.exchange, req.transaction_type,
                   req.quantity, req.price_type, price=req.price, trigger=req.trigger_price,
                   manual_or_auto=req.manual_or_auto)
        if req.template_id == 330:
            o.bracket = (req.stop_ticks, req.target_ticks)
        self.orders[o.basket_id] = o
        if outcome == "drop":
            await self.server.drop(conn)
            return
        if outcome == "hang":
            self._later(arg, self._acknowledge(conn, req, o, ""))
            return
        await self._acknowledge(conn, req, o, arg if outcome == "venue_reject" else "")

    async def _acknowledge(self, conn: Conn, req: Message, o: VOrder, reject: str) -> None:
        await self.server.reply(conn, req, req.template_id + 1, rows=[{"user_tag": o.user_tag,
                                                                       "basket_id": o.basket_id}])
        await self._push(self._order_msg(351, o, notify_type=R_OPEN))
        if reject:
            o.status, o.reason = "complete", "Reject"
            await self._push(self._order_msg(352, o, notify_type=X_REJECT, text=reject))
            await self._push(self._order_msg(351, o, notify_type=R_COMPLETE, completion_reason="Reject", text=reject))
        else:
            await self._push(self._order_msg(352, o, notify_type=X_STATUS))

    def _later(self, delay: float, coro: Any) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await coro
        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _modify(self, conn: Conn, req: Message) -> None:
        if 314 in self.mute:
            return
        o = self.orders.get(req.basket_id)
        if o is None:
            await self.server.reply(conn, req, 315, rp_code=("5", "no such order"))
            return
        if req.basket_id in self._busy:
            await self.server.reply(conn, req, 315, rp_code=ATOMIC)
            return
        await self.server.reply(conn, req, 315, final={"basket_id": o.basket_id})
        if not o.working:
            await self._push(self._order_msg(351, o, notify_type=R_MOD_FAILED, text="order is complete"))
            return
        self._busy.add(o.basket_id)

        async def done() -> None:
            self._busy.discard(o.basket_id)
            if not o.working:  # filled or cancelled meanwhile
                await self._push(self._order_msg(351, o, notify_type=R_MOD_FAILED, text="order is complete"))
                return
            o.qty, o.price, o.trigger = req.quantity or o.qty, req.price or o.price, req.trigger_price or o.trigger
            await self._push(self._order_msg(351, o, notify_type=R_MODIFIED))
            await self._push(self._order_msg(352, o, notify_type=X_MODIFY))

        if self.modify_delay_s:
            self._later(self.modify_delay_s, done())
        else:
            await done()

    async def _cancel(self, conn: Conn, req: Message) -> None:
        if 316 in self.mute:
            return
        o = self.orders.get(req.basket_id)
        if o is not None and req.basket_id in self._busy:
            await self.server.reply(conn, req, 317, rp_code=ATOMIC)
            return
        await self.server.reply(conn, req, 317, final={"basket_id": req.basket_id})
        if o is None or not o.working:
            if o is not None:
                await self._push(self._order_msg(351, o, notify_type=R_CANCEL_FAILED, text="order is complete"))
            return
        await self.venue_cancel(o.basket_id)

    async def _cancel_all(self, conn: Conn, req: Message) -> None:
        await self.server.reply(conn, req, 347)
        for o in self.working():
            await self.venue_cancel(o.basket_id)

    async def _exit(self, conn: Conn, req: Message) -> None:
        await self.server.reply(conn, req, 3505, final={"symbol": req.symbol, "exchange": req.exchange})
        pos = self.positions.get(req.symbol, 0)
        if pos:
            o = VOrder(str(next(self._basket)), "", req.symbol, req.exchange, SELL if pos > 0 else BUY, abs(pos),
                       MARKET, manual_or_auto=req.manual_or_auto)
            self.orders[o.basket_id] = o
            await self._push(self._order_msg(351, o, notify_type=R_OPEN))
            await self.fill(o.basket_id, abs(pos), self.last_price.get(req.symbol, 5000.0))

    async def _show(self, conn: Conn, req: Message) -> None:
        for o in self.working():
            await conn.send(self._order_msg(352, o, notify_type=X_STATUS, is_snapshot=True))
        await self.server.reply(conn, req, 321)

    def _window(self, req: Message) -> list[VFill]:
        return [f for f in self.fills if req.start_index <= f.ssboe <= req.finish_index]

    async def _replay(self, conn: Conn, req: Message) -> None:
        for f in self._window(req):
            await conn.send(self._fill_msg(f, self.orders[f.basket_id], is_snapshot=True))
        await self.server.reply(conn, req, 3507)

    async def _fill_history(self, conn: Conn, req: Message) -> None:
        rows = [{"basket_id": f.basket_id, "fill_id": f.fill_id, "symbol": f.symbol, "exchange": self.exchange,
                 "account_id": self.account_id, "transaction_type": "BUY" if f.side == BUY else "SELL",
                 "fill_price": f.price, "fill_size": f.size, "ssboe": f.ssboe} for f in self._window(req)]
        await self.server.reply(conn, req, 3513, rows=rows)
