"""The ProjectX Gateway as a ``Broker``: orders out over REST, the venue's word back over the user hub.

* A submit is sent exactly once. A refusal ends the order REJECTED with the venue's text; no
  answer (timeout, dropped socket) leaves it SUBMITTED and in flight, resolved by looking its
  custom tag (our client order id) up at the venue, never by sending it again.
* Fills come from the venue's trades only, de-duplicated on the trade id (restored from the
  journal), so a trade seen live, in a reconnect's Trade/search and after a restart books once.
* Brackets are the venue's (stopLossBracket / takeProfitBracket in ticks from the fill): the
  position is protected by the venue from the first fill even if Tapeflow dies. Their legs arrive
  as venue orders without our tag and are adopted as bracket legs.
* New entries are refused while the hub is down or a reconciliation is running; exits pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import msgspec

from tapeflow.core.events import Side
from tapeflow.core.sessions import session_of, trading_date_of
from tapeflow.trading.client_ids import is_ours
from tapeflow.trading.live.book import external_request
from tapeflow.trading.live.projectx.api import (
    OutcomeUnknownError,
    ProjectXClient,
    PxContract,
    PxOrder,
    PxOrderStatus,
    PxOrderType,
    PxPosition,
    PxSide,
    PxTrade,
    VenueRefusedError,
    parse_ts,
)
from tapeflow.trading.live.reports import KillReport, ReconcileReport, unprotected
from tapeflow.trading.live.signalr import HubConnection
from tapeflow.trading.live.venue_broker import VenueBroker
from tapeflow.trading.order_state import (
    Cancelled,
    CommandRefused,
    Expired,
    Rejected,
    Updated,
    UpdateRequested,
)
from tapeflow.trading.orders import Fill, Order, OrderStatus, OrderType, Source

SYMBOLS = {"ES": "F.US.EP", "MES": "F.US.MES", "NQ": "F.US.ENQ", "MNQ": "F.US.MNQ"}
"""Our roots -> the gateway's symbol ids."""

_TYPES = {OrderType.MARKET: PxOrderType.MARKET, OrderType.LIMIT: PxOrderType.LIMIT, OrderType.STOP: PxOrderType.STOP}
_BACK = {int(v): k for k, v in _TYPES.items()}
_LIVE = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_UPDATE)


