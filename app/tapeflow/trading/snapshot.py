"""Immutable account snapshot for the risk panel (pulled on a timer, never per event).

Money in integer cents, prices in ticks (averages as exact ``Decimal`` ticks), times UTC ns.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec

from tapeflow.trading.settings import TradingState


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
    unit: str  # "cents", "contracts", "trades", "losses"

    @property
    def remaining(self) -> int:
        return self.limit - self.used


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
