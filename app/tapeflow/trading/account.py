"""The account: the one entry point for orders, whatever their source.

Order path: kill switch -> validation -> risk manager -> journal -> broker. Broker events come back
through :meth:`Account._on_broker_event`, are journaled, booked (ledger, brackets, loss streaks)
and only then published on the event bus. Events are processed strictly in order even when
handling one triggers another (a fill that places bracket children that fill at once).

Time is the tape's: ``clock_ns`` is the last ``ts_event`` seen, so backtests are deterministic.
Not thread-safe by design: everything runs on the one asyncio loop shared with Qt.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import msgspec
import numpy as np

from tapeflow.core.events import Side
from tapeflow.errors import JournalError
from tapeflow.trading.brackets import BracketState
from tapeflow.trading.broker import Broker, EventBus, EventCallback
from tapeflow.trading.journal_sink import JournalReader, JournalSink
from tapeflow.trading.kill_switch import KillSwitch, KillSwitchState
from tapeflow.trading.mark_bands import mark_bands
from tapeflow.trading.orders import (
    AUTOMATED_SOURCES,
    EventKind,
    Fill,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Source,
    new_order,
    validate_request,
)
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.positions import Ledger
from tapeflow.trading.risk import RiskDecision, RiskEvent, RiskManager, exposure_tenths
from tapeflow.trading.settings import TradingSettings
from tapeflow.trading.snapshot import AccountSnapshot, LimitGauge, PositionView, instrument_rows, position_gauge

_replace = msgspec.structs.replace
log = logging.getLogger("tapeflow.trading")


class SubmitResult(msgspec.Struct, frozen=True):
    """What a caller (DOM, hotkey, webhook, auto-trader) gets back at once."""

    ok: bool
    order_id: int | None = None
    rule: str = ""  # limit that blocked it
    reason: str = ""  # shown to the user


class KillSwitchEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Journal record of a pull or re-arm."""

    ts_ns: int
    action: str  # "trigger" or "rearm"
    by: str
    reason: str


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Journal record of a trading date the account traded through."""

    trading_date: str
    eth_open_ns: int
    rth_open_ns: int
    rth_close_ns: int
    eth_close_ns: int


class RestoreReport(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`Account.restore` rebuilt from the journal after a restart."""

    fills: int
    round_trips: int
    positions: dict[str, int]  # instrument -> signed contracts
    lost_orders: tuple[int, ...]  # ids of orders working at the crash (the paper broker lost them)
    unprotected: tuple[str, ...]  # instruments with a position and no working order left

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.lost_orders:
            out.append(f"{len(self.lost_orders)} order(s) working before the restart were not restored")
        for inst in self.unprotected:
            out.append(f"{inst} position of {self.positions[inst]} has no working stop: protect or flatten it")
        return out


class SettingsRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The settings in force from ``ts_ns`` (account clock; ``wall_ns``: when it was written)."""

    ts_ns: int
    wall_ns: int
    reason: str
    source: str
    rules_file: str
    rules_sha256: str
    rules: list[str]
    trading: TradingSettings


class Account:
    """Orders, positions, risk, kill switch and brackets of one trading account."""

    def __init__(
        self,
        settings: TradingSettings | None = None,
        *,
        broker: Broker | None = None,
        kill_switch: KillSwitch | None = None,
        journal: JournalSink | None = None,
        name: str = "paper",
    ) -> None:
        self.settings = settings or TradingSettings()
        self.name = name
        self.broker: Broker = broker or PaperBroker(self.settings.paper)
        self.broker.set_listener(self._on_broker_event)
        if isinstance(self.broker, PaperBroker):
            self.broker.on_row = self._on_row
        self.kill_switch = kill_switch or KillSwitch()
        self.journal = journal
        self.ledger = Ledger()
        self.risk = RiskManager(self.settings.risk)
        self.bus = EventBus()
        self.orders: dict[int, Order] = {}  # every order of the session, by id
        self._working: dict[int, Order] = {}  # the open ones (kept apart: orders only grows)
        self.brackets: dict[int, BracketState] = {}  # by entry id
        self._child_of: dict[int, int] = {}  # child order id -> entry id
        self.clock_ns = 0
        self.last_reject = ""
        self._next_id = 1
        self._queue: deque[OrderEvent] = deque()
        self._draining = False
        self._first_fill: dict[int, int] = {}  # order id -> price of its first fill (bracket anchor)
        self.journal_errors = 0  # records the journal refused (disk full, read-only, ...)
        self.journal_error = ""  # the last refusal, for the status page and replies
        if self.kill_switch.latched:
            for src in AUTOMATED_SOURCES:
                self.risk.automation[src] = False

    # -- public API ---------------------------------------------------------------------------
    def submit(self, request: OrderRequest, *, ts_ns: int | None = None) -> SubmitResult:
        """Send an order through kill switch and risk; the result says why if it was refused."""
        ts = self._now(ts_ns)
        if self.kill_switch.latched and request.source != Source.FLATTEN:
            return self._reject(request, ts, "kill_switch", "kill switch is latched: re-arm it first")
        problem = validate_request(request)
        if problem:
            return self._reject(request, ts, "invalid", problem)
        decision: RiskDecision = self.risk.check(
            request, ts_ns=ts, ledger=self.ledger, open_orders=self.open_orders()
        )
        if not decision.ok:
            return self._reject(request, ts, decision.rule, decision.reason)
        if decision.reduces and not request.reduce_only:
            # it passed as an exit, so it stays one: shrunk or cancelled if the position shrinks first
            request = _replace(request, reduce_only=True)
        order = new_order(self._take_id(), request, ts)
        try:
            self._write("orders", order, required=request.source != Source.FLATTEN)
        except JournalError as e:
            # never sent, never booked: nothing to cancel, nothing blocking (the id is not reused);
            # a flatten goes out unjournaled rather than leave the position open (it only removes risk)
            self.last_reject = f"order not sent: {e}"
            return SubmitResult(False, None, "journal", self.last_reject)
        self.orders[order.id] = order
        self._working[order.id] = order
        venue_brackets = getattr(self.broker, "holds_brackets", False)  # the venue places the legs itself
        if request.bracket is not None and (request.bracket.stop_ticks or request.bracket.target_ticks) \
                and not venue_brackets:
            self.brackets[order.id] = BracketState(
                order.id, request.instrument, request.side, request.bracket
            )
        self.broker.submit(order)
        if not self._draining:
            self._after_activity()
        now = self.orders[order.id]
        if now.status == OrderStatus.REJECTED:  # refused at once by the broker (live: connection down)
            self.last_reject = now.reason
            return SubmitResult(False, order.id, "broker", now.reason)
        return SubmitResult(True, order.id)

    def cancel(self, order_id: int, reason: str = "cancelled by user") -> None:
        """Cancel one working order (unknown or finished ids are ignored)."""
        o = self.orders.get(order_id)
        if o is not None and o.is_open:
            self.broker.cancel(order_id, reason)

    def modify(
        self,
        order_id: int,
        *,
        qty: int | None = None,
        limit_price: int | None = None,
        stop_price: int | None = None,
        ts_ns: int | None = None,
    ) -> SubmitResult:
        """Change a working order; a larger quantity is checked by risk like a new order."""
        ts = self._now(ts_ns)
        o = self.orders.get(order_id)
        if o is None or not o.is_open:
            return SubmitResult(False, order_id, "unknown_order", f"order {order_id} is not working")
        if self.kill_switch.latched:
            return SubmitResult(False, order_id, "kill_switch", "kill switch is latched: re-arm it first")
        if qty is not None and qty <= o.filled_qty:
            return SubmitResult(False, order_id, "invalid", f"quantity must exceed the filled {o.filled_qty}")
        if qty is not None and qty > o.qty:
            # checked as if the order were new with its new remaining quantity
            remaining = _replace(o.request, qty=qty - o.filled_qty, bracket=None)
            others = [x for x in self.open_orders() if x.id != order_id]
            d = self.risk.check(remaining, ts_ns=ts, ledger=self.ledger, open_orders=others)
            limit = self.settings.risk.limits_for(o.instrument).max_order_qty
            if d.ok and limit is not None and qty > limit and o.request.source != Source.FLATTEN:
                d = RiskDecision(False, "max_order_qty", f"order of {qty} exceeds the max order size {limit}")
            if not d.ok:
                self.last_reject = d.reason
                return SubmitResult(False, order_id, d.rule, d.reason)
        self.broker.modify(order_id, qty=qty, limit_price=limit_price, stop_price=stop_price)
        self._after_activity()
        return SubmitResult(True, order_id)

    def cancel_all(self, instrument: str | None = None, reason: str = "cancel all") -> None:
        """Cancel every working order (of one instrument)."""
        for o in self.open_orders():
            if instrument is None or o.instrument == instrument:
                self.broker.cancel(o.id, reason)

    def flatten(self, instrument: str | None = None, reason: str = "flatten") -> list[SubmitResult]:
        """Cancel working orders and close open positions at market (of one instrument or all).

        Returns the result of each closing order, so callers (webhook replies) can name them.
        """
        self.cancel_all(instrument, reason)
        results: list[SubmitResult] = []
        for root, pos in list(self.ledger.positions.items()):
            if pos.qty == 0 or (instrument is not None and root != instrument):
                continue
            req = OrderRequest(
                instrument=root,
                side=Side.SELL if pos.qty > 0 else Side.BUY,
                qty=abs(pos.qty),
                type=OrderType.MARKET,
                source=Source.FLATTEN,
                reduce_only=True,
                tag=reason,
            )
            results.append(self.submit(req))
        return results

    def kill(self, by: str, reason: str = "kill switch", *, ts_ns: int | None = None) -> KillSwitchState:
        """Pull the kill switch: latch, automation off, cancel everything, flatten everything."""
        ts = self._now(ts_ns)
        first = not self.kill_switch.latched
        state = self.kill_switch.trigger(by, reason, ts)
        if first:
            self._write(
                "kill_switch_events", KillSwitchEvent(ts_ns=ts, action="trigger", by=by, reason=reason)
            )
        for src in AUTOMATED_SOURCES:
            self.risk.set_automation(src, False, ts, f"kill switch ({by})")
        venue_kill = getattr(self.broker, "kill_at_venue", None)
        if venue_kill is not None:  # a live venue cancels and closes everything itself (then confirms flat)
            venue_kill()
        self.flatten(None, f"kill switch: {reason}")
        self._after_activity()
        return state

    def rearm(self, by: str, *, ts_ns: int | None = None) -> KillSwitchState:
        """Release the kill switch by hand. Automation stays off until switched on per source."""
        ts = self._now(ts_ns)
        if not by.strip():
            return self.kill_switch.rearm(by, ts)  # refused, naming what is missing
        # journal first: a re-arm the journal does not hold would be undone by the next restore
        self._write("kill_switch_events", KillSwitchEvent(ts_ns=ts, action="rearm", by=by, reason=""), required=True)
        return self.kill_switch.rearm(by, ts)

    def set_automation(
        self, source: Source, enabled: bool, *, by: str, ts_ns: int | None = None
    ) -> SubmitResult:
        """Switch rules or webhooks on/off; switching on is refused while the kill switch is latched."""
        ts = self._now(ts_ns)
        if enabled and self.kill_switch.latched:
            return SubmitResult(False, None, "kill_switch", "kill switch is latched: re-arm it first")
        self.risk.set_automation(source, enabled, ts, by)
        self._drain_risk_events()
        return SubmitResult(True)

    def on_events(self, batch: np.ndarray) -> None:
        """Feed one market-data batch: broker fills, marks, day roll, P&L limits."""
        if len(batch) == 0:
            return
        if not self.kill_switch.persisted:
            self.kill_switch.retry_save()
        first = int(batch["ts_event"][0])
        self._set_clock(first)
        self.broker.on_events(batch)
        self._set_clock(int(batch["ts_event"][-1]))
        if isinstance(self.broker, PaperBroker):
            self._mark_to_tape(self.broker)
        self._after_activity()

    def advance_clock(self, ts_ns: int) -> None:
        """Move the account clock without a tape (a live venue's fill times): day roll, P&L limits."""
        self._set_clock(ts_ns)
        self._after_activity()

    def mark(self, instrument: str, price: int) -> None:
        """Mark an instrument to a price (ticks) when the broker does not see the tape."""
        self.ledger.mark(instrument, price)
        self._after_activity()

    def open_orders(self) -> list[Order]:
        """Orders not yet filled, cancelled or rejected, oldest first."""
        return list(self._working.values())

    def has_open_orders(self) -> bool:
        """Any order working (``open_orders`` without building the list: asked once per tape piece)."""
        return bool(self._working)

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Order events, after they are journaled and booked; returns the unsubscribe function."""
        return self.bus.subscribe(callback)

    def events(self) -> AsyncIterator[OrderEvent]:
        """Async stream of order events (for the qasync UI loop)."""
        return self.bus.stream()

    def snapshot(self) -> AccountSnapshot:
        """Immutable view for the risk panel."""
        r, s, led = self.risk, self.settings.risk, self.ledger
        d = r.trading_date
        day = led.days.get(d) if d else None
        realized = day.net_cents if day else 0
        unreal = led.unrealized_cents
        venue = r.venue_realized_today_cents  # the daily loss gauge reads the worse of the two
        gauges: list[LimitGauge] = []
        if s.daily_loss_limit_cents is not None:
            gauges.append(
                LimitGauge("daily_loss", max(0, -min(realized, venue if venue is not None else realized) - unreal),
                           s.daily_loss_limit_cents, "cents")
            )
        if s.trailing_drawdown_cents is not None:
            gauges.append(
                LimitGauge("trailing_drawdown", r.drawdown_cents(), s.trailing_drawdown_cents, "cents")
            )
        rows = instrument_rows(led, self.open_orders(), d, s)
        biggest = position_gauge(rows, s)
        if biggest is not None:
            gauges.append(biggest)
        if s.max_exposure_tenths is not None:
            reach = exposure_tenths(led, self.open_orders())
            gauges.append(LimitGauge("max_exposure", reach, s.max_exposure_tenths, "es_tenths"))
        if s.max_trades_per_day is not None:
            gauges.append(
                LimitGauge("max_trades_per_day", day.entries if day else 0, s.max_trades_per_day, "trades")
            )
        if s.max_consecutive_losses is not None:
            gauges.append(
                LimitGauge("max_consecutive_losses", r.consecutive_losses, s.max_consecutive_losses, "losses")
            )
        ks = self.kill_switch.state
        return AccountSnapshot(
            ts_ns=self.clock_ns,
            account=self.name,
            trading_date=d,
            state=r.state,
            state_rule=r.state_rule,
            kill_switch_latched=ks.latched,
            kill_switch_by=ks.by if ks.latched else "",
            kill_switch_reason=ks.reason if ks.latched else "",
            automation={str(src): r.automation_on(src) for src in AUTOMATED_SOURCES},
            positions=tuple(
                PositionView(p.instrument, p.qty, p.avg_price_ticks, p.mark, p.unrealized_cents)
                for p in led.positions.values()
            ),
            realized_today_cents=realized,
            unrealized_cents=unreal,
            day_pnl_cents=realized + unreal,
            equity_cents=r.equity_cents,
            high_water_mark_cents=r.hwm_cents,
            trades_today=day.entries if day else 0,
            consecutive_losses=r.consecutive_losses,
            cooldown_until_ns=r.cooldown_until_ns,
            paused_until_ns=r.paused_until_ns,
            working_orders=len(self.open_orders()),
            limits=tuple(gauges),
            last_reject=self.last_reject,
            instruments=rows,
            exposure_tenths=sum(row.exposure_tenths for row in rows),
            venue_realized_today_cents=venue,
            venue_balance_cents=getattr(getattr(self.broker, "venue_account", None), "balance_cents", None),
            venue_entries_halted=getattr(self.broker, "entries_halted", lambda: "")(),
            kill_switch_persisted=self.kill_switch.persisted,
            kill_switch_save_error=self.kill_switch.save_error,
            journal_errors=self.journal_errors,
            journal_error=self.journal_error,
        )

    def update_settings(self, settings: TradingSettings) -> None:
        """Swap in edited settings (risk panel); state, counters and automation switches are kept.
        The journal records the new settings, so every fill can be read against the limits in force."""
        self.settings = settings
        self.risk.settings = settings.risk
        if isinstance(self.broker, PaperBroker):
            self.broker.settings = settings.paper
        self.record_settings("edited")

    def record_settings(self, reason: str, *, source: str = "", rules_file: str | Path | None = None,
                        rules: Sequence[str] = ()) -> None:
        """Journal the trading settings in force (risk limits, paper costs, automation), and with
        ``rules_file`` the rules file's path and SHA-256 and the names of the rules running: what a
        forward test's fills are audited against. ``reason``: "start", "edited", ..."""
        digest = ""
        if rules_file is not None:
            try:
                digest = hashlib.sha256(Path(rules_file).read_bytes()).hexdigest()
            except OSError as e:
                digest = f"unreadable: {e.strerror}"
        self._write("settings", SettingsRecord(
            ts_ns=self.clock_ns, wall_ns=time.time_ns(), reason=reason, source=source,
            rules_file=str(rules_file or ""), rules_sha256=digest, rules=list(rules), trading=self.settings,
        ))

    def restore(self, journal: JournalReader) -> RestoreReport:
        """Rebuild positions, P&L, day statistics, loss streaks, order ids and the trailing drawdown's
        high-water mark (as of each fill: marks between fills are not journaled) from the journal.

        Call on a fresh account at start-up, before any order. Fills are replayed through the same
        ledger and risk bookkeeping that booked them, so the account matches what it was before the
        crash. Working orders are not re-sent (a paper broker's resting orders died with the
        process, a real broker reports its own): they are listed so the user can act, and a
        position left without any working order is flagged.
        """
        self._restore_latch(journal)
        fills = [msgspec.convert(r, Fill, strict=False) for r in journal.rows("fills")]
        trips = 0
        for f in fills:
            self._set_clock(f.ts_ns)
            for rt in self.ledger.apply(f):
                trips += 1
                self.risk.on_round_trip(rt)
            self.risk.mark_equity(self.ledger)  # the peaks along the way: the trailing drawdown's reference
        last_status: dict[int, str] = {}
        for r in journal.rows("order_events"):
            last_status[int(r["order_id"])] = str(r["order_status"])
        ids = [int(r["id"]) for r in journal.rows("orders")] + list(last_status) + [f.order_id for f in fills]
        self._next_id = max(ids, default=0) + 1
        if isinstance(self.broker, PaperBroker):
            self.broker.resume_fill_ids(max((f.id for f in fills), default=0))
        lost = tuple(sorted(i for i, st in last_status.items() if not OrderStatus(st).is_terminal))
        self.risk.evaluate(self.clock_ns, self.ledger)
        self._drain_risk_events()
        positions = {k: p.qty for k, p in self.ledger.positions.items() if p.qty != 0}
        return RestoreReport(
            fills=len(fills),
            round_trips=trips,
            positions=positions,
            lost_orders=lost,
            unprotected=tuple(sorted(positions)),  # nothing is working right after a restart
        )

    def _restore_latch(self, journal: JournalReader) -> None:
        """A kill the journal holds and the latch file lost (written over, or never saved on a full
        disk) is a kill: the switch is latched when either of them says so."""
        events = journal.rows("kill_switch_events")
        if not events or events[-1].get("action") != "trigger" or self.kill_switch.latched:
            return
        last = events[-1]
        self.kill_switch.trigger(str(last.get("by") or "journal"), f"{last.get('reason') or 'kill switch'} "
                                 "(from the journal: the latch file did not hold it)", int(last.get("ts_ns") or 0))
        for src in AUTOMATED_SOURCES:
            self.risk.automation[src] = False

    # -- internals ----------------------------------------------------------------------------
    def _now(self, ts_ns: int | None) -> int:
        if ts_ns is not None:
            self._set_clock(ts_ns)
        return self.clock_ns

    def _set_clock(self, ts: int) -> None:
        if ts > self.clock_ns:
            self.clock_ns = ts
        if self.risk.on_clock(self.clock_ns) and self.risk.session is not None:
            se = self.risk.session
            self._write(
                "sessions",
                SessionRecord(
                    trading_date=se.trading_date.isoformat(),
                    eth_open_ns=se.eth_open_ns,
                    rth_open_ns=se.rth_open_ns,
                    rth_close_ns=se.rth_close_ns,
                    eth_close_ns=se.eth_close_ns,
                ),
            )
        self._drain_risk_events()

    def _take_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def _reject(self, request: OrderRequest, ts: int, rule: str, reason: str) -> SubmitResult:
        order = _replace(new_order(self._take_id(), request, ts), status=OrderStatus.REJECTED, reason=reason)
        self.orders[order.id] = order
        self.last_reject = reason
        self._write("orders", order)
        self.risk.events.append(
            RiskEvent(ts_ns=ts, kind="rejected", rule=rule, reason=reason, state=self.risk.state)
        )
        self._drain_risk_events()
        ev = OrderEvent(ts_ns=ts, kind=EventKind.REJECTED, order=order, reason=reason)
        self._write("order_events", ev)
        self.bus.publish(ev)
        return SubmitResult(False, order.id, rule, reason)

    def _write(self, table: str, record: object, *, required: bool = False) -> None:
        """Journal a record. A refusal raises only when ``required`` (a new order: it is not sent);
        otherwise what already happened (a fill, a cancel, a kill) is booked anyway and the
        failure is counted, logged and shown: the account must match the broker, not the disk."""
        if self.journal is None:
            return
        try:
            self.journal.write(table, record)
        except JournalError as e:
            self.journal_errors += 1
            self.journal_error = str(e)
            log.error("journal: %s", e)
            if required:
                raise

    def _drain_risk_events(self) -> None:
        while self.risk.events:
            self._write("risk_events", self.risk.events.pop(0))

    def _after_activity(self) -> None:
        """P&L limits after fills or marks: a breach flattens (and the state blocks new entries)."""
        for breach in self.risk.evaluate(self.clock_ns, self.ledger):
            self._drain_risk_events()
            self.flatten(None, f"risk: {breach.reason}")
        self._drain_risk_events()
        if isinstance(self.broker, PaperBroker):
            self.broker.set_mark_bands(mark_bands(self.risk, self.ledger, self.broker.tape_root))

    def _on_row(self) -> None:
        """The paper broker reached a row after which a P&L limit may be breached or a new equity high
        made (a fill, or a print outside its mark band): mark and check now, exactly as at the end
        of a batch ending on that row."""
        broker = self.broker
        assert isinstance(broker, PaperBroker)
        self._set_clock(broker.clock_ns)
        self._mark_to_tape(broker)
        self._after_activity()

    def _mark_to_tape(self, broker: PaperBroker) -> None:
        """Every position marked to the last print of the tape it fills on."""
        for root in self.ledger.positions:  # a micro on its E-mini's tape is marked there
            last = broker.last_price(root)
            if last is not None:
                self.ledger.mark(root, last)

    def _on_broker_event(self, event: OrderEvent) -> None:
        """Book a broker event. On the paper broker the event's time is the tape row that caused it
        (the broker walks a batch row by row): the account's clock follows it, so bracket children
        are stamped and risk-checked at that row, not at the start of whatever batch it came in. (P&L
        limits are checked after the row: ``_on_row``.)"""
        self._queue.append(event)
        if self._draining:
            return
        self._draining = True
        paper = isinstance(self.broker, PaperBroker)
        try:
            while self._queue:
                event = self._queue.popleft()
                if paper and event.ts_ns > self.clock_ns:
                    self._set_clock(event.ts_ns)
                self._handle(event)
        finally:
            self._draining = False

    def _handle(self, event: OrderEvent) -> None:
        if event.fill is not None:
            self._write("fills", event.fill)  # durable before anything acts on it
        self._write("order_events", event)
        self.orders[event.order.id] = event.order
        if event.order.is_open:
            self._working[event.order.id] = event.order
        else:
            self._working.pop(event.order.id, None)
        if event.fill is not None:
            self._first_fill.setdefault(event.order.id, event.fill.price)
            for rt in self.ledger.apply(event.fill):
                self._write("round_trips", rt)
                self.risk.on_round_trip(rt)
            self._sync_brackets(event.order.instrument)
            self._sync_reduce_only(event.order.instrument)
        elif event.kind in (EventKind.CANCELLED, EventKind.REJECTED, EventKind.EXPIRED):
            self._sync_brackets(event.order.instrument)
        self._drain_risk_events()
        self.bus.publish(event)

    def _sync_reduce_only(self, instrument: str) -> None:
        """Shrink or cancel exits (not bracket children) that would now add to or flip the position."""
        pos = self.ledger.positions[instrument].qty if instrument in self.ledger.positions else 0
        room = abs(pos)
        for o in self.open_orders():
            if o.instrument != instrument or not o.request.reduce_only or o.request.source == Source.BRACKET:
                continue
            allowed = room if int(o.side) * pos < 0 else 0
            if o.remaining > allowed:
                if allowed == 0:
                    self.broker.cancel(o.id, "reduce-only: position already closed")
                else:
                    self.broker.modify(o.id, qty=o.filled_qty + allowed)
            room -= min(o.remaining, allowed)

    def _sync_brackets(self, instrument: str) -> None:
        pos = self.ledger.positions[instrument].qty if instrument in self.ledger.positions else 0
        for b in list(self.brackets.values()):
            if b.instrument != instrument:
                continue
            entry = self.orders[b.entry_id]
            if entry.filled_qty == 0:
                if not entry.is_open:
                    del self.brackets[b.entry_id]
                continue
            if b.anchor is None:
                b.anchor = self._first_fill.get(entry.id)
            want = b.protected_qty(self.orders, pos)
            children = [i for i in (b.stop_id, b.target_id) if i is not None]
            if not children and want > 0 and b.anchor is not None:
                for which, req in b.child_requests(want, entry.request.tag):
                    res = self.submit(req)
                    if res.ok and res.order_id is not None:
                        self._child_of[res.order_id] = b.entry_id
                        if which == "stop":
                            b.stop_id = res.order_id
                        else:
                            b.target_id = res.order_id
                continue
            for cid in children:
                child = self.orders[cid]
                if not child.is_open:
                    continue
                if want == 0:
                    self.broker.cancel(cid, "OCO: position closed")
                elif child.qty - child.filled_qty != want:
                    self.broker.modify(cid, qty=child.filled_qty + want)
            if not entry.is_open and want == 0:
                del self.brackets[b.entry_id]
