"""Auto-trader: entry signals become bracket orders through the account; everything else is ignored."""

from __future__ import annotations

from datetime import date

from tapeflow.core.events import Side
from tapeflow.signals.model import Action, Signal
from tapeflow.trading import Account, AutoTrader, OrderType, Source, TradingSettings
from tapeflow.trading.settings import AutoSettings
from tapeflow.trading.testing import MS, et, trades

T = et(date(2024, 7, 2), "10:00")


def signal(
    action: Action, ts: int = T, stop: int | None = 8, target: int | None = 12, **kw: object
) -> Signal:
    return Signal(ts_ns=ts, instrument="ESU4", kind="stacked_imbalance", side=Side.BUY, price=3998,
                  strength=3.0, bar_start_ns=ts, rule="stack3", action=action, qty=1, stop_ticks=stop,
                  target_ticks=target, **kw)  # type: ignore[arg-type]


def setup(**auto: object) -> tuple[Account, AutoTrader]:
    acct = Account(TradingSettings(auto=AutoSettings(**auto)))  # type: ignore[arg-type]
    acct.on_events(trades(T, [(4000, 1, 1)]))
    return acct, AutoTrader(acct)


def test_enter_long_becomes_an_entry_with_an_oco_bracket():
    acct, bot = setup()
    d = bot.on_signal(signal(Action.ENTER_LONG))
    assert d.acted
    assert acct.ledger.positions["ES"].qty == 1
    kids = {(o.request.type, o.stop_price or o.limit_price) for o in acct.open_orders()}
    assert kids == {(OrderType.STOP, 3992), (OrderType.LIMIT, 4012)}
    assert acct.orders[1].request.source == Source.RULE and acct.orders[1].request.tag == "stack3"


def test_enter_short_sells():
    acct, bot = setup()
    assert bot.on_signal(signal(Action.ENTER_SHORT)).acted
    assert acct.ledger.positions["ES"].qty == -1


def test_alerts_and_highlights_are_ignored():
    acct, bot = setup()
    assert not bot.on_signal(signal(Action.ALERT)).acted
    assert not bot.on_signal(signal(Action.HIGHLIGHT)).acted
    assert acct.orders == {}


def test_one_position_per_instrument():
    acct, bot = setup()
    bot.on_signal(signal(Action.ENTER_LONG))
    d = bot.on_signal(signal(Action.ENTER_LONG, ts=T + MS))
    assert not d.acted and "position" in d.reason
    assert acct.ledger.positions["ES"].qty == 1


def test_more_positions_when_configured():
    acct, bot = setup(one_position_per_instrument=False)
    bot.on_signal(signal(Action.ENTER_LONG))
    assert bot.on_signal(signal(Action.ENTER_LONG, ts=T + MS)).acted
    assert acct.ledger.positions["ES"].qty == 2


def test_a_signal_without_a_stop_is_refused_by_risk():
    _, bot = setup()
    d = bot.on_signal(signal(Action.ENTER_LONG, stop=None))
    assert not d.acted and d.result is not None and d.result.rule == "mandatory_stop"


def test_respects_the_automation_switch_and_the_kill_switch():
    acct, bot = setup()
    acct.set_automation(Source.RULE, False, by="trader")
    assert bot.on_signal(signal(Action.ENTER_LONG)).result.rule == "automation_off"  # type: ignore[union-attr]
    acct.set_automation(Source.RULE, True, by="trader")
    acct.kill(by="trader")
    assert bot.on_signal(signal(Action.ENTER_LONG)).result.rule == "kill_switch"  # type: ignore[union-attr]


def test_limit_entries_at_the_signal_price():
    acct, bot = setup(entry_type="limit")
    bot.on_signal(signal(Action.ENTER_LONG))
    (entry,) = acct.open_orders()
    assert (entry.request.type, entry.limit_price) == (OrderType.LIMIT, 3998)
    acct.on_events(trades(T + MS, [(3997, 1, -1)]))
    assert acct.ledger.positions["ES"].qty == 1
    assert {o.stop_price or o.limit_price for o in acct.open_orders()} == {3990, 4010}


def test_a_held_entry_is_not_sent():
    """A live feed's hold (stale feed, old signal) stops the entry with its reason; other entries pass."""
    acct = Account(TradingSettings())
    acct.on_events(trades(T, [(4000, 1, 1)]))
    reasons: list[str | None] = ["feed stale: automatic entries hold", None]
    bot = AutoTrader(acct, hold=lambda s: reasons.pop(0))
    held = bot.on_signal(signal(Action.ENTER_LONG))
    assert (held.acted, held.reason) == (False, "feed stale: automatic entries hold") and not acct.orders
    assert bot.on_signal(signal(Action.ENTER_LONG)).acted and acct.ledger.positions["ES"].qty == 1
    assert bot.on_signal(signal(Action.ALERT)).reason == "alert is not an entry"  # no hold asked for alerts
