"""A backtest's fills, orders and trades do not depend on how the tape is batched.

The project's rule: live, replay and backtest run one pipeline, and the per-event (streaming) path
and the batch path agree exactly. The reference is the tape fed one row at a time; every other
batch size must give exactly the same fills, orders (with their times), decisions and trades.

The hand-made tapes below show each mechanism that once broke it, with answers worked out by hand;
the real recorded tapes (ES mbp-1, NQ CSV with its 30-level DOM, ES mbo) and a simulated day check
the property on busy, messy data, one instrument and two in one account (the lockstep playback).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import msgspec
import numpy as np
import pytest
from backtest_scenario import ENTRY_RULES, PRICES, SECOND, ArraySource
from conftest import CSV_FILE, MBP1_FILE, _need

from tapeflow.backtest.runner import DEFAULT_BATCH_ROWS, BacktestResult, run_backtest
from tapeflow.backtest.setup import rule_engine_factory
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.core.events import Flag, Side, concat, make_trades
from tapeflow.feeds.open import open_source
from tapeflow.flow.state import FlowSettings
from tapeflow.history.simdays import write_sim_days
from tapeflow.trading import Account, OrderType, PaperSettings, RiskSettings, TradingSettings
from tapeflow.trading.mark_bands import NEVER_HI, NEVER_LO, mark_bands
from tapeflow.trading.orders import Fill
from tapeflow.trading.positions import Ledger
from tapeflow.trading.risk import RiskManager
from tapeflow.trading.settings import settings_from_dict
from tapeflow.trading.testing import MS, et, levels, trades
from tapeflow.trading.testing import es_request as req
from tapeflow.trading.testing import fill_list as fills
from tapeflow.trading.testing import paper_account as account

T0 = et(date(2024, 7, 2), "10:00")
BATCHES = [1, 2, 7, 64, 4096, DEFAULT_BATCH_ROWS]


def _last(rows: np.ndarray) -> np.ndarray:
    rows["flags"] = Flag.LAST
    return rows


# -- the mechanism: the paper book fed in bulk must equal the book fed row by row ---------------


def _print_then_its_book_row() -> np.ndarray:
    """An mbp tape whose events end on a book row (``LAST``): ask 22003 x 5, a buyer lifts 2 of it,
    then the book row of that event shows 22003 x 3 left: no print is open any more."""
    return concat([
        _last(levels(T0, [(1, 0, 22002, 4), (-1, 0, 22003, 5)])),
        trades(T0 + MS, [(22003, 2, 1)]),
        _last(levels(T0 + MS, [(-1, 0, 22003, 3)])),
    ])


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_book_row_that_ends_a_prints_event_closes_it_however_the_rows_were_batched(batch):
    """Market buy 4 after the event closed: 3 at the 22003 ask the book shows, 1 a tick past it
    (22004). Fed one row at a time, the closing book row once came alone (no trade in its batch) and
    the print stayed "open": the order waited for an event that had ended, and took the print's 2
    lots off the book a second time."""
    tape = _print_then_its_book_row()
    acct, ev = account(slippage_ticks=0)
    for i in range(0, len(tape), batch):
        acct.on_events(tape[i : i + batch])
    oid = acct.submit(req(Side.BUY, 4)).order_id
    assert fills(ev) == [(oid, 3, 22003), (oid, 1, 22004)]
    assert acct.broker.books["ES"].prints == []


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_on_a_tape_without_event_marks_every_book_row_closes_the_prints_before_it(batch):
    """No ``LAST`` flags (CSV DOM): each book row is the book after the prints before it. Bid 22002
    x 4; a seller hits 22002 x 3; the DOM then shows 22002 x 1: a market sell of 2 gets 1 at 22002
    and 1 a tick under (22001), fed in any batches (the print is not taken out a second time)."""
    tape = concat([
        levels(T0, [(1, 0, 22002, 4), (-1, 0, 22003, 5)]),
        trades(T0 + MS, [(22002, 3, -1)]),
        levels(T0 + 2 * MS, [(1, 0, 22002, 1)]),
    ])
    acct, ev = account(slippage_ticks=0)
    for i in range(0, len(tape), batch):
        acct.on_events(tape[i : i + batch])
    oid = acct.submit(req(Side.SELL, 2)).order_id
    assert fills(ev) == [(oid, 1, 22002), (oid, 1, 22001)]


def test_prints_before_the_first_book_row_are_not_kept_in_bulk_either():
    """Before the tape shows any book the broker keeps no prints (they cannot be in a book it has
    not seen); a batch that holds both the early print and the first book must do the same."""
    tape = concat([trades(T0, [(22003, 2, 1)]), levels(T0 + MS, [(1, 0, 22002, 4), (-1, 0, 22003, 5)])])
    for batch in (1, 2):
        acct, ev = account(slippage_ticks=0)
        acct.submit(req(Side.BUY, 1, type=OrderType.LIMIT, limit_price=20000))  # rows are walked
        for i in range(0, len(tape), batch):
            acct.on_events(tape[i : i + batch])
        assert acct.broker.books["ES"].prints == []
        oid = acct.submit(req(Side.BUY, 5)).order_id
        assert fills(ev)[-1:] == [(oid, 5, 22003)]


@pytest.mark.parametrize("batch", [1, 20])
def test_an_order_goes_live_mid_batch_after_a_cancelled_order_due_earlier(batch):
    """3 ms latency. A buy limit sent at 10:00:00.000 (due .003) is cancelled; a buy limit at 19996
    sent at .001 is due at .004. The 20 prints from .002 (19 at 20000, then a seller at 19996, .021)
    fill it at 19996 at .021, in one batch too. In one batch the broker once walked only the row at
    .003 (the cancelled order's time), activated nothing there, and absorbed the rest: the order
    was not live for the print that fills it. (Batches of 16 rows or fewer are walked row by row.)"""
    acct, ev = account(latency_ns=3 * MS, slippage_ticks=0)
    acct.on_events(trades(T0, [(20000, 1, 1)]))
    acct.cancel(acct.submit(req(Side.BUY, 1, type=OrderType.LIMIT, limit_price=19990)).order_id)
    acct.on_events(trades(T0 + MS, [(20000, 1, 1)]))
    oid = acct.submit(req(Side.BUY, 1, type=OrderType.LIMIT, limit_price=19996)).order_id
    tape = trades(T0 + 2 * MS, [(20000, 1, 1)] * 19 + [(19996, 1, -1)])
    for i in range(0, len(tape), batch):
        acct.on_events(tape[i : i + batch])
    assert [(e.order.id, e.kind.name, e.ts_ns - T0) for e in ev if e.order.id == oid and e.kind.name in
            ("ACCEPTED", "FILLED")] == [(oid, "ACCEPTED", 4 * MS), (oid, "FILLED", 21 * MS)]
    assert fills(ev) == [(oid, 1, 19996)]



@pytest.mark.parametrize("batch", [1, 17])
def test_an_order_that_waited_for_an_event_and_then_rests_fills_on_the_print_through_it(batch):
    """Ask 4001 x 1 (its event ended), then a seller prints 3999: that event is open. A buy limit at
    4001 must wait for its end to take the ask; modified to 4000 it no longer can. The book row (bid
    3998, LAST) ends the event: the order rests at 4000, and the next seller at 3999 (.002) trades
    through it: filled at 4000. In one batch the broker once kept the rows it had picked while the
    order waited (none of its prints) and absorbed that print."""
    acct, ev = account(slippage_ticks=0)
    acct.on_events(concat([_last(levels(T0, [(-1, 0, 4001, 1)])), trades(T0, [(3999, 1, -1)])]))
    oid = acct.submit(req(Side.BUY, 1, type=OrderType.LIMIT, limit_price=4001)).order_id
    acct.modify(oid, limit_price=4000)
    assert fills(ev) == []
    tape = concat([_last(levels(T0 + MS, [(1, 0, 3998, 1)])), trades(T0 + 2 * MS, [(3999, 1, -1)] * 16)])
    for i in range(0, len(tape), batch):
        acct.on_events(tape[i : i + batch])
    assert [(e.order.id, e.fill.qty, e.fill.price, e.ts_ns - T0) for e in ev if e.fill] == [(oid, 1, 4000, 2 * MS)]

# -- the account: its clock and its P&L limits follow the row, not the batch --------------------


def _scheduled(prices: list[int], schedule: dict[int, str], batch: int, settings, **engine) -> BacktestResult:
    n = len(prices)
    tape = make_trades(T0 + SECOND * np.arange(n), prices, [1] * n, [1] * n, instrument_id=118)
    return run_backtest([ArraySource(tape, batch, "es.csv", "ES")],
                        lambda inst: ScheduledEngine(inst, schedule, **engine), settings)


@pytest.mark.parametrize("batch", [1, 4, 10])
def test_bracket_orders_are_stamped_at_the_row_whose_fill_sent_them(batch):
    """Long signalled at print 1 (10:00:01) with 1.5 s latency: live at print 3 (10:00:03), filled
    at 20008 there; its stop (20004) and target (20016) are sent at 10:00:03, and the target fills on
    the buyer at 20016 (10:00:07). With 4-row batches the broker once took prints 2-3 in one call
    and the account's clock still read 10:00:02 when the fill sent the bracket."""
    settings = settings_from_dict({"paper": {"latency_ms": 1500}}, "test")
    r = _scheduled(PRICES, {2: "long"}, batch, settings)  # schedules count prints from 1
    assert [(f.price, f.ts_ns - T0) for f in r.fills] == [(20008, 3 * SECOND), (20016, 7 * SECOND)]
    assert [(o.id, o.ts_created - T0) for o in r.orders.values()] == [
        (1, 1 * SECOND), (2, 3 * SECOND), (3, 3 * SECOND)]


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("side", [1, -1])
def test_a_daily_loss_reached_by_a_print_inside_a_batch_flattens_at_that_print(batch, side):
    """Long (short) 1 ES at 20000 at print 0, 40-tick stop; the market goes 1 tick a second against
    it. $50 daily loss, $1.97 a side: 3 ticks is -$39.47, 4 ticks -$51.97: the limit is reached at
    print 4 and the flatten fills there, 4 ticks off: -$50 - $3.94 = -$53.94. With an 8-row batch the
    position was once marked only at the batch's end and flattened at print 7 (10 ticks off)."""
    prices = [20000 - side * d for d in (0, 1, 2, 3, 4, 5, 10, 10)]
    settings = settings_from_dict({"paper": {"commission_usd": 0.59, "exchange_fee_usd": 1.38},
                                   "risk": {"daily_loss_limit_usd": 50}}, "test")
    r = _scheduled(prices, {1: "long" if side > 0 else "short"}, batch, settings, stop_ticks=40,
                   target_ticks=None)
    assert [(f.price, f.ts_ns - T0) for f in r.fills] == [(20000, 0), (20000 - 4 * side, 4 * SECOND)]
    assert [t.net_cents for t in r.trades] == [-5394]



@pytest.mark.parametrize("batch", [1, 2])
def test_an_entry_filled_at_once_between_batches_is_marked_to_the_last_print_at_its_fill(batch):
    """$20 daily loss, no latency. Last print 4000; the book bids 3998 x 2 and shows no ask. A buy
    limit at 4000 rests; a market sell fills at once at 3998 and is marked to 4000: -2 ticks, -$25,
    past the limit: the flatten cancels the limit and buys at once at the last print, 4000. Once
    the mark waited for the next row that marked: fed row by row the book row, and the account
    flattened; in one batch the print at 4000, which first filled the resting limit."""
    risk = RiskSettings(daily_loss_limit_cents=2000)
    acct = Account(TradingSettings(risk=risk, paper=PaperSettings(slippage_ticks=0)))
    ev: list = []
    acct.subscribe(ev.append)
    acct.on_events(concat([trades(T0, [(4000, 1, 1)]), levels(T0, [(1, 0, 3998, 2)])]))
    limit = acct.submit(req(Side.BUY, 1, type=OrderType.LIMIT, limit_price=4000)).order_id
    sell = acct.submit(req(Side.SELL, 1)).order_id
    tape = concat([levels(T0 + MS, [(1, 0, 4000, 0)]), trades(T0 + MS, [(4000, 1, -1)])])
    for i in range(0, len(tape), batch):
        acct.on_events(tape[i : i + batch])
    assert fills(ev) == [(sell, 1, 3998), (sell + 1, 1, 4000)]
    assert acct.orders[limit].status.name == "CANCELLED"
    assert acct.ledger.is_flat

# -- the property, on real and simulated tapes --------------------------------------------------


def _plain(r: BacktestResult) -> tuple:
    """Everything a run decided, without the per-process client ids."""
    orders = {k: msgspec.structs.replace(o, client_id="") for k, o in r.orders.items()}
    return (r.fills, orders, [(s.signal, s.decision) for s in r.signals],
            [(t.trip, t.net_cents) for t in r.trades], r.open_positions, r.open_position)


def _runs(tapes: list[tuple[np.ndarray, str]], rules: Path, settings, bar: str, batches=BATCHES):
    return {b: run_backtest([ArraySource(a, b, f"{root.lower()}{i}", root) for i, (a, root) in enumerate(tapes)],
                            rule_engine_factory(str(rules)), settings, flow_settings=FlowSettings(bar=bar))
            for b in batches}


def _assert_all_equal(runs: dict[int, BacktestResult], min_fills: int) -> None:
    ref_batch, ref = next(iter(runs.items()))
    assert len(ref.fills) >= min_fills  # the comparison has something to compare
    want = _plain(ref)
    for b, r in runs.items():
        got = _plain(r)
        for name, x, y in zip(("fills", "orders", "decisions", "trades", "open", "open qty"), got, want,
                              strict=True):
            assert x == y, f"{name} with {b}-row batches differ from {ref_batch}-row batches"


@pytest.fixture(scope="module")
def real() -> dict[str, np.ndarray]:
    """The recorded tapes, as the backtest's file adapters read them (skips without ../shared/data)."""
    es = concat(list(open_source(str(_need(MBP1_FILE)))))
    nq = concat(list(open_source(str(_need(CSV_FILE)), symbol="NQ", tz="Europe/Madrid")))
    return {"es": es, "nq": nq}


@pytest.fixture
def rules(tmp_path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(ENTRY_RULES)
    return path


CONFIGS = {
    "1m bars": ("1m", {}),
    "10s bars, 5 ms latency, 1 tick slippage": ("10s", {"paper": {"latency_ms": 5, "slippage_ticks": 1}}),
    "5s bars, 50 ms latency, $200 daily loss": ("5s", {"paper": {"latency_ms": 50},
                                                       "risk": {"daily_loss_limit_usd": 200}}),
    "10s bars, $100 trailing drawdown, $400 daily loss": ("10s", {"risk": {"trailing_drawdown_usd": 100,
                                                                           "daily_loss_limit_usd": 400}}),
    # an entry is marked at once to the last print (which may precede it): a drawdown found there
    "10s bars, 5 ms latency, $150 trailing drawdown, $300 daily loss": (
        "10s", {"paper": {"latency_ms": 5}, "risk": {"trailing_drawdown_usd": 150, "daily_loss_limit_usd": 300}}),
}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("tape", ["es", "nq"])
def test_one_real_instrument_trades_the_same_in_any_batch_size(real, rules, tape, config):
    bar, raw = CONFIGS[config]
    settings = settings_from_dict({"paper": {"commission_usd": 0.59, "exchange_fee_usd": 1.38}, **raw}, "test")
    root = "ES" if tape == "es" else "NQ"
    _assert_all_equal(_runs([(real[tape], root)], rules, settings, bar), min_fills=3)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_real_es_and_nq_in_one_account_trade_the_same_in_any_batch_size(real, rules, config):
    """The NQ tape on the ES tape's clock (20 s in), both in one account: the lockstep playback."""
    bar, raw = CONFIGS[config]
    settings = settings_from_dict({"paper": {"commission_usd": 0.59, "exchange_fee_usd": 1.38}, **raw}, "test")
    es, nq = real["es"], real["nq"].copy()
    nq["ts_event"] += es["ts_event"][0] - nq["ts_event"][0] + 20 * SECOND
    _assert_all_equal(_runs([(es, "ES"), (nq, "NQ")], rules, settings, bar), min_fills=8)


@pytest.fixture(scope="module")
def sim_day(tmp_path_factory):
    folder = tmp_path_factory.mktemp("simday")
    es = write_sim_days(folder, date(2024, 7, 2), 1, minutes=20, seed=3)[0]
    nq = write_sim_days(folder, date(2024, 7, 2), 1, minutes=20, seed=4, symbol="NQ")[0]
    return concat(list(open_source(str(es)))), concat(list(open_source(str(nq))))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_a_simulated_day_trades_the_same_in_any_batch_size(sim_day, rules, config):
    """20 minutes of simulated RTH ES and NQ (mbp-1), rules that trade all day: ES alone, then both."""
    bar, raw = CONFIGS[config]
    settings = settings_from_dict({"paper": {"commission_usd": 0.59, "exchange_fee_usd": 1.38}, **raw}, "test")
    es, nq = sim_day
    batches = [7, 64, 4096, DEFAULT_BATCH_ROWS]  # 1- and 2-row steps over ~200k rows: minutes, same paths
    _assert_all_equal(_runs([(es, "ES")], rules, settings, bar, batches), min_fills=10)
    _assert_all_equal(_runs([(es, "ES"), (nq, "NQ")], rules, settings, bar, batches), min_fills=10)


# -- the mark bands, worked out by hand -----------------------------------------------------------


def _band(side: int, risk: dict) -> tuple[int, int]:
    """2 ES (12.50 $ a tick: 2,500 cents a tick for the position) at 20000, marked there, no costs."""
    r = RiskManager(settings_from_dict({"risk": risk}, "test").risk)
    r.on_clock(T0)
    ledger = Ledger()
    ledger.apply(Fill(id=1, order_id=1, ts_ns=T0, instrument="ES", side=Side(side), qty=2, price=20000,
                      commission_cents=0))
    ledger.mark("ES", 20000)
    return mark_bands(r, ledger, lambda root: root)["ES"]


def test_a_daily_loss_band_ends_at_the_first_price_that_reaches_the_limit():
    """$50 limit: 2 ticks against 2 lots is -$50 (reached), 1 tick -$25 (not)."""
    assert _band(1, {"daily_loss_limit_usd": 50}) == (19998, NEVER_HI)
    assert _band(-1, {"daily_loss_limit_usd": 50}) == (NEVER_LO, 20002)


def test_a_trailing_drawdown_band_also_ends_where_a_new_equity_high_begins():
    """$100 drawdown from a high-water mark at today's equity: 4 ticks against reach it, but the
    $50 daily loss comes first (2 ticks); one tick in favour is a new high (the limit moves up)."""
    both = {"daily_loss_limit_usd": 50, "trailing_drawdown_usd": 100}
    assert _band(1, both) == (19998, 20001)
    assert _band(-1, both) == (19999, 20002)
    assert _band(1, {"trailing_drawdown_usd": 100}) == (19996, 20001)


def test_without_p_and_l_limits_or_positions_no_print_needs_marking():
    r = RiskManager(settings_from_dict({"risk": {"daily_loss_limit_usd": 50}}, "test").risk)
    r.on_clock(T0)
    assert mark_bands(r, Ledger(), lambda root: root) == {}
    assert mark_bands(RiskManager(settings_from_dict({}, "test").risk), Ledger(), lambda root: root) == {}
