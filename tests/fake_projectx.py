"""A local ProjectX Gateway for tests: the real REST paths and SignalR user hub on 127.0.0.1.

It keeps orders, trades and positions like the venue, pushes GatewayUserOrder / Trade / Position
events to connected hubs, and is scripted from the test: what the next place does (ack, reject,
hang past the client's timeout, drop the connection after taking the order), fills (also
partial) at a price, and dropping every hub socket. Venue brackets: on an entry fill the venue
places the stop and target legs (no custom tag) and cancels one when the other fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

RS = "\x1e"
CONTRACT = {"id": "CON.F.US.EP.Z26", "name": "ESZ6", "description": "E-mini S&P 500", "tickSize": 0.25,
            "tickValue": 12.5, "activeContract": True, "symbolId": "F.US.EP"}
TICK = Decimal("0.25")
POINT_VALUE = Decimal(50)  # ES: $12.50 a tick


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeProjectX:
    account_id: int = 465
    fee: Decimal = Decimal("1.40")
    pnl_bias: Decimal = Decimal(0)  # added to each closing trade's P&L: the venue counting differently
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    position: int = 0  # signed contracts of the one contract
    avg: Decimal = Decimal(0)
    unavailable: int = 0  # the next this many REST calls answer 503 (venue or network trouble)
    place_requests: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every path called
    next_place: deque[tuple[str, Any]] = field(default_factory=deque)  # ("ack"|"reject"|"hang"|"drop", arg)
    brackets: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)  # entry -> (stop, target) ids
    _ids: int = 9000
    _trade_ids: int = 500
    _hubs: list[web.WebSocketResponse] = field(default_factory=list)
    _sending: set[asyncio.Task[None]] = field(default_factory=set)

    async def flushed(self) -> None:
        """Every event pushed so far is on the wire."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    # -- script ---------------------------------------------------------------------------------
    def fill(self, order_id: int, qty: int | None = None, price: Decimal | float | None = None) -> None:
        """Execute ``qty`` (default: all that is left) of an open order at ``price``."""
        o = self.orders[order_id]
        qty = qty or o["size"] - o["fillVolume"]
        px = Decimal(str(price if price is not None else (o["limitPrice"] or o["stopPrice"] or 5000)))
        self._trade_ids += 1
        side = 1 if o["side"] == 0 else -1
        closed = min(qty, abs(self.position)) if self.position * side < 0 else 0
        pnl = None if not closed else float((px - self.avg) * closed * (1 if self.position > 0 else -1)
                                            * POINT_VALUE + self.pnl_bias)
        trade = {"id": self._trade_ids, "accountId": self.account_id, "contractId": o["contractId"],
                 "creationTimestamp": now_iso(), "price": float(px), "profitAndLoss": pnl,
                 "fees": float(self.fee * qty), "side": o["side"], "size": qty, "voided": False, "orderId": order_id}
        self.trades.append(trade)
        o["fillVolume"] += qty
        o["filledPrice"] = float(px)
        if o["fillVolume"] >= o["size"]:
            o["status"] = 2
        self._move_position(side * qty, px)
        self._push("GatewayUserTrade", trade)
        self._push("GatewayUserOrder", o)
        self._after_fill(order_id, px)

    def cancel_order(self, order_id: int) -> None:
        o = self.orders[order_id]
        if o["status"] in (1, 6):
            o["status"] = 3
            o["updateTimestamp"] = now_iso()
            self._push("GatewayUserOrder", o)

    def add_external(self, side: int, size: int, limit: float, tag: str | None = None) -> int:
        """An order placed on another platform (no custom tag), or by an earlier Tapeflow (``tag``)."""
        return self._new_order({"contractId": CONTRACT["id"], "type": 1, "side": side, "size": size,
                                "limitPrice": limit, "stopPrice": None, "customTag": tag})

    async def drop_hubs(self) -> None:
        for ws in list(self._hubs):
            await ws.close()
        self._hubs.clear()

    # -- venue behaviour ------------------------------------------------------------------------
    def _new_order(self, body: dict[str, Any], status: int = 1) -> int:
        self._ids += 1
        self.orders[self._ids] = {
            "id": self._ids, "accountId": self.account_id, "contractId": body["contractId"],
            "symbolId": CONTRACT["symbolId"], "creationTimestamp": now_iso(), "updateTimestamp": now_iso(),
            "status": status, "type": body["type"], "side": body["side"], "size": body["size"],
            "limitPrice": body.get("limitPrice"), "stopPrice": body.get("stopPrice"), "fillVolume": 0,
            "filledPrice": None, "customTag": body.get("customTag"),
        }
        self._push("GatewayUserOrder", self.orders[self._ids])
        return self._ids

    def _move_position(self, delta: int, px: Decimal) -> None:
        new = self.position + delta
        if self.position == 0 or (self.position > 0) == (delta > 0):
            self.avg = (self.avg * abs(self.position) + px * abs(delta)) / abs(new) if new else Decimal(0)
        elif new == 0:
            self.avg = Decimal(0)
        self.position = new
        kind = 1 if new > 0 else 2 if new < 0 else 0
        self._push("GatewayUserPosition", {"id": 1, "accountId": self.account_id, "contractId": CONTRACT["id"],
                                           "creationTimestamp": now_iso(), "type": kind,
                                           "size": abs(new), "averagePrice": float(self.avg)})

    def _after_fill(self, order_id: int, px: Decimal) -> None:
        o = self.orders[order_id]
        spec = o.get("_brackets")
        if spec and order_id not in self.brackets:
            exit_side = 1 - o["side"]
            sign = 1 if o["side"] == 0 else -1
            stop = target = None
            if spec[0]:
                stop = self._new_order({"contractId": o["contractId"], "type": 4, "side": exit_side, "size": o["size"],
                                        "stopPrice": float(px - sign * spec[0] * TICK)})
            if spec[1]:
                target = self._new_order({"contractId": o["contractId"], "type": 1, "side": exit_side,
                                          "size": o["size"], "limitPrice": float(px + sign * spec[1] * TICK)})
            self.brackets[order_id] = (stop, target)
        for stop, target in self.brackets.values():
            if order_id in (stop, target) and o["status"] == 2:
                other = target if order_id == stop else stop
                if other is not None:
                    self.cancel_order(other)

    def _push(self, target: str, data: dict[str, Any]) -> None:
        public = {k: v for k, v in data.items() if not k.startswith("_")}
        frame = json.dumps({"type": 1, "target": target, "arguments": [{"action": 1, "data": public}]}) + RS
        for ws in list(self._hubs):
            if not ws.closed:
                task = asyncio.get_running_loop().create_task(ws.send_str(frame))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    # -- REST -----------------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(path)
        body = await request.json()
        if self.unavailable > 0:
            self.unavailable -= 1
            return web.Response(status=503)
        ok: dict[str, Any] = {"success": True, "errorCode": 0, "errorMessage": None}
        if path == "/api/Auth/loginKey":
            good = body.get("apiKey") == "key-123"
            return web.json_response({"token": "tok" if good else None, "success": good,
                                      "errorCode": 0 if good else 3, "errorMessage": None if good else "bad key"})
        if request.headers.get("Authorization") != "Bearer tok":
            return web.Response(status=401)
        if path == "/api/Auth/validate":
            return web.json_response({**ok, "newToken": "tok"})
        if path == "/api/Account/search":
            return web.json_response({**ok, "accounts": [{"id": self.account_id, "name": "50KTC", "balance": 50000,
                                                          "canTrade": True, "isVisible": True, "simulated": True}]})
        if path == "/api/Contract/search":
            return web.json_response({**ok, "contracts": [CONTRACT]})
        if path == "/api/Order/place":
            return await self._place(request, body, ok)
        if path == "/api/Order/cancel":
            o = self.orders.get(body["orderId"])
            if o is None or o["status"] not in (1, 6):
                return web.json_response({"success": False, "errorCode": 2, "errorMessage": "Order not found"})
            self.cancel_order(o["id"])
            return web.json_response(ok)
        if path == "/api/Order/modify":
            o = self.orders.get(body["orderId"])
            if o is None or o["status"] not in (1, 6):
                return web.json_response({"success": False, "errorCode": 2, "errorMessage": "Order not found"})
            o.update(size=body["size"], limitPrice=body.get("limitPrice"), stopPrice=body.get("stopPrice"))
            self._push("GatewayUserOrder", o)
            return web.json_response(ok)
        if path == "/api/Order/searchOpen":
            live = [self._public(o) for o in self.orders.values() if o["status"] in (1, 6)]
            return web.json_response({**ok, "orders": live})
        if path == "/api/Order/search":
            return web.json_response({**ok, "orders": [self._public(o) for o in self.orders.values()]})
        if path == "/api/Trade/search":
            return web.json_response({**ok, "trades": self.trades})
        if path == "/api/Position/searchOpen":
            pos = [] if self.position == 0 else [{
                "id": 1, "accountId": self.account_id, "contractId": CONTRACT["id"], "creationTimestamp": now_iso(),
                "type": 1 if self.position > 0 else 2, "size": abs(self.position), "averagePrice": float(self.avg)}]
            return web.json_response({**ok, "positions": pos})
        if path == "/api/Position/closeContract":
            if self.position:
                oid = self._new_order({"contractId": body["contractId"], "type": 2,
                                       "side": 1 if self.position > 0 else 0, "size": abs(self.position)})
                self.fill(oid, price=self.avg or 5000)
            return web.json_response(ok)
        return web.Response(status=404)

    async def _place(self, request: web.Request, body: dict[str, Any], ok: dict[str, Any]) -> web.StreamResponse:
        self.place_requests.append(body)
        action, arg = self.next_place.popleft() if self.next_place else ("ack", None)
        if action == "lose":  # the request dies on the way: no order, no answer
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.05)
            return web.Response(status=500)
        if action == "reject":
            return web.json_response({"success": False, "errorCode": 2, "errorMessage": arg, "orderId": None})
        oid = self._new_order(body)
        sl, tp = body.get("stopLossBracket"), body.get("takeProfitBracket")
        if sl or tp:
            self.orders[oid]["_brackets"] = ((sl or {}).get("ticks"), (tp or {}).get("ticks"))
        if action == "hang":
            await asyncio.sleep(arg)
        if action == "drop":
            await self.drop_hubs()
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.05)
        return web.json_response({**ok, "orderId": oid})

    @staticmethod
    def _public(o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if not k.startswith("_")}

    # -- hub ------------------------------------------------------------------------------------
    async def _hub(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if request.query.get("access_token") != "tok":
            await ws.close()
            return ws
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            for part in msg.data.split(RS):
                if not part:
                    continue
                rec = json.loads(part)
                if rec.get("protocol") == "json":
                    await ws.send_str("{}" + RS)
                elif rec.get("type") == 1 and rec.get("target") == "SubscribeTrades":
                    self._hubs.append(ws)  # the last subscription: events flow from here on
        with contextlib.suppress(ValueError):
            self._hubs.remove(ws)
        return ws

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{tail:.*}", self._rest)
        app.router.add_get("/hubs/user", self._hub)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        await self.drop_hubs()
        await self._runner.cleanup()
