"""Parameter sweep: parsing, overrides, parallel runs, ranking, out-of-sample days."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from backtest_scenario import COSTS, SCHEDULE, ArraySource, tape
from test_backtest_report import ENTRY_RULES, SETTINGS

from tapeflow.backtest.runner import run_backtest
from tapeflow.backtest.setup import apply_rule_overrides, build_settings, load_rule_list, split_overrides
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.backtest.sweep import combinations, overfit_warning, parse_sweep, rank
from tapeflow.cli import main
from tapeflow.errors import TapeflowError

DAY = 86_400 * 1_000_000_000


def test_sweep_specs_parse_to_typed_values_and_a_full_grid():
    axes = parse_sweep(["stop_ticks=4,6", "ratio=2.5,3", "paper.slippage_ticks=1"])
    assert axes == [("stop_ticks", [4, 6]), ("ratio", [2.5, 3]), ("paper.slippage_ticks", [1])]
    assert combinations(axes)[:2] == [
        {"stop_ticks": 4, "ratio": 2.5, "paper.slippage_ticks": 1},
        {"stop_ticks": 4, "ratio": 3, "paper.slippage_ticks": 1},
    ]
    assert len(combinations(axes)) == 4
    for bad in (["stop_ticks"], ["=1,2"], ["a=1", "a=2"]):
        with pytest.raises(TapeflowError):
            parse_sweep(bad)


def test_overrides_reach_rule_fields_detector_parameters_and_settings(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(ENTRY_RULES)
    rules = load_rule_list(path)
    s_over, r_over = split_overrides({"stop_ticks": 5, "imbalance short.ratio": 4, "paper.slippage_ticks": 2})
    out = apply_rule_overrides(rules, r_over)
    assert [r.stop_ticks for r in out] == [5, 5]
    assert [r.params.ratio for r in out] == [rules[0].params.ratio, 4.0]
    assert build_settings({}, s_over).paper.slippage_ticks == 2
    with pytest.raises(TapeflowError, match="not a field or parameter"):
        apply_rule_overrides(rules, {"no_such_knob": 1})
    with pytest.raises(TapeflowError, match="slippage_ticks"):
        build_settings({}, {"paper.slippage_ticks": "two"})


def test_ranking_uses_in_sample_days_and_scores_out_of_sample_apart():
    one_day = tape()
    two_days = np.concatenate([one_day, one_day.copy()])
    two_days["ts_event"][len(one_day):] += DAY  # the same three trades on the next trading date
    results = []
    for stop in (4, 2):
        r = run_backtest([ArraySource(two_days)], lambda i, s=stop: ScheduledEngine(i, {**SCHEDULE, 11: "long",
                         14: "short", 17: "long"}, stop_ticks=s), COSTS, batch_rows=1)
        r.params = {"stop_ticks": stop}
        results.append(r)
    ranked = rank(results, "1")
    assert [o.in_sample["trades"] for o in ranked] == [3, 3]
    assert [o.out_of_sample["trades"] for o in ranked] == [3, 3]
    # stop 4 ticks: +8 -4 +8 -> $138.18 a day; stop 2: the short is stopped at -2 -> $163.18
    assert [o.params["stop_ticks"] for o in ranked] == [2, 4]
    assert [str(o.in_sample["net_pnl"]) for o in ranked] == ["163.18", "138.18"]
    assert "fewer than 30 trades" in ranked[0].flags
    assert "out-of-sample" in overfit_warning(ranked, has_oos=True)
    with pytest.raises(TapeflowError, match="keep some in sample"):
        rank(results, "2")


def test_sweep_command_runs_combinations_in_parallel_and_ranks_them(tmp_path, mbp1_file):
    rules, settings = tmp_path / "rules.toml", tmp_path / "trading.toml"
    rules.write_text(ENTRY_RULES)
    settings.write_text(SETTINGS)
    out = tmp_path / "sweep"
    assert main(["backtest", str(mbp1_file), "--rules", str(rules), "--settings", str(settings), "--out", str(out),
                 "--sweep", "paper.slippage_ticks=0,1", "--sweep", "target_ticks=2,3", "--jobs", "2"]) == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == 4 and [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    nets = [float(r["net_pnl"]) for r in rows]
    assert nets == sorted(nets, reverse=True)
    by = {(r["paper.slippage_ticks"], r["target_ticks"]): float(r["net_pnl"]) for r in rows}
    assert by[("0", "2")] >= by[("1", "2")]  # slippage never helps
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["warning"].startswith("Over-fitting warning: 4 combinations")
    assert (out / "best" / "report.html").is_file()
    assert json.loads((out / "best" / "metrics.json").read_text())["net_pnl"] == nets[0]
