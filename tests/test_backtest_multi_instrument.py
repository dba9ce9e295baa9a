"""Several instruments in one backtest: one pipeline each, one account, the tapes merged in time.

Hand-made tapes, prints one second apart (ES from 10:00:00 ET, NQ half a second later), a stand-in
engine per instrument that enters at known prints with a 4-tick stop and an 8-tick target, and
no latency: every figure below is computed by hand.
"""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest
from backtest_scenario import ENTRY_RULES, SECOND, T0, ArraySource

from tapeflow.backtest.multi import group_days
from tapeflow.backtest.report import from_backtest, write_report
from tapeflow.backtest.runner import instrument_rows, run_backtest
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.cli import main
from tapeflow.core.events import make_trades
from tapeflow.errors import TapeflowError
from tapeflow.feeds.merge import merge_tapes
from tapeflow.trading.settings import settings_from_dict

HALF = SECOND // 2
COSTS = {"paper": {"commission_usd": 0.59, "exchange_fee_usd": 1.38}}  # $1.97 a side, both products
# ES: long at print 2 (10:00:01) at 20000; the 8-tick target 20008 trades at print 6 (10:00:05).
ES_PRICES = [20000, 20000, 20002, 20004, 20006, 20010, 20010, 20010]
# NQ: long at print 1 (10:00:00.5) at 80000; the 4-tick stop 79996 trades at print 3 (10:00:02.5).
NQ_PRICES = [80000, 80000, 79996, 79990, 79990, 79990, 79990, 79990]


def _tape(prices: list[int], start: int, iid: int) -> np.ndarray:
    n = len(prices)
    return make_trades(start + SECOND * np.arange(n), prices, [1] * n, [1] * n, instrument_id=iid)


def _sources(batch: int = 4) -> list[ArraySource]:
    return [ArraySource(_tape(ES_PRICES, T0, 118), batch, "es.csv", "ES"),
            ArraySource(_tape(NQ_PRICES, T0 + HALF, 7), batch, "nq.csv", "NQ")]


def _run(risk: dict, es: dict[int, str], nq: dict[int, str], batch: int = 4, sources=None):
    settings = settings_from_dict({**COSTS, "risk": risk}, "test")
    schedules = {"ES": es, "NQ": nq}
    return run_backtest(sources or _sources(batch), lambda inst: ScheduledEngine(inst, schedules[inst.root]),
                        settings, batch_rows=1)


def _by_root(result) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t in result.trades:
        out.setdefault(t.trip.instrument, []).append(t.net_cents)
    return out


def test_merge_takes_rows_in_time_order_ties_to_the_first_tape_each_tape_in_its_own_order():
    a = make_trades(np.array([1, 3, 3, 5]), [10, 11, 12, 13], [1] * 4, [1] * 4, instrument_id=1)
    b = make_trades(np.array([2, 3, 4, 4]), [20, 21, 22, 23], [1] * 4, [1] * 4, instrument_id=2)
    merged = list(merge_tapes([[a[:3], a[3:]], [b[:1], b[1:]]]))
    assert [(k, r["price"].tolist()) for k, r in merged] == [
        (0, [10]), (1, [20]), (0, [11, 12]), (1, [21, 22, 23]), (0, [13])]


def test_merge_keeps_a_tape_whose_clock_steps_back_in_its_own_order():
    a = make_trades(np.array([5, 2, 6]), [10, 11, 12], [1] * 3, [1] * 3, instrument_id=1)
    b = make_trades(np.array([3, 5]), [20, 21], [1] * 2, [1] * 2, instrument_id=2)
    merged = [(k, r["price"].tolist()) for k, r in merge_tapes([[a], [b]])]
    assert merged == [(1, [20]), (0, [10, 11]), (1, [21]), (0, [12])]


def test_each_instrument_trades_its_own_tape_in_one_account_hand_computed():
    r = _run({}, es={2: "long"}, nq={1: "long"})
    # ES +8 ticks x $12.50 = $100 - $3.94; NQ -4 ticks x $5 = -$20 - $3.94
    assert _by_root(r) == {"NQ": [-2394], "ES": [9606]}
    assert [t.trip.instrument for t in r.trades] == ["NQ", "ES"]  # exit order: 10:00:02.5, then 10:00:05
    assert r.open_positions == {"ES": 0, "NQ": 0}
    assert [f.events for f in r.files] == [8, 8]


