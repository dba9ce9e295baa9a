"""Each risk rule, hand-computed. ES: one tick = $12.50 = 1250 cents per contract."""

from __future__ import annotations

from datetime import date

from tapeflow.core.events import Side
from tapeflow.trading import (
    Account,
    Bracket,
    OrderRequest,
    OrderType,
    RiskSettings,
    Source,
    TradingSettings,
    TradingState,
)
from tapeflow.trading.settings import parse_window
from tapeflow.trading.testing import MS, et, trades

D = date(2024, 7, 2)  # a Tuesday
T = et(D, "10:00")
SEC = 1_000_000_000
BUY, SELL = Side.BUY, Side.SELL


class MemoryJournal:
    def __init__(self) -> None:
        self.records: list[tuple[str, object]] = []

    def write(self, table: str, record: object) -> None:
        self.records.append((table, record))


def make(**risk: object) -> Account:
    acct = Account(TradingSettings(risk=RiskSettings(**risk)), journal=MemoryJournal())  # type: ignore[arg-type]
    acct.on_events(trades(T, [(4000, 1, 1)]))
    return acct


def tick(acct: Account, price: int, ts: int) -> None:
    acct.on_events(trades(ts, [(price, 1, 1)]))


def order(side: Side, qty: int = 1, source: Source = Source.MANUAL, **kw: object) -> OrderRequest:
    return OrderRequest(instrument="ES", side=side, qty=qty, source=source, **kw)  # type: ignore[arg-type]


def round_trip(acct: Account, entry: int, exit_: int, ts: int) -> None:
    """Long 1 at ``entry`` and out at ``exit_`` (market orders at the last trade)."""
    tick(acct, entry, ts)
    assert acct.submit(order(BUY)).ok
    tick(acct, exit_, ts + MS)
    assert acct.submit(order(SELL)).ok


def test_max_order_size_blocks_a_larger_order():
    acct = make(max_order_qty=2)
    res = acct.submit(order(BUY, 3))
    assert (res.ok, res.rule) == (False, "max_order_qty")
    assert "3" in res.reason and acct.snapshot().last_reject == res.reason


def test_max_position_counts_working_orders():
    acct = make(max_position=2)
    assert acct.submit(order(BUY, 1)).ok  # long 1
    assert acct.submit(order(BUY, 1, type=OrderType.LIMIT, limit_price=3990)).ok  # could make 2
    res = acct.submit(order(BUY, 1))
    assert (res.ok, res.rule) == (False, "max_position")
    assert acct.submit(order(SELL, 1)).ok  # an exit is always fine


def test_daily_loss_breach_flattens_and_disables_automation():
    acct = make(daily_loss_limit_cents=50_000)
    assert acct.submit(order(BUY, 4)).ok  # long 4 at 4000
    tick(acct, 3991, T + SEC)  # -9 ticks * 4 * 1250 = -45000: still inside
    assert acct.ledger.positions["ES"].qty == 4
    tick(acct, 3990, T + 2 * SEC)  # -10 ticks * 4 * 1250 = -50000: the limit
    assert acct.ledger.is_flat and acct.open_orders() == []
    snap = acct.snapshot()
    assert snap.state == TradingState.HALTED and snap.state_rule == "daily_loss"
    assert snap.automation == {"rule": False, "webhook": False}
    assert snap.day_pnl_cents == -50_000
    assert acct.submit(order(BUY, 1, Source.RULE, bracket=Bracket(8, 8))).rule == "halted"
    assert acct.set_automation(Source.RULE, True, by="trader").ok  # the switch is on again ...
    assert acct.snapshot().automation["rule"] is False  # ... but automation stays off for the day
    journal = acct.journal
    assert isinstance(journal, MemoryJournal)
    risk_rules = [(r.kind, r.rule) for t, r in journal.records if t == "risk_events"]  # type: ignore[attr-defined]
    assert ("breach", "daily_loss") in risk_rules


