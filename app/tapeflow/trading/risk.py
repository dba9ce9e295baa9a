"""Pre-trade risk checks and the per-account trading state.

Every order, whatever its source, is checked here before it reaches a broker (the kill switch is
checked by the account even before this). Rules that limit *new risk* (windows, trades per day,
cooldown, pause, close guard, mandatory stop, state ACTIVE) apply to entries only: an order that
only shrinks the position (an exit, a bracket child, a flatten) is never blocked by them, because
blocking an exit adds risk. Money is integer cents, times UTC ns, sizes contracts.

One account trades several instruments: the state (a daily-loss halt), the P&L limits, the trade
count, loss streaks and the exposure in ES-equivalent contracts are account-wide, so a breach on
NQ stops entries on ES too; max position, max order size and the widest stop are per instrument
(``RiskSettings.limits_for``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import msgspec

from tapeflow.core.events import Side
from tapeflow.core.instruments import es_equivalent_tenths
from tapeflow.core.sessions import NS_PER_SECOND, Session, et_to_ns, ns_to_et, session_of
from tapeflow.trading.orders import AUTOMATED_SOURCES, Order, OrderRequest, Source
from tapeflow.trading.positions import Ledger, RoundTrip
from tapeflow.trading.settings import InstrumentLimits, RiskSettings, TradingState, Window

NS_PER_MINUTE = 60 * NS_PER_SECOND


class RiskDecision(msgspec.Struct, frozen=True):
    """Outcome of a check: ``rule`` names the limit that blocked, ``reason`` is shown to the user."""

    ok: bool
    rule: str = ""
    reason: str = ""
    reduces: bool = False  # allowed because it only shrinks the position: held to that


ALLOW = RiskDecision(True)
ALLOW_REDUCING = RiskDecision(True, reduces=True)


class RiskEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something the risk manager did: a rejection, a breach, a state or automation change."""

    ts_ns: int
    kind: str  # "rejected", "breach", "state", "automation", "pause", "day"
    rule: str
    reason: str
    state: TradingState


class Breach(msgspec.Struct, frozen=True):
    """A limit crossed by P&L (not by an order): the account flattens and changes state."""

    rule: str  # "daily_loss" or "trailing_drawdown"
    reason: str
    state: TradingState


def _is_entry(o: Order) -> bool:
    """A working order that may add to a position (not a bracket child, not reduce-only)."""
    return o.request.source != Source.BRACKET and not o.request.reduce_only


def _worst_fills(open_orders: Iterable[Order]) -> dict[str, list[int]]:
    """Per instrument, [contracts every working buy could fill, every working sell], at worst.

    Exits count too: a bracket stop or a reduce-only order shrinks the position only while the
    position it protects is still there; a print that fills it together with same-side entries
    (a reversal through the stop) adds it to them. The stop and target of one entry are one
    cancels the other, so the pair counts once (the larger)."""
    worst: dict[str, list[int]] = {}
    pairs: dict[tuple[str, int, int], int] = {}
    for o in open_orders:
        parent = o.request.parent_id
        if _is_entry(o) or parent is None:
            worst.setdefault(o.instrument, [0, 0])[0 if o.side == Side.BUY else 1] += o.remaining
        else:
            key = (o.instrument, int(o.side), parent)
            pairs[key] = max(pairs.get(key, 0), o.remaining)
    for (root, side, _), qty in pairs.items():
        worst.setdefault(root, [0, 0])[0 if side == Side.BUY else 1] += qty
    return worst


def exposure_tenths(ledger: Ledger, open_orders: Iterable[Order], req: OrderRequest | None = None) -> int:
    """Account exposure in tenths of an ES-equivalent contract, at worst: for each instrument the
    larger of its position plus every working buy and minus every working sell (``req`` counted as
    one more; exits as :func:`_worst_fills` counts them), weighted 10 for an E-mini and 1 for a
    micro."""
    return _exposure(ledger, _worst_fills(open_orders), req)


def _exposure(ledger: Ledger, working: dict[str, list[int]], req: OrderRequest | None) -> int:
    """:func:`exposure_tenths` from worst fills already counted (``working`` is changed)."""
    if req is not None:
        working.setdefault(req.instrument, [0, 0])[0 if req.side == Side.BUY else 1] += req.qty
    total = 0
    for root in {*working, *(r for r, p in ledger.positions.items() if p.qty)}:
        pos = ledger.positions[root].qty if root in ledger.positions else 0
        buys, sells = working.get(root, (0, 0))
        total += es_equivalent_tenths(root, max(abs(pos + buys), abs(pos - sells)))
    return total


