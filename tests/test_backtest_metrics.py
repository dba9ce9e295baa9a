"""Backtest figures on a hand-made tape with known signals and known fills, computed by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
from backtest_scenario import COSTS, SCHEDULE, SECOND, ArraySource, tape

from tapeflow.backtest.metrics import compute_metrics, trade_stats
from tapeflow.backtest.runner import cut_points, run_backtest
from tapeflow.backtest.standin import EveryNthEngine, ScheduledEngine
from tapeflow.backtest.trades import Trade, attribute_trips, segment_of
from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.trading.orders import Fill, Source
from tapeflow.trading.positions import RoundTrip


def _run(batch_rows: int = 1):
    return run_backtest([ArraySource(tape())], lambda inst: ScheduledEngine(inst, SCHEDULE), COSTS,
                        batch_rows=batch_rows)


def test_three_known_trades_give_hand_computed_usd_figures():
    r = _run()
    assert [(t.is_long, t.ticks) for t in r.trades] == [(True, 8), (False, -4), (True, 8)]
    # ES: 8 ticks x $12.50 = $100 gross; 4 ticks = $50; $1.97 a side -> $3.94 per round turn
    assert [t.net_cents for t in r.trades] == [9606, -5394, 9606]
    m = compute_metrics(r.trades, span_ns=r.span_ns)
    assert (m["trades"], m["wins"], m["losses"]) == (3, 2, 1)
    assert m["win_rate"] == Decimal("0.6667")
    assert m["net_pnl"] == Decimal("138.18")  # 96.06 - 53.94 + 96.06
    assert m["gross_pnl"] == Decimal("150.00")
    assert m["commissions"] == Decimal("11.82")  # 3 x 3.94
    assert m["avg_winner"] == Decimal("96.06") and m["avg_loser"] == Decimal("-53.94")
    assert m["avg_winner_ticks"] == 8 and m["avg_loser_ticks"] == -4
    assert m["profit_factor"] == Decimal("3.5617")  # 192.12 / 53.94 = 3.56173...
    assert m["expectancy"] == Decimal("46.06")  # 138.18 / 3
    assert m["max_drawdown"] == Decimal("53.94")  # equity 96.06 -> 42.12
    assert m["max_consecutive_losses"] == 1
    assert m["largest_loss"] == Decimal("-53.94")
    assert m["time_in_market_s"] == 6  # three trades of 2 s each
    assert m["time_in_market_pct"] == Decimal("66.6667")  # 6 s of the 9 s the tape spans
    assert m["per_rule"]["scheduled"]["net_pnl"] == Decimal("138.18")
    assert m["by_side"]["long"]["net_pnl"] == Decimal("192.12")
    assert m["by_side"]["short"]["net_pnl"] == Decimal("-53.94")
    assert m["by_hour_et"] == {"10": m["by_hour_et"]["10"]} and m["by_hour_et"]["10"]["trades"] == 3
    assert m["by_segment"]["rth_open"]["trades"] == 3 and m["by_segment"]["eth"]["trades"] == 0


def test_every_signal_is_paired_with_what_the_auto_trader_did():
    r = _run()
    assert [s.decision for s in r.signals] == ["order 1", "order 4", "order 7"]
    assert r.entry_delays_ns() == [0, 0, 0]  # one row per batch, no latency: filled on the signal's print
    assert r.open_position == 0 and r.prints == 10 and r.span_ns == 9 * SECOND


def test_drawdown_and_loss_streak_follow_the_closed_trade_equity_curve():
    # +100, -30, -40, +10, -50 (cents): peak 100, trough 100-30-40+10-50 = -10 -> drawdown 110
    trades = _trades([100, -30, -40, 10, -50])
    s = trade_stats(trades)
    assert s["max_drawdown"] == Decimal("1.10")
    assert s["max_consecutive_losses"] == 2
    assert s["profit_factor"] == Decimal("0.9167")  # 110 / 120
    assert trade_stats([])["profit_factor"] is None and trade_stats([])["net_pnl"] == 0


def test_a_reversal_closes_one_trip_and_opens_the_next_under_the_reversing_order_rule():
    fills = [
        Fill(id=1, order_id=1, ts_ns=1, instrument="ES", side=Side.BUY, qty=2, price=100, commission_cents=10),
        Fill(id=2, order_id=2, ts_ns=2, instrument="ES", side=Side.SELL, qty=3, price=104, commission_cents=15),
        Fill(id=3, order_id=3, ts_ns=3, instrument="ES", side=Side.BUY, qty=1, price=102, commission_cents=5,
             source=Source.BRACKET),
    ]
    a, b = attribute_trips(fills, {1: "A", 2: "B", 3: "B"})
    assert (a.rule, a.trip.qty, a.trip.gross_cents) == ("A", 2, 2 * 4 * 1250)
    assert (b.rule, b.is_long, b.trip.gross_cents) == ("B", False, 2 * 1250)
    assert a.trip.commission_cents + b.trip.commission_cents == 30


def test_session_segments_are_by_entry_time_in_new_york():
    assert segment_of(iso_to_ns("2024-07-02T13:45:00Z")) == "rth_open"  # 09:45 EDT
    assert segment_of(iso_to_ns("2024-07-02T16:00:00Z")) == "midday"  # 12:00
    assert segment_of(iso_to_ns("2024-07-02T19:59:59Z")) == "rth_close"  # 15:59:59
    assert segment_of(iso_to_ns("2024-07-02T20:00:00Z")) == "eth"  # 16:00
    assert segment_of(iso_to_ns("2024-01-02T14:45:00Z")) == "rth_open"  # 09:45 EST


def test_batches_are_cut_every_n_rows_and_where_the_clock_enters_a_new_time_bucket():
    ms = 1_000_000
    ts = np.array([0, 1, 2, 3, 4, 5, 300, 301, 1000], dtype=np.int64) * ms
    assert cut_points(ts, 4, 0) == [0, 4, 8, 9]
    assert cut_points(ts, 4, 250 * ms) == [0, 4, 6, 8, 9]  # 0-249 ms, 250-499 ms, 1000 ms buckets
    assert cut_points(ts, 100, 250 * ms) == [0, 6, 8, 9]
    assert cut_points(ts[:0], 4, 250 * ms) == [0]


def test_every_nth_engine_fires_on_exact_print_numbers_whatever_the_batches():
    ev = tape()
    whole, split = EveryNthEngine(instrument("ES"), n=3), EveryNthEngine(instrument("ES"), n=3)
    a = whole.on_update(None, None, ev)  # type: ignore[arg-type]
    b = [s for i in range(0, len(ev), 2) for s in split.on_update(None, None, ev[i : i + 2])]  # type: ignore[arg-type]
    assert [s.ts_ns for s in a] == [s.ts_ns for s in b] == [int(ev["ts_event"][k]) for k in (2, 5, 8)]
    assert [s.side for s in a] == [Side.BUY, Side.SELL, Side.BUY]


def _trades(nets: list[int]) -> list[Trade]:
    """Long 1-lot trades with the given net results in cents, one a nanosecond."""
    out = []
    for i, n in enumerate(nets):
        rt = RoundTrip(instrument="ES", direction=Side.BUY, entry_ts=i, exit_ts=i + 1, qty=1, entry_value_ticks=0,
                       exit_value_ticks=0, gross_cents=n, commission_cents=0,
                       trading_date=date(2024, 7, 2))
        out.append(Trade(rt, "r"))
    return out
