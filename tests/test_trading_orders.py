"""Paper broker fills, hand-computed: every order type, latency, brackets, cancel, modify, flatten.

ES: one tick = 1250 cents per contract. Prices below are in ticks.
"""

from __future__ import annotations

import asyncio
from datetime import date

from tapeflow.core.events import Side
from tapeflow.trading import (
    Bracket,
    EventKind,
    OrderStatus,
    OrderType,
)
from tapeflow.trading.testing import MS, et, levels, trades
from tapeflow.trading.testing import es_request as req
from tapeflow.trading.testing import fill_list as fills
from tapeflow.trading.testing import paper_account as account

BUY, SELL = Side.BUY, Side.SELL
T0 = et(date(2024, 7, 2), "10:00")



def test_market_buy_fills_at_last_trade_plus_slippage_without_a_book():
    acct, ev = account(slippage_ticks=1)
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    oid = acct.submit(req(BUY, 2)).order_id
    assert fills(ev) == [(oid, 2, 4001)]
    assert [e.kind for e in ev] == [EventKind.SUBMITTED, EventKind.ACCEPTED, EventKind.FILLED]


def test_market_orders_take_the_touch_when_the_tape_has_a_book():
    acct, ev = account(slippage_ticks=0)
    acct.on_events(levels(T0, [(1, 0, 4001, 7), (-1, 0, 4002, 9)]))
    acct.on_events(trades(T0 + MS, [(4001, 1, -1)]))
    b = acct.submit(req(BUY)).order_id
    s = acct.submit(req(SELL)).order_id
    assert fills(ev) == [(b, 1, 4002), (s, 1, 4001)]


def test_market_sell_slips_down():
    acct, ev = account(slippage_ticks=2)
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    acct.submit(req(SELL))
    assert fills(ev)[0][2] == 3998


def test_limit_buy_waits_until_a_trade_prints_through_its_price():
    acct, ev = account()
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    oid = acct.submit(req(BUY, 3, type=OrderType.LIMIT, limit_price=3998)).order_id
    acct.on_events(trades(T0 + MS, [(3999, 5, -1), (3998, 5, -1)]))
    assert fills(ev) == [(oid, 3, 3998)]  # no book: nothing queued ahead, the print at 3998 fills us


def test_limit_at_price_fills_only_after_the_queue_ahead_is_consumed():
    acct, ev = account()
    acct.on_events(levels(T0, [(1, 0, 3998, 10), (-1, 0, 3999, 4)]))
    oid = acct.submit(req(BUY, 2, type=OrderType.LIMIT, limit_price=3998)).order_id
    acct.on_events(trades(T0 + MS, [(3998, 6, -1)]))  # queue 10 -> 4
    assert fills(ev) == []
    acct.on_events(trades(T0 + 2 * MS, [(3998, 5, -1)]))  # queue 4 -> 0, one contract left for us
    assert fills(ev) == [(oid, 1, 3998)]
    assert ev[-1].kind == EventKind.PARTIALLY_FILLED
    acct.on_events(trades(T0 + 3 * MS, [(3998, 3, -1)]))
    assert fills(ev) == [(oid, 1, 3998), (oid, 1, 3998)]
    assert acct.orders[oid].status == OrderStatus.FILLED


def test_limit_buy_queue_is_not_eaten_by_buy_aggressor_prints():
    acct, ev = account()
    acct.on_events(levels(T0, [(1, 0, 3998, 1), (-1, 0, 3999, 4)]))
    acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=3998))
    acct.on_events(trades(T0 + MS, [(3998, 50, 1)]))
    assert fills(ev) == []


def test_limit_trade_through_fills_everything_at_the_limit_not_better():
    acct, ev = account()
    acct.on_events(levels(T0, [(1, 0, 3998, 500), (-1, 0, 3999, 4)]))
    oid = acct.submit(req(BUY, 2, type=OrderType.LIMIT, limit_price=3998)).order_id
    acct.on_events(trades(T0 + MS, [(3996, 1, -1)]))
    assert fills(ev) == [(oid, 2, 3998)]


def test_marketable_limit_fills_at_once_at_the_touch():
    acct, ev = account()
    acct.on_events(levels(T0, [(1, 0, 3998, 5), (-1, 0, 3999, 4)]))
    oid = acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=4001)).order_id
    assert fills(ev) == [(oid, 1, 3999)]