def test_a_daily_loss_breach_on_nq_halts_entries_on_es():
    limit = {"daily_loss_limit_usd": 20}  # NQ's stop loses $23.94 at 10:00:02.5
    late_es = {4: "long"}  # 10:00:03: after the breach
    halted = _run(limit, es=late_es, nq={1: "long"})
    assert _by_root(halted) == {"NQ": [-2394]}
    es_signal = next(rec for rec in halted.signals if rec.signal.instrument == "ES")
    assert es_signal.decision == "skipped: trading halted (daily_loss)"
    # the same ES entry without the NQ loss is taken (its target is never reached): the breach stopped it
    alone = _run(limit, es=late_es, nq={})
    assert alone.signals[0].decision.startswith("order ") and alone.open_positions == {"ES": 1, "NQ": 0}


def test_an_es_entry_before_the_nq_breach_still_trades():
    r = _run({"daily_loss_limit_usd": 20}, es={2: "long"}, nq={1: "long"})  # ES enters at 10:00:01
    assert _by_root(r) == {"NQ": [-2394], "ES": [9606]}


def test_the_es_equivalent_exposure_limit_binds_across_es_and_nq():
    # NQ long from 10:00:00.5 to 10:00:02.5; an ES entry at 10:00:01 would make 2 ES-equivalents
    one = _run({"max_total_exposure_es": 1}, es={2: "long"}, nq={1: "long"})
    assert _by_root(one) == {"NQ": [-2394]}
    es_signal = next(rec for rec in one.signals if rec.signal.instrument == "ES")
    assert es_signal.decision == ("skipped: account exposure could reach 2 ES-equivalent contracts, above the "
                                  "limit 1 (1 ES = 1 NQ = 10 MES = 10 MNQ)")
    # once the NQ position is closed (10:00:02.5) the same limit lets ES in (10:00:03)
    later = _run({"max_total_exposure_es": 1}, es={4: "long"}, nq={1: "long"})
    assert later.open_positions == {"ES": 1, "NQ": 0}
    two = _run({"max_total_exposure_es": 2}, es={2: "long"}, nq={1: "long"})
    assert _by_root(two) == {"NQ": [-2394], "ES": [9606]}


def test_per_instrument_rows_sum_to_the_account_totals(tmp_path):
    r = _run({}, es={2: "long", 7: "short"}, nq={1: "long", 5: "short"})
    rows = instrument_rows(r)
    assert [x.root for x in rows] == ["ES", "NQ"]
    m = write_report(from_backtest(r), tmp_path)
    per = m["per_instrument"]
    assert sum(v["trades"] for v in per.values()) == m["trades"] == len(r.trades)
    assert sum(v["net_pnl"] for v in per.values()) == m["net_pnl"]
    assert sum(v["commissions"] for v in per.values()) == m["commissions"]
    assert per["NQ"]["net_pnl"] == Decimal("-23.94") and per["NQ"]["win_rate"] == 0
    assert m["instrument"] == "ES+NQ"
    assert "Per instrument (one account)" in (tmp_path / "report.html").read_text()


def test_results_do_not_depend_on_how_the_files_are_batched_and_repeat_byte_for_byte(tmp_path):
    sched = {"es": {2: "long", 7: "short"}, "nq": {1: "long", 5: "short"}}
    for batch, name in ((1, "a"), (3, "b"), (8, "c")):
        write_report(from_backtest(_run({}, sched["es"], sched["nq"], batch=batch)), tmp_path / name)
    for f in ("trades.csv", "signals.csv", "metrics.json"):
        a, b, c = ((tmp_path / run / f).read_bytes() for run in "abc")
        assert a == b == c


def test_files_pair_up_by_instrument_in_date_order_and_a_missing_day_is_named():
    es1, nq1, es2, nq2 = (ArraySource(np.empty(0), name=n, root=n[:2].upper()) for n in ("es1", "nq1", "es2", "nq2"))
    roots, days = group_days([es1, es2, nq1, nq2])
    assert roots == ["ES", "NQ"] and days == [[es1, nq1], [es2, nq2]]
    with pytest.raises(TapeflowError, match="ES: 2, NQ: 1"):
        group_days([es1, nq1, es2])