def es_text(tenths: int) -> str:
    """Tenths of a contract as a trader writes them: ``2``, ``1.5``."""
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"


def _usd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


class RiskManager:
    """Limits, trading state, automation switches and loss streak bookkeeping of one account."""

    def __init__(self, settings: RiskSettings | None = None) -> None:
        self.settings = settings or RiskSettings()
        self.state = TradingState.ACTIVE
        self.state_rule = ""  # rule that set a non-ACTIVE state
        self.automation: dict[Source, bool] = {s: True for s in AUTOMATED_SOURCES}
        self.automation_blocked_on: date | None = None  # daily-loss breach: off for that date
        self.session: Session | None = None
        self.consecutive_losses = 0
        self.cooldown_until_ns = 0
        self.paused_until_ns = 0
        self.hwm_cents = self.settings.starting_balance_cents
        self.equity_cents = self.settings.starting_balance_cents
        self.events: list[RiskEvent] = []  # drained by the account (journal, UI)
        # a live venue's own realized net for the trading date (prop firms judge on theirs): the
        # daily loss limit holds against the worse of it and ours (None: paper, nothing to compare)
        self.venue_realized_today_cents: int | None = None
        self._windows_key: tuple[date, tuple[Window, ...]] | None = None
        self._windows: list[tuple[int, int]] = []
        self._limits: tuple[RiskSettings | None, dict[str, InstrumentLimits]] = (None, {})

    # -- time -------------------------------------------------------------------------------
    def on_clock(self, ts_ns: int) -> bool:
        """Track the trading date; on a new one reset daily counters. True if the date changed."""
        s = self.session
        if s is not None and s.eth_open_ns <= ts_ns < s.eth_close_ns:
            return False
        new = session_of(ts_ns)
        if s is not None and new.trading_date == s.trading_date:
            return False
        self.session = new
        if s is None:
            return True
        self.consecutive_losses = 0
        self.paused_until_ns = self.cooldown_until_ns = 0
        if self.state_rule == "daily_loss":
            self._set_state(ts_ns, TradingState.ACTIVE, "day", "new trading date: daily loss limit reset")
        self._emit(ts_ns, "day", "day", f"trading date {new.trading_date}")
        return True

    def limits_for(self, root: str) -> InstrumentLimits:
        """``settings.limits_for(root)``, merged once per settings object (every order asks)."""
        if self._limits[0] is not self.settings:
            self._limits = (self.settings, {})
        out = self._limits[1].get(root)
        if out is None:
            out = self._limits[1][root] = self.settings.limits_for(root)
        return out

    @property
    def trading_date(self) -> date | None:
        return self.session.trading_date if self.session else None

    # -- switches ---------------------------------------------------------------------------
    def set_automation(self, source: Source, enabled: bool, ts_ns: int, by: str) -> None:
        """Turn one automation source (rules, webhooks) on or off."""
        self.automation[source] = enabled
        self._emit(
            ts_ns, "automation", str(source), f"{source} automation {'on' if enabled else 'off'} by {by}"
        )

    def automation_on(self, source: Source) -> bool:
        if source not in AUTOMATED_SOURCES:
            return True
        blocked = self.automation_blocked_on is not None and self.automation_blocked_on == self.trading_date
        return self.automation.get(source, False) and not blocked

    def reset_state(self, ts_ns: int, by: str) -> None:
        """A human puts a REDUCING/HALTED account back to ACTIVE (e.g. after a drawdown review)."""
        self._set_state(ts_ns, TradingState.ACTIVE, "manual", f"state reset by {by}")

    # -- pre-trade --------------------------------------------------------------------------
    def check(
        self, req: OrderRequest, *, ts_ns: int, ledger: Ledger, open_orders: Iterable[Order]
    ) -> RiskDecision:
        """May this order be sent now? (Does not record anything; the account logs rejections.)"""
        s = self.settings
        limits = self.limits_for(req.instrument)
        if not isinstance(open_orders, list):
            open_orders = list(open_orders)  # read twice below (this instrument's, then all for exposure)
        pos = ledger.positions[req.instrument].qty if req.instrument in ledger.positions else 0
        side = int(req.side)
        same_side_working = 0
        opposite_entries = 0
        pending_entries = 0
        for o in open_orders:
            if not _is_entry(o):
                continue
            pending_entries += 1  # the trade count is account-wide: every instrument's entries
            if o.instrument != req.instrument:
                continue
            if int(o.side) == side:
                same_side_working += o.remaining
            else:
                opposite_entries += o.remaining
        protective = req.reduce_only or req.source in (Source.BRACKET, Source.FLATTEN)
        reduces = pos * side < 0 and req.qty + same_side_working <= abs(pos)
        if protective and not (pos * side < 0 and req.qty <= abs(pos)):
            return RiskDecision(False, "reduce_only", "reduce-only order would not reduce the position")
        if self.state == TradingState.HALTED and not protective:
            return RiskDecision(False, "halted", f"trading halted ({self.state_rule or 'manual'})")
        if req.source in AUTOMATED_SOURCES and not self.automation_on(req.source):
            return RiskDecision(False, "automation_off", f"{req.source} automation is off")
        if limits.max_order_qty is not None and req.qty > limits.max_order_qty and req.source != Source.FLATTEN:
            return RiskDecision(
                False, "max_order_qty",
                f"order of {req.qty} exceeds the {req.instrument} max order size {limits.max_order_qty}",
            )
        if protective or reduces:
            return ALLOW_REDUCING
        if self.state == TradingState.REDUCING:
            return RiskDecision(
                False, "reducing", f"only orders that reduce the position ({self.state_rule})"
            )
        # Exits on this side count too: they may fill in the same print as this order.
        working = _worst_fills(open_orders)
        worst = pos + side * (working.get(req.instrument, [0, 0])[0 if side == 1 else 1] + req.qty)
        if limits.max_position is not None and abs(worst) > limits.max_position:
            return RiskDecision(
                False,
                "max_position",
                f"{req.instrument} position could reach {abs(worst)} contracts, "
                f"above its max position {limits.max_position}",
            )
        if s.max_exposure_tenths is not None:
            reach = _exposure(ledger, working, req)
            if reach > s.max_exposure_tenths:
                return RiskDecision(
                    False,
                    "max_exposure",
                    f"account exposure could reach {es_text(reach)} ES-equivalent contracts, above the "
                    f"limit {es_text(s.max_exposure_tenths)} (1 ES = 1 NQ = 10 MES = 10 MNQ)",
                )
        return self._check_entry(req, ts_ns, ledger, pos, pending_entries)

    def _check_entry(
        self, req: OrderRequest, ts_ns: int, ledger: Ledger, pos: int, pending_entries: int
    ) -> RiskDecision:
        s = self.settings
        if (
            req.source in AUTOMATED_SOURCES
            and s.require_stop_for_automation
            and (req.bracket is None or req.bracket.stop_ticks is None)
        ):
            return RiskDecision(False, "mandatory_stop", f"{req.source} entries must carry a stop")
        widest = self.limits_for(req.instrument).max_stop_ticks
        stop = req.bracket.stop_ticks if req.bracket is not None else None
        if widest is not None and stop is not None and stop > widest:
            return RiskDecision(
                False, "max_stop_ticks",
                f"stop of {stop} ticks is wider than the {req.instrument} max stop of {widest} ticks",
            )
        if ts_ns < self.paused_until_ns:
            return RiskDecision(
                False, "loss_streak_pause", f"paused after {s.max_consecutive_losses} losses in a row"
            )
        if ts_ns < self.cooldown_until_ns:
            secs = -(-(self.cooldown_until_ns - ts_ns) // NS_PER_SECOND)
            return RiskDecision(False, "cooldown", f"cooling down after a loss ({secs} s left)")
        if s.max_trades_per_day is not None and (pos == 0 or pos * int(req.side) < 0):
            day = ledger.days.get(self.trading_date) if self.trading_date else None
            done = day.entries if day else 0
            if done + pending_entries + 1 > s.max_trades_per_day:
                return RiskDecision(
                    False, "max_trades_per_day", f"{done} trades today; the limit is {s.max_trades_per_day}"
                )
        if s.trading_windows and not any(a <= ts_ns < b for a, b in self._window_ranges(ts_ns)):
            t = ns_to_et(ts_ns).time()
            return RiskDecision(False, "trading_window", f"{t:%H:%M} ET is outside the trading windows")
        if s.no_entries_before_close_minutes:
            sess = self.session if self.session and self.session.contains(ts_ns) else session_of(ts_ns)
            close = sess.rth_close_ns if s.session_close == "rth" else sess.eth_close_ns
            if close - s.no_entries_before_close_minutes * NS_PER_MINUTE <= ts_ns < sess.eth_close_ns:
                return RiskDecision(
                    False,
                    "session_close",
                    f"no new entries within {s.no_entries_before_close_minutes} min "
                    f"of the {s.session_close} close",
                )
        return ALLOW

    def _window_ranges(self, ts_ns: int) -> list[tuple[int, int]]:
        """Trading windows of the session holding ``ts_ns`` as UTC ns ranges (converted once a day)."""
        sess = self.session if self.session and self.session.contains(ts_ns) else session_of(ts_ns)
        key = (sess.trading_date, self.settings.trading_windows)
        if self._windows_key != key:
            ranges = []
            for d in (sess.trading_date - timedelta(days=1), sess.trading_date):
                for w in self.settings.trading_windows:
                    end_day = d if w.start < w.end else d + timedelta(days=1)
                    ranges.append((et_to_ns(d, w.start), et_to_ns(end_day, w.end)))
            self._windows_key, self._windows = key, ranges
        return self._windows

    # -- post-trade -------------------------------------------------------------------------
    def on_round_trip(self, rt: RoundTrip) -> None:
        """Loss streak, cooldown and pause bookkeeping."""
        s = self.settings
        if rt.net_cents > 0:
            self.consecutive_losses = 0
            return
        if rt.net_cents == 0:
            return
        self.consecutive_losses += 1
        if s.cooldown_after_loss_seconds:
            self.cooldown_until_ns = rt.exit_ts + s.cooldown_after_loss_seconds * NS_PER_SECOND
        if s.max_consecutive_losses is not None and self.consecutive_losses >= s.max_consecutive_losses:
            if s.loss_pause_minutes:
                self.paused_until_ns = rt.exit_ts + s.loss_pause_minutes * NS_PER_MINUTE
            else:
                self.paused_until_ns = session_of(rt.exit_ts).eth_close_ns
            self._emit(
                rt.exit_ts,
                "pause",
                "max_consecutive_losses",
                f"{self.consecutive_losses} losses in a row: entries paused",
            )
            self.consecutive_losses = 0

    def evaluate(self, ts_ns: int, ledger: Ledger) -> list[Breach]:
        """Update equity and high-water mark; return limits newly crossed by P&L."""
        s = self.settings
        self.mark_equity(ledger)
        out: list[Breach] = []
        d = self.trading_date
        if s.daily_loss_limit_cents is not None and d is not None:
            pnl, whose = ledger.day_pnl_cents(d), "daily loss"
            if self.venue_realized_today_cents is not None:
                venue = self.venue_realized_today_cents + ledger.unrealized_cents
                if venue < pnl:
                    pnl, whose = venue, "daily loss by the broker's count"
            if pnl <= -s.daily_loss_limit_cents and self.automation_blocked_on != d:
                self.automation_blocked_on = d
                out.append(
                    Breach(
                        "daily_loss",
                        f"{whose} {_usd(pnl)} reached the limit {_usd(s.daily_loss_limit_cents)}",
                        s.on_daily_loss,
                    )
                )
        if s.trailing_drawdown_cents is not None:
            dd = self.hwm_cents - self.equity_cents
            if dd >= s.trailing_drawdown_cents and self.state_rule != "trailing_drawdown":
                out.append(
                    Breach(
                        "trailing_drawdown",
                        f"drawdown {_usd(dd)} from the high-water mark reached "
                        f"the limit {_usd(s.trailing_drawdown_cents)}",
                        s.on_drawdown,
                    )
                )
        for b in out:
            self._emit(ts_ns, "breach", b.rule, b.reason)
            if b.state == TradingState.HALTED or self.state == TradingState.ACTIVE:
                self._set_state(ts_ns, b.state, b.rule, b.reason)
        return out

    def mark_equity(self, ledger: Ledger) -> None:
        """Equity from the ledger now, and the high-water mark it may raise (no limit is checked:
        a restart replays the journal's fills through this so the trailing drawdown keeps the
        peaks the day already made)."""
        self.equity_cents = (self.settings.starting_balance_cents + ledger.realized_cents
                             - ledger.commission_cents + ledger.unrealized_cents)
        self.hwm_cents = max(self.hwm_cents, self.equity_cents)

    def drawdown_cents(self) -> int:
        return self.hwm_cents - self.equity_cents

    # -- internals --------------------------------------------------------------------------
    def _set_state(self, ts_ns: int, state: TradingState, rule: str, reason: str) -> None:
        self.state = state
        self.state_rule = "" if state == TradingState.ACTIVE else rule
        self._emit(ts_ns, "state", rule, reason)

    def _emit(self, ts_ns: int, kind: str, rule: str, reason: str) -> None:
        self.events.append(RiskEvent(ts_ns=ts_ns, kind=kind, rule=rule, reason=reason, state=self.state))