def test_stop_buy_triggers_on_a_trade_at_the_stop_and_fills_with_slippage():
    acct, ev = account(slippage_ticks=1)
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    oid = acct.submit(req(BUY, 1, type=OrderType.STOP, stop_price=4005)).order_id
    acct.on_events(trades(T0 + MS, [(4004, 1, 1)]))
    assert fills(ev) == []
    acct.on_events(trades(T0 + 2 * MS, [(4005, 1, 1)]))
    assert fills(ev) == [(oid, 1, 4006)]
    assert EventKind.TRIGGERED in [e.kind for e in ev]


def test_stop_limit_becomes_a_resting_limit_when_triggered():
    acct, ev = account()
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    # sell stop 3995, limit 3996: after the trigger it rests above the market
    oid = acct.submit(req(SELL, 1, type=OrderType.STOP_LIMIT, stop_price=3995, limit_price=3996)).order_id
    acct.on_events(trades(T0 + MS, [(3995, 1, -1), (3994, 1, -1)]))
    assert acct.orders[oid].triggered
    assert fills(ev) == []  # a sell limit at 3996 does not fill on prints below it
    acct.on_events(trades(T0 + 2 * MS, [(3996, 1, 1)]))  # a buyer lifts 3996; no queue ahead of us
    assert fills(ev) == [(oid, 1, 3996)]


def test_latency_keeps_an_order_away_from_the_tape_until_it_arrives():
    acct, ev = account(latency_ns=5 * MS)
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    oid = acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=3999)).order_id
    acct.on_events(trades(T0 + MS, [(3998, 1, -1)]))  # through our price, but we are not there yet
    assert fills(ev) == []
    assert acct.orders[oid].status == OrderStatus.SUBMITTED  # sent, not yet acknowledged
    acct.on_events(trades(T0 + 6 * MS, [(4001, 1, 1)]))
    # it arrives at T0+5ms, when the last print (3998) is below its limit: it takes 3998 at once
    assert fills(ev) == [(oid, 1, 3998)]


def test_cancel_removes_a_working_order_before_it_can_fill():
    acct, ev = account()
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    oid = acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=3998)).order_id
    acct.cancel(oid)
    acct.on_events(trades(T0 + MS, [(3990, 1, -1)]))
    assert fills(ev) == []
    assert acct.orders[oid].status == OrderStatus.CANCELLED


def test_modify_moves_a_limit_and_resizes_it():
    acct, ev = account()
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    oid = acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=3990)).order_id
    assert acct.modify(oid, qty=2, limit_price=3998).ok
    acct.on_events(trades(T0 + MS, [(3997, 1, -1)]))
    assert fills(ev) == [(oid, 2, 3998)]


def test_bracket_target_fill_cancels_the_stop():
    acct, _ev = account(commission_cents=50, exchange_fee_cents=100)
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    entry = acct.submit(req(BUY, 1, bracket=Bracket(stop_ticks=8, target_ticks=4))).order_id
    kids = [o for o in acct.open_orders()]
    assert {(o.request.type, o.stop_price or o.limit_price) for o in kids} == {
        (OrderType.STOP, 3992),
        (OrderType.LIMIT, 4004),
    }
    acct.on_events(trades(T0 + MS, [(4005, 1, 1)]))
    assert acct.open_orders() == []
    (rt,) = acct.ledger.round_trips
    assert rt.gross_cents == 4 * 1250
    assert rt.commission_cents == 2 * 150
    assert rt.net_cents == 4700
    assert entry is not None


def test_bracket_stop_fill_cancels_the_target():
    acct, _ev = account(slippage_ticks=1)
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    acct.submit(req(SELL, 2, bracket=Bracket(stop_ticks=4, target_ticks=8)))
    acct.on_events(trades(T0 + MS, [(4003, 1, 1), (4005, 3, 1)]))
    (rt,) = acct.ledger.round_trips
    # short 2 at 3999 (4000 - 1 slippage), stop at 4003 triggers, fills 4003 + 1 = 4004
    assert (rt.entry_value_ticks, rt.exit_value_ticks) == (2 * 3999, 2 * 4004)
    assert rt.gross_cents == -5 * 2 * 1250
    assert acct.open_orders() == []