class ProjectXBroker(VenueBroker):
    """One ProjectX account; ``await start()`` connects, ``run()`` keeps the hub up."""

    def __init__(
        self,
        client: ProjectXClient,
        hub_url: str,
        account_id: int,
        contracts: dict[str, PxContract],
        *,
        seen_fills: Iterable[str] = (),
        since_ns: int = 0,
        poll_s: float = 0.5,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(seen_fills=seen_fills, since_ns=since_ns, poll_s=poll_s, clock=clock)
        self.client, self.hub_url, self.account_id = client, hub_url, account_id
        self.contracts = contracts
        self._root_of = {c.id: root for root, c in contracts.items()}
        self.venue_account: dict[str, Any] = {}  # last GatewayUserAccount (balance, the venue's P&L)
        self._hub: HubConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pnl_trades: set[int] = set()

    # -- Broker protocol ---------------------------------------------------------------------
    def _cancel_at_venue(self, o: Order) -> None:
        self._spawn(self._command(o.id, "/api/Order/cancel", {"orderId": int(o.venue_id)}))

    def modify(self, order_id: int, *, qty: int | None = None, limit_price: int | None = None,
               stop_price: int | None = None) -> None:
        o = self.book.orders.get(order_id)
        c = self.contracts.get(o.instrument) if o is not None else None
        if o is None or c is None or not o.is_open or not o.venue_id:
            return
        new_qty = o.qty if qty is None else qty
        lp = o.limit_price if limit_price is None else limit_price
        sp = o.stop_price if stop_price is None else stop_price
        self.book.notify(order_id, UpdateRequested(), self.clock())
        body = {"orderId": int(o.venue_id), "size": new_qty, "limitPrice": _price(lp, c),
                "stopPrice": _price(sp, c), "trailPrice": None}
        self._spawn(self._command(order_id, "/api/Order/modify", body,
                                  Updated(qty=new_qty, limit_price=lp, stop_price=sp)))

    # -- connection --------------------------------------------------------------------------
    async def start(self) -> ReconcileReport:
        """Connect the user hub, subscribe, reconcile; entries stay halted until this returns."""
        self.reconciling = True
        if self._hub is not None:
            await self._hub.close()  # a reconnect replaces the old socket, never runs beside it
        self._hub = HubConnection(f"{self.hub_url}?access_token={self.client.token}", self._on_hub)
        await self._hub.connect()
        for target, args in (("SubscribeAccounts", ()), ("SubscribeOrders", (self.account_id,)),
                             ("SubscribePositions", (self.account_id,)), ("SubscribeTrades", (self.account_id,))):
            await self._hub.invoke(target, *args)
        self._reader = asyncio.get_running_loop().create_task(self._hub.run())
        self.connected = True
        self.status_listener("reconciling")
        try:
            report = await self.reconcile()
        except BaseException:
            self.connected = False  # half a reconciliation is none: drop the hub, the caller retries
            await self._hub.close()
            raise
        self.reconciling = False
        self.status_listener("connected")
        return report

    async def run(self, *, retry_s: float = 1.0) -> None:
        """Keep the hub up: on a drop, entries halt, and every reconnect reconciles again."""
        while True:
            if self._reader is not None:
                await asyncio.gather(self._reader, return_exceptions=True)
            self.connected = False
            self.reconciling = True
            self.status_listener("disconnected")
            while True:
                try:
                    self.report_listener(await self.start())
                    break
                except Exception:
                    with contextlib.suppress(Exception):
                        await self.client.validate()  # an expired token is the usual cause after a long day
                    await asyncio.sleep(retry_s)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._reader is not None:
            self._reader.cancel()
        if self._hub is not None:
            await self._hub.close()
        await self.client.close()

    # -- reconciliation ----------------------------------------------------------------------
    async def reconcile(self) -> ReconcileReport:
        """Venue working orders, trades since the last journaled fill, positions: compared and booked."""
        cid = self.account_id
        open_px = await self.client.open_orders(cid)
        for rec in open_px:
            self._on_order(rec)
        open_ids = {str(r.id) for r in open_px}
        ours_gone = [o for o in self.book.open_orders() if o.venue_id not in open_ids or not o.venue_id]
        if ours_gone:
            oldest = min(o.ts_created for o in ours_gone)
            for rec in await self.client.orders_since(cid, oldest - 60 * 1_000_000_000):
                mine = self.book.by_client(rec.custom_tag) or self.book.by_venue(str(rec.id))
                if mine is not None and mine.is_open:
                    self._on_order(rec)
        booked = 0
        since = min(self.since_ns, session_of(self.clock()).eth_open_ns)  # the whole day: the venue's P&L
        for t in sorted(await self.client.trades_since(cid, since), key=lambda t: t.id):
            booked += self._on_trade(t)
        self.venue_positions = self._positions(await self.client.open_positions(cid))
        working = self.book.open_orders()
        self.unknown = {i for i in self.unknown if self.book.orders[i].status == OrderStatus.SUBMITTED}
        report = ReconcileReport(
            fills_booked=booked, venue_positions=dict(self.venue_positions),
            external_orders=tuple(sorted(o.id for o in working if o.id in self.book.external)),
            unknown_orders=tuple(sorted(self.unknown)), unprotected=unprotected(self.venue_positions, working),
        )
        self.last_report = report
        return report

    async def kill(self, *, attempts: int = 20) -> KillReport:
        """Cancel every working order and close every position at the venue, then ask the venue
        whether it is flat (its position report, not our ledger, is the proof). A request without an
        answer (connection down) is retried every ``poll_s`` up to ``attempts`` rounds."""
        cid = self.account_id
        left: dict[str, int] = {}
        for n in range(attempts):
            try:
                for rec in await self.client.open_orders(cid):
                    with contextlib.suppress(VenueRefusedError):  # already gone
                        await self.client.post("/api/Order/cancel", {"accountId": cid, "orderId": rec.id})
                positions = await self.client.open_positions(cid)
                left = {k: v for k, v in self._positions(positions).items() if v}
                if not left:
                    return KillReport(True, {})
                if n % 5 == 0:  # a close takes a moment to show: ask again before closing again
                    for p in positions:
                        with contextlib.suppress(VenueRefusedError):
                            body = {"accountId": cid, "contractId": p.contract_id}
                            await self.client.post("/api/Position/closeContract", body)
            except OutcomeUnknownError:
                pass  # the connection is down: try again
            await asyncio.sleep(self.poll_s)
        return KillReport(False, left)

    # -- commands ----------------------------------------------------------------------------
    def _refusal(self, order: Order) -> str:
        if order.instrument not in self.contracts:
            return f"{order.instrument} has no ProjectX contract here"
        if order.request.type not in _TYPES:
            return f"ProjectX takes no {order.request.type} orders"
        return self._halted(order)

    async def _place(self, order: Order) -> None:
        c = self.contracts[order.instrument]
        body: dict[str, Any] = {
            "accountId": self.account_id, "contractId": c.id, "type": int(_TYPES[order.request.type]),
            "side": int(PxSide.BID if order.side == Side.BUY else PxSide.ASK), "size": order.qty,
            "limitPrice": _price(order.limit_price, c), "stopPrice": _price(order.stop_price, c),
            "trailPrice": None, "customTag": order.client_id,
        }
        b = order.request.bracket
        if b is not None and b.stop_ticks:
            body["stopLossBracket"] = {"ticks": b.stop_ticks, "type": int(PxOrderType.STOP)}
        if b is not None and b.target_ticks:
            body["takeProfitBracket"] = {"ticks": b.target_ticks, "type": int(PxOrderType.LIMIT)}
        self._placing.add(order.id)
        try:
            await self._send_place(order, body)
        finally:
            self._placing.discard(order.id)

    async def _send_place(self, order: Order, body: dict[str, Any]) -> None:
        try:
            r = await self.client.post("/api/Order/place", body)
        except VenueRefusedError as e:
            self.book.notify(order.id, Rejected(e.message), self.clock())
            return
        except OutcomeUnknownError as e:
            if self.book.orders[order.id].venue_id:
                return  # the hub already told us the venue has it
            self.unknown.add(order.id)
            self._emit_reason(order.id, f"no answer to the order ({e}); not resent, looking it up by tag")
            await self._resolve(order.id)
            return
        self._acked(order.id, str(r.get("orderId")))

    async def _resolve(self, order_id: int, rounds: int = 6) -> None:
        """Find an order whose place got no answer, by its tag, without ever resending it."""
        for n in range(rounds):
            o = self.book.orders[order_id]
            if o.venue_id or not o.is_open:
                return
            if await self._look_up(order_id):
                return
            await asyncio.sleep(self.poll_s * (n + 1))
        if self.book.orders[order_id].status == OrderStatus.SUBMITTED:
            self._emit_reason(order_id, "not found at the venue by its tag: not resent; cancel it to stop waiting")

    async def _look_up(self, order_id: int) -> bool:
        """Our order at the venue by its tag (applied if found); False if absent or no answer."""
        o = self.book.orders[order_id]
        with contextlib.suppress(OutcomeUnknownError):
            for rec in await self.client.orders_since(self.account_id, o.ts_created - 60 * 1_000_000_000):
                if rec.custom_tag == o.client_id:
                    self._on_order(rec)
                    return True
        return False

    async def _forget_if_absent(self, order_id: int) -> None:
        """A cancel of an order that never got an answer: found now, it is cancelled at the venue;
        still absent, it never arrived and ends CANCELLED here (nothing was resent)."""
        if await self._look_up(order_id):
            o = self.book.orders[order_id]
            if o.is_open and o.venue_id:
                await self._command(order_id, "/api/Order/cancel", {"orderId": int(o.venue_id)})
            return
        self.unknown.discard(order_id)
        self.book.notify(order_id, Cancelled("never reached the venue (not found by its tag)"), self.clock())

    async def _command(self, order_id: int, path: str, body: dict[str, Any], done: Any = None) -> None:
        try:
            await self.client.post(path, {"accountId": self.account_id, **body})
        except VenueRefusedError as e:
            self.book.notify(order_id, CommandRefused(e.message), self.clock(), e.message)
        except OutcomeUnknownError:
            pass  # stays pending; the hub or the next reconciliation tells what happened
        else:
            if done is not None:
                self.book.notify(order_id, done, self.clock())

    # -- venue messages ----------------------------------------------------------------------
    def _on_hub(self, target: str, args: list[Any]) -> None:
        for raw in args:
            data = raw.get("data", raw) if isinstance(raw, dict) else raw
            if not isinstance(data, dict):
                continue
            try:
                if target == "GatewayUserOrder":
                    self._on_order(msgspec.convert(data, PxOrder))
                elif target == "GatewayUserTrade":
                    self._on_trade(msgspec.convert(data, PxTrade))
                elif target == "GatewayUserPosition":
                    p = msgspec.convert(data, PxPosition)
                    root = self._root_of.get(p.contract_id, p.contract_id)
                    self.venue_positions[root] = p.signed
                elif target == "GatewayUserAccount":
                    self.venue_account = data
            except (msgspec.ValidationError, KeyError, ValueError, TypeError) as e:
                # one bad message must not stop the hub: say so; the next reconciliation settles it
                self.status_listener(f"unreadable {target} message: {type(e).__name__}: {e}")

    def _on_order(self, rec: PxOrder) -> None:
        now = self.clock()
        o = self.book.by_client(rec.custom_tag) or self.book.by_venue(str(rec.id))
        if o is None:
            o = self._adopt(rec)
        elif not o.venue_id:
            self._acked(o.id, str(rec.id))
            o = self.book.orders[o.id]
        c = self.contracts.get(o.instrument)
        st = rec.status
        if st == PxOrderStatus.OPEN and c is not None and o.status in _LIVE:
            lp, sp = _ticks(rec.limit_price, c), _ticks(rec.stop_price, c)
            if (rec.size, lp, sp) != (o.qty, o.limit_price, o.stop_price):
                self.book.notify(o.id, Updated(qty=rec.size, limit_price=lp, stop_price=sp), now)
        elif st == PxOrderStatus.CANCELLED:
            self.book.notify(o.id, Cancelled("cancelled at the venue"), now)
        elif st == PxOrderStatus.EXPIRED:
            self.book.notify(o.id, Expired(), now)
        elif st == PxOrderStatus.REJECTED:
            self.book.notify(o.id, Rejected("rejected by the venue"), now)
        # FILLED: the trades carry the fills (and complete the order)

    def _adopt(self, rec: PxOrder) -> Order:
        root = self._root_of.get(rec.contract_id, rec.contract_id)
        c = self.contracts.get(root)
        side = Side.BUY if rec.side == PxSide.BID else Side.SELL
        typ = _BACK.get(rec.type, OrderType.MARKET)
        lp = _ticks(rec.limit_price, c) if c else None
        sp = _ticks(rec.stop_price, c) if c else None
        ours = is_ours(rec.custom_tag)  # ours from before a restart: shown as ours, not counted as external
        leg = not ours and self.book.bracket_parent(root, side) is not None
        req = external_request(root, side, rec.size, typ, lp, sp,
                               source=Source.BRACKET if leg else Source.MANUAL,
                               tag="venue bracket" if leg else (rec.custom_tag or "external"))
        reason = "venue bracket leg" if leg else "placed by Tapeflow before a restart" if ours else "external order"
        return self.book.adopt(str(rec.id), req, OrderStatus.ACCEPTED, self.clock(), external=not (leg or ours),
                               reason=reason, client_id=rec.custom_tag or "")

    def _on_trade(self, t: PxTrade) -> int:
        if t.voided:
            return 0
        ts = parse_ts(t.creation_timestamp) or self.clock()
        if t.id not in self._pnl_trades:  # the venue's own day P&L, from every trade of the day
            self._pnl_trades.add(t.id)
            d = trading_date_of(ts)
            net = ((t.profit_and_loss or Decimal(0)) - t.fees) * 100
            self.venue_realized_cents[d] = self.venue_realized_cents.get(d, 0) + int(net.to_integral_value())
        if str(t.id) in self.book.seen_fills:
            return 0
        o = self.book.by_venue(str(t.order_id))
        root = self._root_of.get(t.contract_id, t.contract_id)
        side = Side.BUY if t.side == PxSide.BID else Side.SELL
        c = self.contracts.get(root)
        if o is None:  # a trade of an order we never saw: book it against an adopted record
            o = self.book.adopt(str(t.order_id), external_request(root, side, t.size, OrderType.MARKET, None, None),
                                OrderStatus.ACCEPTED, self.clock())
        tick = c.tick_size if c is not None else Decimal(1)
        fill = Fill(
            id=t.id, order_id=o.id, ts_ns=ts, instrument=root,
            side=side, qty=t.size, price=int((t.price / tick).to_integral_value()),
            commission_cents=int((t.fees * 100).to_integral_value()), source=o.request.source,
            venue_fill_id=str(t.id),
        )
        return int(self.book.fill(o.id, fill))

    def _positions(self, positions: list[PxPosition]) -> dict[str, int]:
        return {self._root_of.get(p.contract_id, p.contract_id): p.signed for p in positions}

def _price(ticks: int | None, c: PxContract) -> Decimal | None:
    return None if ticks is None else ticks * c.tick_size


def _ticks(price: Decimal | None, c: PxContract | None) -> int | None:
    if price is None or c is None:
        return None
    return int((Decimal(price) / c.tick_size).to_integral_value())