def test_daily_loss_limit_resets_on_the_next_trading_date():
    acct = make(daily_loss_limit_cents=10_000, on_daily_loss=TradingState.REDUCING)
    acct.submit(order(BUY, 1))
    tick(acct, 3992, T + SEC)  # -8 * 1250 = -10000
    assert acct.snapshot().state == TradingState.REDUCING
    res = acct.submit(order(BUY, 1))
    assert (res.ok, res.rule) == (False, "reducing")
    tick(acct, 3992, et(date(2024, 7, 3), "10:00"))
    snap = acct.snapshot()
    assert snap.state == TradingState.ACTIVE and snap.automation == {"rule": True, "webhook": True}
    assert acct.submit(order(BUY, 1)).ok


def test_trailing_drawdown_from_the_high_water_mark_moves_to_reducing():
    acct = make(trailing_drawdown_cents=30_000, on_drawdown=TradingState.REDUCING)
    acct.submit(order(BUY, 1))  # long 1 at 4000
    tick(acct, 4020, T + SEC)  # equity +25000: the high-water mark
    tick(acct, 3997, T + 2 * SEC)  # equity -3750: 28750 below the mark, inside
    assert acct.ledger.positions["ES"].qty == 1
    tick(acct, 3996, T + 3 * SEC)  # equity -5000: 30000 below the mark
    snap = acct.snapshot()
    assert acct.ledger.is_flat and snap.state == TradingState.REDUCING
    assert snap.high_water_mark_cents == 25_000
    gauge = {g.rule: g for g in snap.limits}["trailing_drawdown"]
    assert (gauge.used, gauge.limit) == (30_000, 30_000)
    assert acct.submit(order(SELL, 1)).rule == "reducing"


def test_halted_account_refuses_new_orders_until_a_human_resets_it():
    acct = make(trailing_drawdown_cents=1250)
    acct.submit(order(BUY, 1))
    tick(acct, 3999, T + SEC)
    assert acct.snapshot().state == TradingState.HALTED
    assert acct.submit(order(BUY, 1)).rule == "halted"
    acct.risk.reset_state(T + 2 * SEC, by="desk")
    assert acct.submit(order(BUY, 1)).ok


def test_max_trades_per_day():
    acct = make(max_trades_per_day=2)
    round_trip(acct, 4000, 4001, T + SEC)
    round_trip(acct, 4000, 4001, T + 2 * SEC)
    res = acct.submit(order(BUY, 1))
    assert (res.ok, res.rule) == (False, "max_trades_per_day")
    assert "2 trades today" in res.reason


def test_working_entries_count_toward_trades_per_day():
    acct = make(max_trades_per_day=1)
    assert acct.submit(order(BUY, 1, type=OrderType.LIMIT, limit_price=3990)).ok
    assert acct.submit(order(SELL, 1, type=OrderType.LIMIT, limit_price=4010)).rule == "max_trades_per_day"


def test_consecutive_losses_pause_entries():
    acct = make(max_consecutive_losses=2, loss_pause_minutes=30)
    round_trip(acct, 4000, 3999, T + SEC)
    round_trip(acct, 4000, 3999, T + 2 * SEC)
    t_loss = T + 2 * SEC + MS
    tick(acct, 4000, t_loss + 29 * 60 * SEC)
    assert acct.submit(order(BUY)).rule == "loss_streak_pause"
    tick(acct, 4000, t_loss + 30 * 60 * SEC)
    assert acct.submit(order(BUY)).ok


def test_a_win_resets_the_loss_streak():
    acct = make(max_consecutive_losses=2)
    round_trip(acct, 4000, 3999, T + SEC)
    round_trip(acct, 4000, 4002, T + 2 * SEC)
    round_trip(acct, 4000, 3999, T + 3 * SEC)
    assert acct.submit(order(BUY)).ok


def test_cooldown_after_a_loss():
    acct = make(cooldown_after_loss_seconds=60)
    round_trip(acct, 4000, 3998, T + SEC)
    t_loss = T + SEC + MS
    tick(acct, 4000, t_loss + 30 * SEC)
    res = acct.submit(order(BUY))
    assert res.rule == "cooldown" and "30 s left" in res.reason
    tick(acct, 4000, t_loss + 60 * SEC)
    assert acct.submit(order(BUY)).ok


