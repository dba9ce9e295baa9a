"""Several instruments, fast: the planned-ahead playback (lockstep) gives exactly what stepping the
merged tape piece by piece through each pipeline gives (fills, orders, decisions, report files).

The real-data case puts the recorded NQ tape (CSV with its 30-level book) on the recorded ES tape's
clock (both shifted as a whole, nothing else changed), so the two interleave row by row; the
hand-made case is the ES/NQ scenario whose fills are worked out by hand in
``test_backtest_multi_instrument``, with risk limits that tie the two instruments together.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import msgspec
import numpy as np
import pytest
from backtest_scenario import ENTRY_RULES, SECOND, T0, ArraySource

from tapeflow.backtest.report import from_backtest, write_report
from tapeflow.backtest.runner import open_sources, run_backtest
from tapeflow.backtest.setup import rule_engine_factory
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.core.events import Flag, make_trades
from tapeflow.feeds.merge import TapeMerge
from tapeflow.feeds.open import open_source
from tapeflow.flow.state import FlowSettings
from tapeflow.history.simdays import write_sim_days
from tapeflow.pipeline import Pipeline
from tapeflow.playback import PlannedTape
from tapeflow.trading.settings import settings_from_dict

COSTS = {"commission_usd": 0.59, "exchange_fee_usd": 1.38}  # $1.97 a side


def _real_tapes(mbp1_file: Path, csv_file: Path) -> tuple[np.ndarray, np.ndarray]:
    es = np.concatenate(list(open_source(str(mbp1_file))))
    nq = np.concatenate(list(open_source(str(csv_file), symbol="NQ", tz="Europe/Madrid")))
    nq["ts_event"] += es["ts_event"][0] - nq["ts_event"][0] + 20 * SECOND  # NQ starts 20 s into ES's tape
    return es, nq


def _both_ways(make_sources, engines, settings, **kw):
    return [run_backtest(make_sources(), engines, settings, lockstep=ls, **kw) for ls in (False, True)]


def _assert_same(fine, fast, tmp_path: Path) -> None:
    assert fast.fills == fine.fills
    plain = {k: msgspec.structs.replace(o, client_id="") for k, o in fine.orders.items()}  # a per-process counter
    assert {k: msgspec.structs.replace(o, client_id="") for k, o in fast.orders.items()} == plain
    assert [(r.signal, r.decision) for r in fast.signals] == [(r.signal, r.decision) for r in fine.signals]
    assert fast.open_positions == fine.open_positions
    for name, r in (("fine", fine), ("fast", fast)):
        write_report(from_backtest(r), tmp_path / name)
    for f in ("trades.csv", "signals.csv", "metrics.json"):
        assert (tmp_path / "fast" / f).read_bytes() == (tmp_path / "fine" / f).read_bytes(), f


@pytest.mark.parametrize(("batch", "bar", "daily_loss_usd"), [
    (1, "1m", 2000), (17, "1m", 2000), (64, "10s", 2000), (65, "10s", 20), (5000, "1m", 20),
])
def test_lockstep_equals_fine_stepping_on_real_es_and_nq(mbp1_file, csv_file, tmp_path, batch, bar,
                                                          daily_loss_usd):
    """Source batches of 1..5000 rows (live-sized pieces take the bar-close path of ``Pipeline.process``),
    10 s bars (many closes), and a daily loss limit the NQ losses breach (the account halts ES too)."""
    es, nq = _real_tapes(mbp1_file, csv_file)
    rules = tmp_path / "rules.toml"
    rules.write_text(ENTRY_RULES)
    settings = settings_from_dict({"paper": COSTS, "risk": {"daily_loss_limit_usd": daily_loss_usd}}, "test")
    fine, fast = _both_ways(lambda: [ArraySource(es, batch, "es", "ES"), ArraySource(nq, batch, "nq", "NQ")],
                            rule_engine_factory(str(rules)), settings, flow_settings=FlowSettings(bar=bar))
    assert len(fine.fills) >= 2 and len(fine.signals) > 10  # the comparison has something to compare
    _assert_same(fine, fast, tmp_path)


HALF = SECOND // 2
ES_PRICES = [20000, 20000, 20002, 20004, 20006, 20010, 20010, 20010]  # long at print 2: target at print 6
NQ_PRICES = [80000, 80000, 79996, 79990, 79990, 79990, 79990, 79990]  # long at print 1: stop at print 3


def _scenario(batch: int) -> list[ArraySource]:
    n = len(ES_PRICES)
    es = make_trades(T0 + SECOND * np.arange(n), ES_PRICES, [1] * n, [1] * n, instrument_id=118)
    nq = make_trades(T0 + HALF + SECOND * np.arange(n), NQ_PRICES, [1] * n, [1] * n, instrument_id=7)
    return [ArraySource(es, batch, "es.csv", "ES"), ArraySource(nq, batch, "nq.csv", "NQ")]


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_a_daily_loss_on_nq_halts_es_entries_the_same_way_in_both_playbacks(tmp_path, batch):
    """NQ long 80000 at 10:00:00.5, stopped at 79996 at 10:00:02.5: -4 ticks x $5 - $3.94 = -$23.94,
    past the $20 daily loss: the ES long signalled at 10:00:03 (print 4) is refused."""
    settings = settings_from_dict({"paper": COSTS, "risk": {"daily_loss_limit_usd": 20}}, "test")
    schedules = {"ES": {4: "long"}, "NQ": {1: "long"}}
    fine, fast = _both_ways(lambda: _scenario(batch),
                            lambda inst: ScheduledEngine(inst, schedules[inst.root]), settings, batch_rows=1)
    _assert_same(fine, fast, tmp_path)
    assert [(t.trip.instrument, t.net_cents) for t in fast.trades] == [("NQ", -2394)]
    es_signal = next(r for r in fast.signals if r.signal.instrument == "ES")
    assert es_signal.decision == "skipped: trading halted (daily_loss)"


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_an_nq_position_blocks_es_under_a_one_contract_exposure_limit_in_both_playbacks(tmp_path, batch):
    """NQ long from 10:00:00.5 to 10:00:02.5 fills the 1 ES-equivalent limit: the ES long at print 2
    (10:00:01) is refused; the ES long at print 5 (10:00:04, NQ flat) fills at 20006, its 8-tick target
    is never reached (the tape ends at 20010), so it is still open at the end."""
    settings = settings_from_dict({"paper": COSTS, "risk": {"max_total_exposure_es": 1}}, "test")
    schedules = {"ES": {2: "long", 5: "long"}, "NQ": {1: "long"}}
    fine, fast = _both_ways(lambda: _scenario(batch),
                            lambda inst: ScheduledEngine(inst, schedules[inst.root]), settings, batch_rows=1)
    _assert_same(fine, fast, tmp_path)
    assert [(t.trip.instrument, t.net_cents) for t in fast.trades] == [("NQ", -2394)]
    es_fills = [(f.price, f.ts_ns - T0) for f in fast.fills if f.instrument == "ES"]
    assert es_fills == [(20006, 4 * SECOND)]
    assert fast.open_positions == {"ES": 1, "NQ": 0}
    assert "exposure" in next(r for r in fast.signals if r.signal.instrument == "ES").decision


class _ClockedEngine(ScheduledEngine):
    """A scheduled engine that also hears bar closes on the clock (as the rule engine does), so
    ``Pipeline.process`` splits a live-sized piece around the event that closes a time bar."""

    def on_clock(self, state, update, ts_ns):
        return []


def test_a_breach_at_the_bar_close_inside_a_piece_flattens_where_the_fine_stepping_does(tmp_path):
    """ES prints every 100 ms (20000, then 19990 at 4.9 s, 19989 at 5.0 s, 19980 after), NQ every
    second at .55 (no signals), 5 s bars: the ES piece 4.6-5.5 s holds the row that closes the first
    bar (5.0 s). The fine stepping hands the broker 4.6-4.9, then 5.0 alone, then the rest, so the
    $100 daily loss is seen right after the 4.9 print (-10 ticks; the 40-tick stop is far) and the
    flatten fills there: (19990 - 20000) x $12.50 - $3.94 = -$128.94. Cut at the piece's end
    instead, the loss would be seen at 5.5 s and filled at 19980: the playback must cut the same way."""
    k = np.arange(80)
    prices = np.where(k < 49, 20000, np.where(k == 49, 19990, np.where(k == 50, 19989, 19980)))
    es = make_trades(T0 + k * (SECOND // 10), prices.tolist(), [1] * 80, [1] * 80, instrument_id=118)
    m = np.arange(8)
    nq = make_trades(T0 + 550_000_000 + m * SECOND, [80000] * 8, [1] * 8, [1] * 8, instrument_id=7)
    settings = settings_from_dict({"paper": COSTS, "risk": {"daily_loss_limit_usd": 100}}, "test")
    engines = {"ES": {1: "long"}, "NQ": {}}
    fine, fast = _both_ways(lambda: [ArraySource(es, 80, "es", "ES"), ArraySource(nq, 8, "nq", "NQ")],
                            lambda inst: _ClockedEngine(inst, engines[inst.root], stop_ticks=40, target_ticks=None),
                            settings, flow_settings=FlowSettings(bar="5s"))
    _assert_same(fine, fast, tmp_path)
    assert [(f.price, f.ts_ns - T0) for f in fast.fills] == [(20000, 0), (19990, 49 * SECOND // 10)]
    assert [t.net_cents for t in fast.trades] == [-12894]


def test_planned_bar_closes_are_the_rows_the_flow_state_closes_time_bars_at(mbp1_file):
    """The plan knows which row closes each time bar (and from which row the bar was open) without
    stepping the flow row by row: checked against ``FlowState.closing_row`` stepped row by row; and
    where the closing row's exchange event ends (the row after the next ``Flag.LAST`` row)."""
    es = np.concatenate(list(open_source(str(mbp1_file))))
    settings = FlowSettings(bar="5s")
    stepped = Pipeline(open_source(str(mbp1_file)).info.instrument, settings)
    want, opened = [], None
    for i in range(len(es)):
        if stepped.flow.closing_row(es[i : i + 1]) == 0:
            want.append((opened, i))
            opened = None  # a trade here opens the next bar (open from the row after it)
        stepped.flow.update(es[i : i + 1])
        is_open = stepped.flow.builder.open_bar_end is not None
        opened = (i + 1 if opened is None else opened) if is_open else None
    planned = PlannedTape(Pipeline(stepped.instrument, settings), bar_ns=5 * SECOND)
    for k in range(0, len(es), 700):
        planned.plan(es[k : k + 700])
    assert len(want) >= 25  # 5 s bars over 4 minutes of a thin evening tape
    assert [(o, c) for o, c, _ in planned.bars] == want
    last = np.flatnonzero(es["flags"] & Flag.LAST)
    for _, c, end in planned.bars:  # an event that goes on past the 700-row batch ends "past it"
        batch_end = min((c // 700 + 1) * 700, len(es))
        i = int(np.searchsorted(last, c))
        assert end == (int(last[i]) + 1 if i < len(last) and last[i] < batch_end else batch_end + 1)


def test_the_merge_goes_on_after_rows_taken_off_the_front_of_a_tape():
    a = make_trades(np.array([1, 2, 3, 6, 7]), [10, 11, 12, 13, 14], [1] * 5, [1] * 5, instrument_id=1)
    b = make_trades(np.array([4, 5, 8]), [20, 21, 22], [1] * 3, [1] * 3, instrument_id=2)
    merge = TapeMerge([[a], [b]])
    spans = merge.spans()
    i, batch, start, end = next(spans)
    assert (i, batch["price"][start:end].tolist()) == (0, [10, 11, 12])
    merge.skip(1, 2)  # tape 1's rows at 4 and 5 are taken (held) by the consumer
    rest = [(k, bt["price"][s:e].tolist()) for k, bt, s, e in spans]
    assert rest == [(0, [13, 14]), (1, [22])]


@pytest.mark.parametrize("batch_rows", [65_536, 100])
def test_lockstep_equals_fine_stepping_over_two_days_of_simulated_es_and_nq(tmp_path, batch_rows):
    """Two trading dates of ES and NQ files (state carries from one day to the next in one account),
    a daily loss limit, and pipeline steps capped at 100 rows (the cap cuts the broker calls too)."""
    es = write_sim_days(tmp_path, date(2024, 7, 1), 2, minutes=6, seed=11)
    nq = write_sim_days(tmp_path, date(2024, 7, 1), 2, minutes=6, seed=12, symbol="NQ")
    rules = tmp_path / "rules.toml"
    rules.write_text(ENTRY_RULES)
    settings = settings_from_dict({"paper": COSTS, "risk": {"daily_loss_limit_usd": 300}}, "test")
    files = [str(es[0]), str(nq[0]), str(es[1]), str(nq[1])]
    fine, fast = _both_ways(lambda: open_sources(files), rule_engine_factory(str(rules)), settings,
                            batch_rows=batch_rows)
    assert len(fine.fills) >= 10 and {f.instrument for f in fine.fills} == {"ES", "NQ"}
    _assert_same(fine, fast, tmp_path)