def test_partial_entry_fills_grow_the_bracket_children():
    acct, _ev = account()
    acct.on_events(levels(T0, [(1, 0, 3998, 0), (-1, 0, 3999, 4)]))
    entry = acct.submit(req(BUY, 3, type=OrderType.LIMIT, limit_price=3998, bracket=Bracket(4, 4))).order_id
    acct.on_events(trades(T0 + MS, [(3998, 1, -1)]))
    kids = [o for o in acct.open_orders() if o.id != entry]
    assert sorted(o.remaining for o in kids) == [1, 1]
    acct.on_events(trades(T0 + 2 * MS, [(3998, 2, -1)]))
    kids = [o for o in acct.open_orders() if o.id != entry]
    assert sorted(o.remaining for o in kids) == [3, 3]
    assert {o.stop_price or o.limit_price for o in kids} == {3994, 4002}


def test_flatten_cancels_working_orders_and_closes_the_position():
    acct, _ev = account()
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    acct.submit(req(BUY, 2, bracket=Bracket(8, 8)))
    acct.submit(req(BUY, 1, type=OrderType.LIMIT, limit_price=3990))
    acct.on_events(trades(T0 + MS, [(4002, 1, 1)]))
    acct.flatten()
    assert acct.ledger.is_flat
    assert acct.open_orders() == []
    assert acct.ledger.round_trips[-1].gross_cents == 2 * 2 * 1250


def test_a_refused_order_emits_rejected_with_the_reason():
    acct, ev = account()
    res = acct.submit(req(BUY, 0))
    assert not res.ok and "quantity" in res.reason
    assert ev[-1].kind == EventKind.REJECTED and ev[-1].reason == res.reason


def test_exit_order_is_cancelled_when_the_position_is_closed_by_something_else():
    acct, _ev = account()
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    acct.submit(req(BUY, 1, bracket=Bracket(stop_ticks=4)))
    exit_id = acct.submit(req(SELL, 1, type=OrderType.LIMIT, limit_price=4010)).order_id
    acct.on_events(trades(T0 + MS, [(3996, 1, -1)]))  # the bracket stop closes the position
    assert acct.ledger.is_flat
    assert acct.orders[exit_id].status == OrderStatus.CANCELLED  # it must not open a short


def test_order_events_stream_to_asyncio_consumers():
    acct, _ = account()
    acct.on_events(trades(T0, [(4000, 1, 1)]))

    async def main() -> list[EventKind]:
        stream = acct.events()
        got: list[EventKind] = []

        async def consume() -> None:
            async for e in stream:
                got.append(e.kind)
                if e.kind == EventKind.FILLED:
                    return

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        acct.submit(req(BUY))
        await asyncio.wait_for(task, 1)
        return got

    assert asyncio.run(main()) == [EventKind.SUBMITTED, EventKind.ACCEPTED, EventKind.FILLED]


def test_bracket_children_go_live_after_the_latency_and_protect_the_position():
    acct, _ev = account(latency_ns=5 * MS, slippage_ticks=0)
    acct.on_events(trades(T0, [(4000, 1, 1)]))
    acct.submit(req(BUY, 1, bracket=Bracket(stop_ticks=4, target_ticks=4)), ts_ns=T0)
    acct.on_events(trades(T0 + 6 * MS, [(4000, 1, 1)]))  # entry goes live and fills at 4000
    assert acct.ledger.positions["ES"].qty == 1
    acct.on_events(trades(T0 + 20 * MS, [(4001, 1, 1)]))  # children live by now
    acct.on_events(trades(T0 + 30 * MS, [(4005, 1, 1)]))  # through the 4004 target
    assert acct.ledger.positions["ES"].qty == 0 and acct.open_orders() == []


def test_a_stop_does_not_trigger_on_a_print_at_its_price_made_before_it_existed():
    acct, _ev = account(slippage_ticks=0)
    acct.on_events(trades(T0, [(3996, 1, -1)]))
    acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=3996))
    assert acct.open_orders() and not acct.open_orders()[0].triggered
    acct.on_events(trades(T0 + MS, [(3996, 1, -1)]))  # the next print at the stop triggers it
    assert acct.open_orders() == []


def test_a_stop_already_beyond_the_market_triggers_at_once():
    acct, _ev = account(slippage_ticks=0)
    acct.on_events(trades(T0, [(3995, 1, -1)]))
    acct.submit(req(SELL, 1, type=OrderType.STOP, stop_price=3996))
    assert acct.open_orders() == []