def test_the_single_instrument_report_has_no_instrument_rows(tmp_path):
    r = run_backtest([ArraySource(_tape(ES_PRICES, T0, 118))], lambda inst: ScheduledEngine(inst, {2: "long"}),
                     settings_from_dict(COSTS, "test"), batch_rows=1)
    m = write_report(from_backtest(r), tmp_path)
    assert "per_instrument" not in json.loads((tmp_path / "metrics.json").read_text())
    assert m["instrument"] == "ES" and r.open_positions == {}
    assert "Per instrument" not in (tmp_path / "report.html").read_text()


def test_backtest_command_on_es_and_nq_writes_identical_reports_run_to_run(tmp_path, capsys):
    rules = tmp_path / "rules.toml"
    rules.write_text(ENTRY_RULES)
    feeds = ["sim://rth?symbol=ES&seed=3&minutes=3", "sim://rth?symbol=NQ&seed=4&minutes=3"]
    for out in ("one", "two"):
        assert main(["backtest", *feeds, "--rules", str(rules), "--settings", str(_settings(tmp_path)),
                     "--out", str(tmp_path / out)]) == 0
    assert "Per instrument, one account" in capsys.readouterr().out
    for f in ("trades.csv", "signals.csv", "metrics.json", "report.html"):
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes()
    m = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert sorted(m["per_instrument"]) == ["ES", "NQ"] and m["trades"] > 0
    assert sum(v["trades"] for v in m["per_instrument"].values()) == m["trades"]


def _settings(tmp_path):
    p = tmp_path / "trading.toml"
    p.write_text("[paper]\ncommission_usd = 0.59\nexchange_fee_usd = 1.38\nlatency_ms = 0\n")
    return p


def test_each_instrument_row_carries_its_own_commission_and_fees_and_the_account_row_sums_them(tmp_path):
    """ES at the [paper] rates ($0.59 commission + $1.38 fees a side), NQ at its own
    ([paper.instruments.NQ]: $0.79 + $1.60). ES long 20000 -> target 20008: +8 ticks = $100 gross,
    costs 2 sides x ($0.59 + $1.38) = $1.18 + $2.76 = $3.94, net $96.06. NQ long 80000 -> stop 79996:
    -4 ticks x $5 = -$20 gross, costs 2 x ($0.79 + $1.60) = $1.58 + $3.20 = $4.78, net -$24.78.
    Account: 4 contract sides, commission $2.76, fees $5.96, costs $8.72, net $71.28."""
    settings = settings_from_dict({"paper": {**COSTS["paper"], "instruments": {
        "NQ": {"commission_usd": 0.79, "exchange_fee_usd": 1.60}}}}, "test")
    schedules = {"ES": {2: "long"}, "NQ": {1: "long"}}
    r = run_backtest(_sources(), lambda inst: ScheduledEngine(inst, schedules[inst.root]), settings, batch_rows=1)
    m = write_report(from_backtest(r), tmp_path)
    es, nq = m["per_instrument"]["ES"], m["per_instrument"]["NQ"]
    assert (es["contracts"], es["broker_commission"], es["exchange_fees"], es["commissions"], es["net_pnl"]) == (
        2, Decimal("1.18"), Decimal("2.76"), Decimal("3.94"), Decimal("96.06"))
    assert (nq["contracts"], nq["broker_commission"], nq["exchange_fees"], nq["commissions"], nq["net_pnl"]) == (
        2, Decimal("1.58"), Decimal("3.20"), Decimal("4.78"), Decimal("-24.78"))
    assert (es["cost_per_side"], nq["cost_per_side"]) == (Decimal("1.97"), Decimal("2.39"))
    assert (m["contracts"], m["broker_commission"], m["exchange_fees"], m["commissions"], m["net_pnl"]) == (
        4, Decimal("2.76"), Decimal("5.96"), Decimal("8.72"), Decimal("71.28"))
    costs = m["settings"]["costs_per_instrument"]
    assert costs["NQ"] == {"commission_per_side_usd": Decimal("0.79"), "exchange_fee_per_side_usd": Decimal("1.60"),
                           "round_turn_cost_usd": Decimal("4.78")}
    assert costs["ES"]["round_turn_cost_usd"] == Decimal("3.94")
    page = (tmp_path / "report.html").read_text()
    assert "exchange fees" in page and "$5.96" in page and "$2.76" in page