def test_trading_windows_block_entries_outside_but_not_exits():
    acct = make(trading_windows=(parse_window("09:30-11:30"),))
    tick(acct, 4000, et(D, "11:29"))
    assert acct.submit(order(BUY)).ok
    tick(acct, 4000, et(D, "11:30"))
    res = acct.submit(order(BUY))
    assert res.rule == "trading_window" and "11:30 ET" in res.reason
    assert acct.submit(order(SELL)).ok  # the exit goes through


def test_automated_entries_must_carry_a_stop():
    acct = make(require_stop_for_automation=True)
    assert acct.submit(order(BUY, 1, Source.WEBHOOK)).rule == "mandatory_stop"
    assert acct.submit(order(BUY, 1, Source.RULE, bracket=Bracket(target_ticks=8))).rule == "mandatory_stop"
    assert acct.submit(order(BUY, 1, Source.WEBHOOK, bracket=Bracket(stop_ticks=8))).ok
    assert acct.submit(order(BUY, 1)).ok  # manual entries may go without


def test_no_new_entries_near_the_session_close():
    acct = make(no_entries_before_close_minutes=10, session_close="rth")
    tick(acct, 4000, et(D, "15:49"))
    assert acct.submit(order(BUY)).ok
    tick(acct, 4000, et(D, "15:50"))
    assert acct.submit(order(BUY)).rule == "session_close"
    assert acct.submit(order(SELL)).ok  # exits still go


def test_eth_close_guard_uses_the_17_00_close():
    acct = make(no_entries_before_close_minutes=10, session_close="eth")
    tick(acct, 4000, et(D, "16:49"))
    assert acct.submit(order(BUY)).ok
    tick(acct, 4000, et(D, "16:51"))
    assert acct.submit(order(BUY)).rule == "session_close"


def test_switching_an_automation_source_off_blocks_its_orders_only():
    acct = make()
    acct.set_automation(Source.WEBHOOK, False, by="trader")
    assert acct.submit(order(BUY, 1, Source.WEBHOOK, bracket=Bracket(8))).rule == "automation_off"
    assert acct.submit(order(BUY, 1, Source.RULE, bracket=Bracket(8))).ok


def test_a_window_may_wrap_past_midnight_et():
    acct = make(trading_windows=(parse_window("18:00-02:00"),))
    tick(acct, 4000, et(date(2024, 7, 2), "23:00"))  # Wednesday's session, evening
    assert acct.submit(order(BUY)).ok
    tick(acct, 4000, et(date(2024, 7, 3), "01:59"))
    assert acct.submit(order(BUY)).ok
    tick(acct, 4000, et(date(2024, 7, 3), "03:00"))
    assert acct.submit(order(BUY)).rule == "trading_window"


def test_a_reversal_counts_the_bracket_stop_it_would_fill_with():
    """Short 1 with its bracket stop (buy 1 at 4001) working: buy-stop entries at 4001 fill in the
    same print as that stop, so with max position 3 two of them could take the account to
    -1 + 1 (stop) + 2 + 2 = 4. The second entry is refused, and the print leaves at most 3."""
    acct = make(max_position=3, max_order_qty=2)
    assert acct.submit(order(SELL, 1, bracket=Bracket(stop_ticks=1, target_ticks=1))).ok
    tick(acct, 4000, T + MS)
    assert acct.ledger.positions["ES"].qty == -1
    assert acct.submit(order(BUY, 2, type=OrderType.STOP, stop_price=4001)).ok  # -1 + 1 + 2 = 2
    res = acct.submit(order(BUY, 2, type=OrderType.STOP, stop_price=4001))  # -1 + 1 + 2 + 2 = 4
    assert (res.ok, res.rule) == (False, "max_position")
    tick(acct, 4001, T + 2 * MS)
    tick(acct, 4001, T + 3 * MS)
    assert abs(acct.ledger.positions["ES"].qty) <= 3
