"""Rithmic as a ``Broker``: orders out on the order plant, the venue's word back as notifications.

* One connection: the broker rides the process's ``RithmicSession`` (order and P&L plants), which
  owns reconnects and forced logouts; after every (re)login of the order plant it reconciles here.
* A submit (new order 312, or a server-held bracket 330 with stop and target in ticks from the
  fill) is sent exactly once (``wire``). A refusal ends the order REJECTED with Rithmic's text; no
  answer leaves it SUBMITTED, found later by its ``user_tag`` (our client order id), never resent.
* Modify and cancel go one at a time per order: Rithmic refuses a change while another is in
  progress, so a second command waits for the venue's answer to the first (modifies merge).
* Fills come from exchange notifications (352) only, booked once per :func:`notices.fill_key`
  (restored from the journal). At (re)connect: show orders (working orders, ours found by tag),
  replayed executions (3506) and the fill history (3512) bring in what was missed.
* AUTO on every order Tapeflow generates (rules, webhook, brackets, flatten, the kill switch),
  MANUAL only on the user's own clicks (``Source.MANUAL``): Rithmic's conformance rule.
* The P&L plant's account figures (451) are kept beside ours (``venue_account``), its instrument
  positions (450) are the venue's positions the kill switch and the reconciliation go by.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from tapeflow.core.events import Side
from tapeflow.core.sessions import trading_date_of
from tapeflow.trading.client_ids import is_ours
from tapeflow.trading.live.book import external_request
from tapeflow.trading.live.reports import KillReport, ReconcileReport, unprotected
from tapeflow.trading.live.rithmic import notices as nt
from tapeflow.trading.live.rithmic.commands import Cancel, Command, Modify, OneAtATime
from tapeflow.trading.live.rithmic.protocol import (
    AUTO,
    BRACKET_ORDER,
    CANCEL,
    CANCEL_ALL,
    DAY,
    EXIT_POSITION,
    FILL_HISTORY,
    MODIFY,
    NEW_ORDER,
    NS,
    PNL_SNAPSHOT,
    REPLAY_EXECUTIONS,
    SHOW_ORDERS,
    STOP_ONLY,
    TARGET_AND_STOP,
    TARGET_ONLY,
    RContract,
    VenueAccountPnl,
    cents,
    fill_number,
    placement,
)
from tapeflow.trading.live.rithmic.wire import NotSentError, OutcomeUnknownError, VenueRefusedError, Wire
from tapeflow.trading.live.venue_broker import VenueBroker
from tapeflow.trading.order_state import Cancelled, CommandRefused, Rejected, UpdateRequested
from tapeflow.trading.orders import Fill, Order, OrderStatus, OrderType, Source


class RithmicBroker(VenueBroker):
    """One Rithmic account on a ``RithmicSession``; ``await start()`` opens the plants and reconciles."""

    def __init__(
        self,
        session: Any,
        account_id: str,
        contracts: dict[str, RContract],
        *,
        seen_fills: Iterable[str] = (),
        since_ns: int = 0,
        timeout_s: float = 5.0,
        poll_s: float = 0.5,
        cost_cents: Callable[[str], int] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(seen_fills=seen_fills, since_ns=since_ns, poll_s=poll_s, clock=clock)
        self.session, self.account_id, self.contracts = session, account_id, contracts
        self._root_of = {c.symbol: root for root, c in contracts.items()}
        self.wire = Wire(timeout_s)
        self.timeout_s = timeout_s
        self.cost_cents = cost_cents or (lambda root: 0)  # per contract per side (Rithmic sends no fees)
        self.venue_account: VenueAccountPnl | None = None
        self._where: dict[str, tuple[str, str]] = {}  # position key -> (symbol, exchange)
        self._commands = OneAtATime(self._send_command, self._spawn)
        self._answered: dict[int, asyncio.Event] = {}
        self._snapshot_sinks: list[set[str]] = []  # basket ids of the show-orders snapshots being read
        self._booked = 0
        self._client: Any = None
        self._started = False
        self._stopped = False
        self.owns_session = False  # True: nobody else uses the session; stop() closes it
        session.on_plant_up("order", self._order_up)
        session.on_plant_up("pnl", self._pnl_up)
        session.add_listener(self._on_session)

    @property
    def _order_plant(self) -> Any:
        return self.session.client.plants["order"]

    # -- Broker protocol ---------------------------------------------------------------------
    def _cancel_at_venue(self, o: Order) -> None:
        self._commands.put(o.id, Cancel())

    def modify(self, order_id: int, *, qty: int | None = None, limit_price: int | None = None,
               stop_price: int | None = None) -> None:
        o = self.book.orders.get(order_id)
        if o is None or o.instrument not in self.contracts or not o.is_open or not o.venue_id:
            return
        self.book.notify(order_id, UpdateRequested(), self.clock())
        self._commands.put(order_id, Modify(qty, limit_price, stop_price))

    # -- connection --------------------------------------------------------------------------
    async def start(self) -> ReconcileReport:
        """Open the order and P&L plants on the session, then reconcile; entries wait until done."""
        self.reconciling = True
        self._attach()
        await self.session.open({"order", "pnl"})
        self._attach()  # the session may have built its client in open()
        self.connected = True
        self.status_listener("reconciling")
        report = await self.reconcile()
        self._started = True
        self.reconciling = False
        self.status_listener("connected")
        return report

    async def reconnect(self) -> None:
        """The user's reconnect after a forced logout (never automatic: it would knock the other
        session out in turn); the order plant's hook reconciles once it is back."""
        await self.session.reconnect()

    async def run(self) -> None:
        """Stay online: the session reconnects, the order plant's hook reconciles (until cancelled)."""
        await asyncio.Event().wait()

    async def stop(self) -> None:
        """Stop listening (a shared session lives on for the feed) and close the session if ours."""
        self._stopped = True
        self._detach()
        remove = getattr(self.session, "remove_listener", None)
        if remove is not None:
            remove(self._on_session)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self.connected = False
        self.wire.fail_all()
        if self.owns_session:
            await self.session.close()

    def _events(self) -> tuple[tuple[str, Callable[[Any], None]], ...]:
        return (("on_rithmic_order_notification", self._on_rithmic),
                ("on_exchange_order_notification", self._on_exchange),
                ("on_instrument_pnl_update", self._on_instrument_pnl), ("on_account_pnl_update", self._on_account_pnl))

    def _attach(self) -> None:
        """Listen to the session's client (once per client object)."""
        c = getattr(self.session, "client", None)
        if c is None or c is self._client or self._stopped:
            return
        self._detach()
        self._client = c
        for name, fn in self._events():
            getattr(c, name).__iadd__(fn)

    def _detach(self) -> None:
        if self._client is not None:
            for name, fn in self._events():
                with contextlib.suppress(ValueError):
                    getattr(self._client, name).__isub__(fn)
            self._client = None

    async def _order_up(self) -> None:
        """After every (re)login of the order plant: reconcile before entries go again."""
        self._attach()
        if not self._started or self._stopped:
            return  # the first login: start() reconciles once both plants are up
        self.connected, self.reconciling = True, True
        self.status_listener("reconciling")
        for attempt in range(5):
            try:
                report = await self.reconcile()
                break
            except (NotSentError, OutcomeUnknownError, VenueRefusedError) as e:
                self.status_listener(f"reconciliation failed ({e}): entries stay halted; trying again")
                await asyncio.sleep(self.poll_s * (attempt + 1))
        else:
            self.status_listener("reconciliation failed: entries stay halted until the next login")
            return
        self.reconciling = False
        self.status_listener("connected")
        self.report_listener(report)

    async def _pnl_up(self) -> None:
        """After every (re)login of the P&L plant: live position and account updates, and a snapshot."""
        self._attach()
        if self._stopped:
            return
        plant = self.session.client.plants["pnl"]
        with contextlib.suppress(NotSentError, OutcomeUnknownError, VenueRefusedError):
            await self.wire.request(plant, 400, account_id=self.account_id, request=1)  # SUBSCRIBE
            await self._positions_now()

    def _on_session(self, state: Any) -> None:
        """Entries halt while the order plant is down; a forced logout is said as such."""
        is_up = getattr(self.session, "is_up", None)
        if is_up is not None and is_up("order"):
            return
        if not self.connected and self.reconciling:
            return
        self.connected, self.reconciling = False, True
        self.wire.fail_all()
        phase = str(getattr(getattr(state, "phase", None), "value", state))
        if phase == "FORCED_OUT":
            reason = getattr(state, "reason", "") or "another session logged in with this user"
            self.status_listener(f"forced logout: {reason}" + ("" if "by hand" in reason else "; reconnect by hand"))
        else:
            self.status_listener("disconnected")

    # -- reconciliation ----------------------------------------------------------------------
    async def reconcile(self) -> ReconcileReport:
        """Working orders (ours found by tag), executions since the journal's last fill and the
        venue's positions: compared and booked. Every answer passes the notification handlers."""
        before = self._booked
        known = {o.id for o in self.book.open_orders() if o.venue_id}  # not those acknowledged meanwhile
        seen = await self._working_baskets()
        start, end = self.since_ns // NS, self.clock() // NS + 60
        window = {"account_id": self.account_id, "start_index": start, "finish_index": end}
        await self.wire.request(self._order_plant, REPLAY_EXECUTIONS, **window)
        for row in await self.wire.request(self._order_plant, FILL_HISTORY, index_format="ssboe", **window):
            if row.fill_id and row.basket_id:
                self._guarded("ResponseShowFillHistory", self._on_fill_record, row)
        for o in self.book.open_orders():
            if o.id in known and o.venue_id not in seen:  # ended while we were away, its end not reported
                self.book.notify(o.id, Cancelled("no longer working at the venue"), self.clock())
        with contextlib.suppress(NotSentError, OutcomeUnknownError):  # the P&L plant may be down: its hook asks
            await self._positions_now()
        working = self.book.open_orders()
        self.unknown = {i for i in self.unknown if self.book.orders[i].status == OrderStatus.SUBMITTED}
        report = ReconcileReport(
            fills_booked=self._booked - before, venue_positions=dict(self.venue_positions),
            external_orders=tuple(sorted(o.id for o in working if o.id in self.book.external)),
            unknown_orders=tuple(sorted(self.unknown)),
            unprotected=unprotected(self.venue_positions, working),
        )
        self.last_report = report
        return report

    async def _working_baskets(self) -> set[str]:
        """Show orders (320): its snapshot notifications go through the handlers (ours found by tag,
        others adopted); returns the basket ids it listed. Several may run at once: each gets every
        snapshot row that arrives while it waits (a superset never hides a working order)."""
        sink: set[str] = set()
        self._snapshot_sinks.append(sink)
        try:
            await self.wire.request(self._order_plant, SHOW_ORDERS, account_id=self.account_id)
        finally:
            self._snapshot_sinks.remove(sink)
        return sink

    async def _positions_now(self) -> dict[str, int]:
        """The P&L plant's positions now (its snapshot replaces what we had: a flat instrument may
        be left out of it)."""
        plant = self.session.client.plants["pnl"]
        old, self.venue_positions = self.venue_positions, {}
        try:
            await self.wire.request(plant, PNL_SNAPSHOT, account_id=self.account_id)
        except BaseException:
            self.venue_positions = {**old, **self.venue_positions}
            raise
        return dict(self.venue_positions)

    # -- kill switch -------------------------------------------------------------------------
    async def kill(self, *, attempts: int = 20) -> KillReport:
        """Cancel all orders (346) and exit every position (3504) at the venue, then ask the P&L
        plant whether the account is flat. Without an answer it tries again every ``poll_s``."""
        left: dict[str, int] = {}
        for n in range(attempts):
            try:
                await self.wire.request(self._order_plant, CANCEL_ALL, account_id=self.account_id,
                                        manual_or_auto=AUTO)
                left = {k: v for k, v in (await self._positions_now()).items() if v}
                if not left:
                    return KillReport(True, {})
                if n % 5 == 0:  # an exit takes a moment to show: ask again before exiting again
                    for key in left:
                        symbol, exchange = self._where.get(key, (key, "CME"))
                        with contextlib.suppress(VenueRefusedError):
                            await self.wire.request(self._order_plant, EXIT_POSITION, account_id=self.account_id,
                                                    symbol=symbol, exchange=exchange, manual_or_auto=AUTO)
            except (NotSentError, OutcomeUnknownError, VenueRefusedError):
                pass  # down or busy: try again
            await asyncio.sleep(self.poll_s)
        return KillReport(False, left)

    # -- commands ----------------------------------------------------------------------------
    def _refusal(self, order: Order) -> str:
        c = self.contracts.get(order.instrument)
        if c is None:
            return f"{order.instrument} has no Rithmic contract here"
        if self._route(c.exchange) is None and self.connected:
            return f"no Rithmic trade route for {c.exchange} on this login"
        return self._halted(order)

    def _route(self, exchange: str) -> str | None:
        routes = getattr(self._order_plant, "trade_routes", None) or []
        mine = [r for r in routes if r.exchange == exchange]
        best = [r for r in mine if r.is_default] or mine
        return best[0].trade_route if best else None

    def order_fields(self, order: Order) -> tuple[int, dict[str, Any]]:
        """(template id, fields) of the submit: a new order, or a bracket order when it has legs."""
        c = self.contracts[order.instrument]
        fields: dict[str, Any] = {
            "user_tag": order.client_id, "account_id": self.account_id, "symbol": c.symbol,
            "exchange": c.exchange, "quantity": order.qty, "transaction_type": nt.BUY if order.side == Side.BUY
            else nt.SELL, "duration": DAY, "price_type": nt.PRICE_TYPE[order.request.type],
            "manual_or_auto": placement(order.request.source), "trade_route": self._route(c.exchange) or "",
        }
        if order.limit_price is not None:
            fields["price"] = nt.to_price(order.limit_price, c.tick_size)
        if order.stop_price is not None:
            fields["trigger_price"] = nt.to_price(order.stop_price, c.tick_size)
        b = order.request.bracket
        if b is None or not (b.stop_ticks or b.target_ticks):
            return NEW_ORDER, fields
        if b.stop_ticks:
            fields.update(stop_ticks=b.stop_ticks, stop_quantity=order.qty)
        if b.target_ticks:
            fields.update(target_ticks=b.target_ticks, target_quantity=order.qty)
        fields["bracket_type"] = (TARGET_AND_STOP if b.stop_ticks and b.target_ticks
                                  else STOP_ONLY if b.stop_ticks else TARGET_ONLY)
        return BRACKET_ORDER, fields

    async def _place(self, order: Order) -> None:
        template, fields = self.order_fields(order)
        self._placing.add(order.id)
        try:
            rows = await self.wire.request(self._order_plant, template, **fields)
        except NotSentError as e:
            self.book.notify(order.id, Rejected(f"not sent: {e}"), self.clock())
        except VenueRefusedError as e:
            self.book.notify(order.id, Rejected(e.text), self.clock())
        except OutcomeUnknownError as e:
            if not self.book.orders[order.id].venue_id:  # no notification named it either
                self.unknown.add(order.id)
                self._emit_reason(order.id, f"no answer to the order ({e}); not resent, looking it up by tag")
                await self._resolve(order.id)
        else:
            basket = next((r.basket_id for r in rows if r.basket_id), "")
            if basket:
                self._acked(order.id, basket)
        finally:
            self._placing.discard(order.id)

    async def _resolve(self, order_id: int, rounds: int = 6) -> None:
        """Find an order whose submit got no answer, by its tag in the working orders, never resending it."""
        for n in range(rounds):
            o = self.book.orders[order_id]
            if o.venue_id or not o.is_open:
                return
            with contextlib.suppress(NotSentError, OutcomeUnknownError, VenueRefusedError):
                await self._working_baskets()
            if self.book.orders[order_id].venue_id:
                self.unknown.discard(order_id)
                return
            await asyncio.sleep(self.poll_s * (n + 1))
        if self.book.orders[order_id].status == OrderStatus.SUBMITTED:
            self._emit_reason(order_id, "not found at the venue by its tag: not resent; cancel it to stop waiting")

    async def _forget_if_absent(self, order_id: int) -> None:
        """A cancel of an order that never got an answer: found now, it is cancelled at the venue;
        still absent, it never arrived and ends CANCELLED here (nothing was resent)."""
        with contextlib.suppress(NotSentError, OutcomeUnknownError, VenueRefusedError):
            await self._working_baskets()
        o = self.book.orders[order_id]
        if o.venue_id:
            self.unknown.discard(order_id)
            if o.is_open:
                self._commands.put(order_id, Cancel())
            return
        self.unknown.discard(order_id)
        self.book.notify(order_id, Cancelled("never reached the venue (not found by its tag)"), self.clock())

    async def _send_command(self, order_id: int, cmd: Command) -> None:
        o = self.book.orders[order_id]
        if not o.is_open:
            return
        c = self.contracts[o.instrument]
        fields: dict[str, Any] = {"account_id": self.account_id, "basket_id": o.venue_id,
                                  "manual_or_auto": placement(o.request.source)}
        if isinstance(cmd, Cancel):
            template = CANCEL
        else:
            template = MODIFY
            if o.status not in (OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL):
                self.book.notify(o.id, UpdateRequested(), self.clock())  # a waiting modify goes now
            lp = o.limit_price if cmd.limit_price is None else cmd.limit_price
            sp = o.stop_price if cmd.stop_price is None else cmd.stop_price
            fields.update(symbol=c.symbol, exchange=c.exchange, quantity=o.qty if cmd.qty is None else cmd.qty,
                          price_type=nt.PRICE_TYPE[o.request.type])
            if lp is not None:
                fields["price"] = nt.to_price(lp, c.tick_size)
            if sp is not None:
                fields["trigger_price"] = nt.to_price(sp, c.tick_size)
        answered = self._answered[o.id] = asyncio.Event()
        try:
            await self.wire.request(self._order_plant, template, **fields)
        except (VenueRefusedError, NotSentError) as e:
            text = e.text if isinstance(e, VenueRefusedError) else f"not sent: {e}"
            self.book.notify(o.id, CommandRefused(text), self.clock(), text)
            return
        except OutcomeUnknownError:
            await self._unanswered(o.id, "cancel" if template == CANCEL else "modify")
            return
        with contextlib.suppress(TimeoutError):  # the venue's answer to this command frees the order
            await asyncio.wait_for(answered.wait(), self.timeout_s)

    async def _unanswered(self, order_id: int, what: str) -> None:
        """A modify or cancel without an answer is never resent: the working orders say whether the
        order still works on its old terms (then it is back to resting and the user may try again)."""
        try:
            working = await self._working_baskets()
        except (NotSentError, OutcomeUnknownError, VenueRefusedError):
            return  # stays pending; a notification or the next reconciliation tells what happened
        o = self.book.orders[order_id]
        if o.venue_id in working and o.status in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE):
            text = f"no answer to the {what}: not resent; the order still works at the venue"
            self.book.notify(order_id, CommandRefused(text), self.clock(), text)

    # -- venue messages ----------------------------------------------------------------------
    def _find(self, n: Any) -> Order | None:
        o = self.book.by_venue(n.basket_id) if n.basket_id else None
        if o is None and n.user_tag:
            o = self.book.by_client(n.user_tag)
            if o is not None and o.venue_id and n.basket_id and o.venue_id != n.basket_id:
                return None  # a venue bracket leg may carry its entry's tag: another order
        return o

    def _order_for(self, n: Any, template: int) -> Order | None:
        """Our record of a notification's order: found (and acknowledged by it), or adopted."""
        o = self._find(n)
        if o is None:
            if not n.basket_id or (template, n.notify_type) in nt.ENDED:
                return None  # nothing to show: an order we never saw that has already ended
            o = self._adopt(n)
        elif not o.venue_id and n.basket_id:
            self._acked(o.id, n.basket_id)
            o = self.book.orders[o.id]
        if n.is_snapshot and n.basket_id:
            for sink in self._snapshot_sinks:
                sink.add(n.basket_id)
        return o

    def _on_rithmic(self, n: Any) -> None:
        self._guarded("RithmicOrderNotification", self._rithmic, n)

    def _on_exchange(self, n: Any) -> None:
        self._guarded("ExchangeOrderNotification", self._exchange, n)

    def _guarded(self, what: str, fn: Callable[[Any], None], n: Any) -> None:
        try:
            fn(n)
        except (KeyError, ValueError, TypeError, ArithmeticError) as e:
            # one bad message must not stop the plant's reader: say so; the next reconciliation settles it
            self.status_listener(f"unreadable {what} message: {type(e).__name__}: {e}")

    def _rithmic(self, n: Any) -> None:
        self._notified(n, 351, nt.rithmic_notice)

    def _exchange(self, n: Any) -> None:
        if n.notify_type == nt.FILL:
            if not n.account_id or n.account_id == self.account_id:
                self._on_fill_record(n)
            return
        self._notified(n, 352, nt.exchange_notice)

    def _notified(self, n: Any, template: int, translate: Callable[[Any, Order, Decimal], Any]) -> None:
        """One notification (not a fill) of this account: applied to its order, adopted if new."""
        if n.account_id and n.account_id != self.account_id:
            return
        o = self._order_for(n, template)
        if o is None:
            return
        c = self.contracts.get(o.instrument)
        notice = translate(n, o, c.tick_size if c else Decimal(1))
        if notice is not None:
            self.book.notify(o.id, notice, self.clock(), getattr(notice, "reason", ""))
        self._answer(o.id, (template, n.notify_type))

    def _answer(self, order_id: int, what: tuple[int, int]) -> None:
        """A modify's answer, or the order's end, frees the order for its next command."""
        if what in nt.MODIFY_ANSWERS or what in nt.CANCEL_ANSWERS or not self.book.orders[order_id].is_open:
            ev = self._answered.pop(order_id, None)
            if ev is not None:
                ev.set()

    def _on_fill_record(self, n: Any) -> None:
        """A fill from a 352 (live or replayed) or a fill-history row (3513), booked once."""
        key = nt.fill_key(n.basket_id, n.fill_id)
        if key in self.book.seen_fills or not n.fill_size:
            return
        o = self._find(n) if hasattr(n, "user_tag") else self.book.by_venue(n.basket_id)
        root = self._root_of.get(n.symbol, n.symbol)
        c = self.contracts.get(root)
        tick = c.tick_size if c is not None else Decimal(1)
        side = nt.side_of(n.transaction_type)
        if o is None:
            if hasattr(n, "user_tag"):
                o = self._order_for(n, 352)
            if o is None:  # a fill of an order we never saw: book it against an adopted record
                o = self.book.adopt(n.basket_id, external_request(root, side, int(n.fill_size), OrderType.MARKET,
                                                                  None, None), OrderStatus.ACCEPTED, self.clock())
        elif not o.venue_id:
            self._acked(o.id, n.basket_id)
        ts = (n.source_ssboe * NS + n.source_nsecs) if n.source_ssboe else (
            n.ssboe * NS + n.usecs * 1000 if n.ssboe else self.clock())
        qty = int(n.fill_size)
        fill = Fill(id=fill_number(key), order_id=o.id, ts_ns=ts, instrument=root, side=side, qty=qty,
                    price=nt.to_ticks(n.fill_price, tick), commission_cents=self.cost_cents(root) * qty,
                    source=o.request.source, venue_fill_id=key)
        self._booked += int(self.book.fill(o.id, fill))
        self._answer(o.id, (352, nt.FILL))

    def _adopt(self, n: Any) -> Order:
        root = self._root_of.get(n.symbol, n.symbol)
        c = self.contracts.get(root)
        tick = c.tick_size if c is not None else Decimal(1)
        side = nt.side_of(n.transaction_type)
        typ = nt.ORDER_TYPE.get(int(n.price_type), OrderType.MARKET)
        lp = nt.to_ticks(n.price, tick) if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT) and n.price else None
        sp = nt.to_ticks(n.trigger_price, tick) if typ in (OrderType.STOP, OrderType.STOP_LIMIT) and n.trigger_price \
            else None
        parent = self.book.bracket_parent(root, side)
        leg = parent is not None and (not is_ours(n.user_tag) or n.user_tag == parent.client_id)
        ours = not leg and is_ours(n.user_tag)  # ours from before a restart: shown as ours, not external
        req = external_request(root, side, n.quantity, typ, lp, sp, source=Source.BRACKET if leg else Source.MANUAL,
                               tag="venue bracket" if leg else (n.user_tag or "external"))
        reason = "venue bracket leg" if leg else "placed by Tapeflow before a restart" if ours else "external order"
        o = self.book.adopt(n.basket_id, req, OrderStatus.ACCEPTED, self.clock(), external=not (leg or ours),
                            reason=reason, client_id="" if leg else n.user_tag)
        return o  # its fills arrive as fills (replayed at reconnect), never inferred from a total

    def _on_instrument_pnl(self, n: Any) -> None:
        self._guarded("InstrumentPnLPositionUpdate", self._instrument_pnl, n)

    def _on_account_pnl(self, n: Any) -> None:
        self._guarded("AccountPnLPositionUpdate", self._account_pnl, n)

    def _instrument_pnl(self, n: Any) -> None:
        if n.account_id and n.account_id != self.account_id:
            return
        key = self._root_of.get(n.symbol, n.symbol)
        self._where[key] = (n.symbol, n.exchange or "CME")
        self.venue_positions[key] = int(n.net_quantity)

    def _account_pnl(self, n: Any) -> None:
        if n.account_id and n.account_id != self.account_id:
            return
        now = self.clock()
        self.venue_account = VenueAccountPnl(
            account_id=n.account_id, balance_cents=cents(n.account_balance), day_pnl_cents=cents(n.day_pnl),
            day_closed_pnl_cents=cents(n.day_closed_pnl), day_open_pnl_cents=cents(n.day_open_pnl),
            net_quantity=int(n.net_quantity), ts_ns=now)
        closed = self.venue_account.day_closed_pnl_cents
        if closed is not None:
            self.venue_realized_cents[trading_date_of(now)] = closed
            self.venue_pnl_listener()
