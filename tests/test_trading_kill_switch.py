"""Kill switch: one call cancels, flattens, disables automation, and stays latched across restarts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tapeflow.core.events import Side
from tapeflow.errors import TapeflowError
from tapeflow.trading import (
    Account,
    Bracket,
    KillSwitch,
    OrderRequest,
    OrderStatus,
    OrderType,
    PaperSettings,
    Source,
    TradingSettings,
)
from tapeflow.trading.testing import MS, et, trades

T = et(date(2024, 7, 2), "10:00")


def order(side: Side, qty: int = 1, source: Source = Source.MANUAL, **kw: object) -> OrderRequest:
    return OrderRequest(instrument="ES", side=side, qty=qty, source=source, **kw)  # type: ignore[arg-type]


def busy_account(state_file: Path | None = None, latency_ms: int = 0) -> Account:
    """Long 2 ES with a bracket and a resting limit."""
    acct = Account(
        TradingSettings(paper=PaperSettings(latency_ns=latency_ms * MS)),
        kill_switch=KillSwitch(state_file),
    )
    acct.on_events(trades(T, [(4000, 1, 1)]))
    acct.submit(order(Side.BUY, 2, bracket=Bracket(8, 8)))
    acct.submit(order(Side.BUY, 1, type=OrderType.LIMIT, limit_price=3990))
    acct.on_events(trades(T + 10 * MS, [(4001, 1, 1)]))
    return acct


def test_kill_switch_cancels_flattens_and_disables_automation(tmp_path: Path):
    acct = busy_account(tmp_path / "kill.json")
    assert acct.ledger.positions["ES"].qty == 2 and len(acct.open_orders()) == 3
    acct.kill(by="trader", reason="hotkey")
    assert acct.ledger.is_flat and acct.open_orders() == []
    snap = acct.snapshot()
    assert snap.kill_switch_latched and snap.kill_switch_by == "trader"
    assert snap.automation == {"rule": False, "webhook": False}
    res = acct.submit(order(Side.BUY))
    assert (res.ok, res.rule) == (False, "kill_switch")


def test_kill_switch_stays_latched_across_a_restart(tmp_path: Path):
    state = tmp_path / "kill.json"
    busy_account(state).kill(by="trader", reason="hotkey")
    again = Account(kill_switch=KillSwitch(state))  # the app restarts
    again.on_events(trades(T + 60_000 * MS, [(4000, 1, 1)]))
    assert again.snapshot().kill_switch_latched
    assert again.snapshot().automation == {"rule": False, "webhook": False}
    assert again.submit(order(Side.BUY)).rule == "kill_switch"
    assert not again.set_automation(Source.RULE, True, by="bot").ok


def test_only_an_explicit_rearm_by_a_named_person_releases_it(tmp_path: Path):
    state = tmp_path / "kill.json"
    acct = busy_account(state)
    acct.kill(by="trader", reason="hotkey")
    with pytest.raises(TapeflowError):
        acct.rearm(by=" ")
    acct.rearm(by="trader")
    assert not KillSwitch(state).latched
    assert acct.submit(order(Side.BUY)).ok
    assert acct.snapshot().automation == {"rule": False, "webhook": False}  # switched on by hand, per source
    assert acct.set_automation(Source.RULE, True, by="trader").ok


def test_kill_switch_takes_effect_before_a_queued_order():
    acct = busy_account(latency_ms=5)
    queued = acct.submit(order(Side.BUY, 1)).order_id  # in flight: goes live in 5 ms
    assert queued is not None and acct.orders[queued].status == OrderStatus.SUBMITTED
    acct.kill(by="trader")
    acct.on_events(trades(T + 30 * MS, [(4002, 1, 1), (4002, 1, 1)]))
    assert acct.orders[queued].status == OrderStatus.CANCELLED
    assert acct.orders[queued].filled_qty == 0
    assert acct.ledger.is_flat and acct.open_orders() == []


def test_an_unreadable_latch_file_fails_safe_as_latched(tmp_path: Path):
    state = tmp_path / "kill.json"
    state.write_text("{not json")
    assert KillSwitch(state).latched
