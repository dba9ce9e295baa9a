"""Exact P&L: FIFO realized, unrealized at the last trade, round trips flat to flat, per trading date.

ES tick = 1250 cents; MES tick = 125 cents. Numbers are worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import date

from tapeflow.core.events import Side
from tapeflow.trading import Fill, Ledger
from tapeflow.trading.testing import et

D = date(2024, 7, 2)
T = et(D, "10:00")


def fill(i: int, side: Side, qty: int, price: int, ts: int = T, comm: int = 0, root: str = "ES") -> Fill:
    return Fill(id=i, order_id=i, ts_ns=ts + i, instrument=root, side=side, qty=qty, price=price,
                commission_cents=comm)


def test_long_round_trip_pnl_in_cents_after_commission():
    led = Ledger()
    led.apply(fill(1, Side.BUY, 2, 22000, comm=2 * 209))
    (rt,) = led.apply(fill(2, Side.SELL, 2, 22004, comm=2 * 209))
    assert rt.gross_cents == 4 * 1250 * 2  # 10000
    assert rt.commission_cents == 836
    assert rt.net_cents == 9164
    assert led.days[D].net_cents == 9164
    assert led.is_flat


def test_scale_out_realizes_fifo_and_keeps_unrealized_on_the_rest():
    led = Ledger()
    led.apply(fill(1, Side.BUY, 1, 100))
    led.apply(fill(2, Side.BUY, 1, 104))
    assert led.apply(fill(3, Side.SELL, 1, 106)) == []
    assert led.realized_cents == (106 - 100) * 1250  # the oldest lot goes first: 7500
    led.mark("ES", 106)
    assert led.unrealized_cents == (106 - 104) * 1250  # 2500
    (rt,) = led.apply(fill(4, Side.SELL, 1, 102))
    assert rt.gross_cents == 7500 + (102 - 104) * 1250  # 5000
    assert (rt.avg_entry_ticks, rt.avg_exit_ticks) == (102, 104)


def test_short_position_marks_to_the_last_trade():
    led = Ledger()
    led.apply(fill(1, Side.SELL, 3, 500, root="MES"))
    led.mark("MES", 497)
    assert led.unrealized_cents == 3 * 3 * 125  # 1125
    assert led.positions["MES"].avg_price_ticks == 500


def test_reversal_closes_one_round_trip_and_opens_the_next():
    led = Ledger()
    led.apply(fill(1, Side.BUY, 1, 100, comm=100))
    (rt,) = led.apply(fill(2, Side.SELL, 3, 98, comm=300))
    assert rt.gross_cents == -2 * 1250
    assert rt.commission_cents == 100 + 100  # one third of the reversing fill's commission closes
    assert led.positions["ES"].qty == -2
    assert led.positions["ES"].trip_commission == 200
    assert led.days[D].entries == 2


def test_fills_belong_to_the_cme_trading_date_not_the_calendar_date():
    led = Ledger()
    monday_evening = et(date(2024, 7, 1), "18:30")  # Globex reopened: Tuesday's session
    led.apply(fill(1, Side.BUY, 1, 100, ts=monday_evening))
    led.apply(fill(2, Side.SELL, 1, 101, ts=monday_evening))
    assert list(led.days) == [date(2024, 7, 2)]


def test_cash_reconciles_with_realized_and_open_pnl():
    led = Ledger()
    led.apply(fill(1, Side.BUY, 2, 100, comm=50))
    led.apply(fill(2, Side.SELL, 1, 103, comm=25))
    led.mark("ES", 99)
    # cash: -2*100*1250 + 103*1250 - 75 = -121325; open value 1*99*1250 = 123750 -> 2425
    assert led.cash_cents + led.open_value_cents() == 2425
    assert led.realized_cents - led.commission_cents + led.unrealized_cents == 3750 - 75 - 1250


def test_ledger_replays_from_fills():
    fs = [fill(1, Side.BUY, 2, 100, comm=10), fill(2, Side.SELL, 1, 101, comm=5)]
    led = Ledger.replay(fs)
    assert led.positions["ES"].qty == 1 and led.realized_cents == 1250
