"""Immutable account snapshot for the risk panel (pulled on a timer, never per event).

Money in integer cents, prices in ticks (averages as exact ``Decimal`` ticks), times UTC ns.
Several instruments share the account: ``instruments`` has a row each (position, P&L, orders,
its limit), the snapshot's own figures are the account totals (sums of the rows), and exposure is
in tenths of an ES-equivalent contract (1 ES = 1 NQ = 10 MES = 10 MNQ).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import msgspec

from tapeflow.core.instruments import INSTRUMENTS, es_equivalent_tenths
from tapeflow.trading.orders import Order
from tapeflow.trading.positions import Ledger, Position
from tapeflow.trading.settings import RiskSettings, TradingState


class PositionView(msgspec.Struct, frozen=True):
    """One instrument's open position."""

    instrument: str
    qty: int  # signed contracts
    avg_price_ticks: Decimal | None
    mark_ticks: int | None
    unrealized_cents: int


class LimitGauge(msgspec.Struct, frozen=True):
    """Distance to one limit, for a bar: ``used`` of ``limit`` (same unit)."""

    rule: str
    used: int
    limit: int
    unit: str  # "cents", "contracts", "trades", "losses", "es_tenths" (tenths of an ES contract)

    @property
    def remaining(self) -> int:
        return self.limit - self.used


class InstrumentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument of the account: its position, its share of today's P&L and its orders."""

    instrument: str
    qty: int  # signed contracts
    avg_price_ticks: Decimal | None
    mark_ticks: int | None
    unrealized_cents: int
    realized_today_cents: int  # net of commission
    day_pnl_cents: int
    trades_today: int  # round trips opened
    working_orders: int
    exposure_tenths: int  # the position in tenths of an ES contract
    max_position: int | None  # the limit in force for it (None: off)


def instrument_rows(
    ledger: Ledger, open_orders: Iterable[Order], trading_date: date | None, risk: RiskSettings
) -> tuple[InstrumentRow, ...]:
    """A row for each instrument with a position, a working order or a trade today (ES, MES,
    NQ, MNQ order): what the risk panel lists under the account totals."""
    working: dict[str, int] = {}
    for o in open_orders:
        working[o.instrument] = working.get(o.instrument, 0) + 1
    today = {r for r, d in ledger.instrument_days if d == trading_date}
    roots = {r for r, p in ledger.positions.items() if p.qty} | set(working) | today
    rows = []
    for root in sorted(roots, key=lambda r: (list(INSTRUMENTS).index(r) if r in INSTRUMENTS else 99, r)):
        p = ledger.positions.get(root) or Position(root, 0)
        day = ledger.instrument_days.get((root, trading_date)) if trading_date else None
        realized = day.net_cents if day else 0
        rows.append(InstrumentRow(
            instrument=root, qty=p.qty, avg_price_ticks=p.avg_price_ticks, mark_ticks=p.mark,
            unrealized_cents=p.unrealized_cents, realized_today_cents=realized,
            day_pnl_cents=realized + p.unrealized_cents, trades_today=day.entries if day else 0,
            working_orders=working.get(root, 0), exposure_tenths=es_equivalent_tenths(root, p.qty),
            max_position=risk.limits_for(root).max_position,
        ))
    return tuple(rows)


def position_gauge(rows: Iterable[InstrumentRow], risk: RiskSettings) -> LimitGauge | None:
    """The max-position gauge: the instrument nearest its own limit (the default limit at 0 when
    nothing is open); None when no instrument has one."""
    best: tuple[int, int] | None = None
    for r in rows:
        if r.max_position is not None and (best is None or abs(r.qty) * best[1] > best[0] * r.max_position):
            best = (abs(r.qty), r.max_position)
    if best is None and risk.max_position is not None:
        best = (0, risk.max_position)
    return None if best is None else LimitGauge("max_position", best[0], best[1], "contracts")


def is_live_account(name: str | None) -> bool:
    """Live accounts are named ``LIVE <venue>:<account>`` (``commands._live_mode``); paper ones never."""
    return name is not None and name.startswith("LIVE ")


class AccountSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the risk panel draws."""

    ts_ns: int
    account: str
    trading_date: date | None
    state: TradingState
    state_rule: str
    kill_switch_latched: bool
    kill_switch_by: str
    kill_switch_reason: str
    automation: dict[str, bool]  # source -> effectively on (switch on and not blocked for the day)
    positions: tuple[PositionView, ...]
    realized_today_cents: int  # net of commission
    unrealized_cents: int
    day_pnl_cents: int
    equity_cents: int
    high_water_mark_cents: int
    trades_today: int
    consecutive_losses: int
    cooldown_until_ns: int
    paused_until_ns: int
    working_orders: int
    limits: tuple[LimitGauge, ...]
    last_reject: str  # the last reason an order was refused (shown to the user)
    instruments: tuple[InstrumentRow, ...] = ()  # per instrument; the figures above are their totals
    exposure_tenths: int = 0  # open positions, tenths of an ES-equivalent contract
    venue_realized_today_cents: int | None = None  # a live venue's own count, shown beside ours
    venue_balance_cents: int | None = None  # a live venue's account balance (Rithmic's P&L plant), if it says
    venue_entries_halted: str = ""  # why a live venue refuses new entries now (connection down, reconciling)
    # alarms, shown loudly: a kill latched in memory only (a restart would not know it from the
    # latch file) and records the journal refused (disk full, read-only file)
    kill_switch_persisted: bool = True
    kill_switch_save_error: str = ""
    journal_errors: int = 0  # records not written this session
    journal_error: str = ""  # the last refusal, naming the file

    def alarms(self) -> list[str]:
        """What needs a person now, one line each (the risk pane and the status page show them
        above everything else): a kill the latch file does not hold, a journal that stopped recording."""
        out = []
        if self.kill_switch_latched and not self.kill_switch_persisted:
            out.append(f"KILL SWITCH LATCHED IN MEMORY ONLY, not on disk ({self.kill_switch_save_error}): a "
                       "restart would not see it unless the journal holds it; free the disk or fix the file now")
        if self.journal_errors:
            n = self.journal_errors
            out.append(f"JOURNAL NOT WRITING: {n} record{'s' if n != 1 else ''} not saved; last: {self.journal_error}")
        return out
