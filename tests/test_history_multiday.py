"""Date-range runs: one pipeline per trading date, merged in date order, identical on every engine."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import struct
import time
import tracemalloc
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import zstandard
from backtest_scenario import COSTS, SCHEDULE, ArraySource, tape
from test_backtest_report import ENTRY_RULES, SETTINGS

from tapeflow.backtest.runner import merge_days, run_backtest
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.cli import main
from tapeflow.core.sessions import session_for_date
from tapeflow.history.calendar import trading_date_of
from tapeflow.history.engine import DaskEngine, InlineEngine, ProcessEngine
from tapeflow.history.simdays import write_sim_days

DAY = 86_400 * 1_000_000_000
WEEK = [date(2024, 7, d) for d in (1, 2, 3, 5, 8)]  # Thursday the 4th is Independence Day
REPORT_FILES = ("trades.csv", "signals.csv", "metrics.json", "days.csv", "equity.png", "report.html")


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A seeded simulator week (5 trading dates, 10 minutes from the RTH open each), rules, settings."""
    root = tmp_path_factory.mktemp("week")
    write_sim_days(root / "history", WEEK[0], 5, minutes=10, seed=11)
    (root / "rules.toml").write_text(ENTRY_RULES)
    (root / "trading.toml").write_text(SETTINGS)
    return root / "history", root / "rules.toml", root / "trading.toml"


def _backtest(week, out: Path, *extra: str) -> dict[str, bytes]:
    folder, rules, settings = week
    assert main(["backtest", "--symbol", "ES", "--from", "2024-07-01", "--to", "2024-07-08", "--data-dir",
                 str(folder), "--rules", str(rules), "--settings", str(settings), "--out", str(out), *extra]) == 0
    return {name: (out / name).read_bytes() for name in REPORT_FILES}


def test_reports_of_one_process_n_processes_and_the_local_cluster_are_byte_identical(week, tmp_path):
    one = _backtest(week, tmp_path / "one", "--jobs", "1")
    procs = _backtest(week, tmp_path / "procs", "--jobs", "2")
    cluster = _backtest(week, tmp_path / "cluster", "--cluster", "local", "--jobs", "2")
    for name in REPORT_FILES:
        assert one[name] == procs[name] == cluster[name], name
    days = list(csv.DictReader((tmp_path / "one" / "days.csv").open()))
    assert [d["trading_date"] for d in days] == [d.isoformat() for d in WEEK]
    trades = list(csv.DictReader((tmp_path / "one" / "trades.csv").open()))
    assert sum(int(d["trades"]) for d in days) == len(trades) > 0
    assert "Per trading day" in (tmp_path / "one" / "report.html").read_text()


def test_a_range_is_each_day_run_alone_then_concatenated_in_date_order(week, tmp_path):
    folder, rules, settings = week
    whole = _backtest(week, tmp_path / "range", "--jobs", "1")
    per_day_rows: list[list[str]] = []
    for i, f in enumerate(sorted(folder.glob("*.dbn.zst"))):
        out = tmp_path / f"day{i}"
        assert main(["backtest", str(f), "--rules", str(rules), "--settings", str(settings), "--out", str(out)]) == 0
        per_day_rows += [r[1:] for r in csv.reader((out / "trades.csv").open())][1:]  # without the trade number
    merged = [r[1:] for r in csv.reader(whole["trades.csv"].decode().splitlines())][1:]
    assert merged == per_day_rows
    entries = [r[5] for r in merged]
    assert entries == sorted(entries)  # date order


def test_merging_days_keeps_order_ids_unique_and_decisions_pointing_at_their_orders():
    one_day = tape()
    parts = []
    for k in range(2):
        day = one_day.copy()
        day["ts_event"] += k * DAY
        r = run_backtest([ArraySource(day)], lambda i: ScheduledEngine(i, SCHEDULE), COSTS, batch_rows=1)
        parts.append((date(2024, 7, 2 + k), r))
    first_orders = sorted(parts[0][1].orders)
    merged = merge_days(parts)
    assert len(merged.trades) == 6 and [d.trades for d in merged.days] == [3, 3]
    assert len(merged.orders) == 2 * len(first_orders)  # the second day's ids were shifted, none lost
    assert len({f.id for f in merged.fills}) == len(merged.fills)
    acted = [int(s.decision.split()[1]) for s in merged.signals if s.decision.startswith("order ")]
    assert len(acted) == 6 and len(set(acted)) == 6 and set(acted) <= set(merged.orders)
    # each trade's entry is the first fill of the order its signal placed
    first_fill = {}
    for f in merged.fills:
        first_fill.setdefault(f.order_id, f.ts_ns)
    assert [first_fill[o] for o in acted] == [t.trip.entry_ts for t in merged.trades]
    assert [d.net_cents for d in merged.days] == [13818, 13818]  # +8 -4 +8 ticks less $3.94 a trip, each day


def _slow_square(x: int) -> int:
    time.sleep(0.05 * (4 - x))  # the first tasks finish last
    return x * x


@pytest.mark.parametrize("make", [InlineEngine, lambda: ProcessEngine(2), lambda: DaskEngine(None, 2)],
                         ids=["inline", "processes", "dask"])
def test_every_engine_hands_results_back_in_task_order(make):
    engine = make()
    try:
        assert list(engine.map(_slow_square, range(5))) == [0, 1, 4, 9, 16]
    finally:
        engine.close()



def test_local_cluster_workers_keep_glibc_malloc_defaults_and_run_no_profiler(monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_ made a day's task cost ~1.4x the CPU of this process."""
    import dask

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    engine = DaskEngine(None, 1)
    try:
        assert list(engine.map(os.getenv, ["MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS"])) == [None, "1"]
        assert list(engine.map(dask.config.get, ["distributed.worker.profile.enabled"])) == [False]
    finally:
        engine.close()
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # nor left in this process for later children

def test_a_sweep_over_a_range_scores_out_of_sample_days_apart_and_agrees_across_engines(week, tmp_path):
    folder, rules, settings = week
    outs = []
    for name, extra in (("one", ["--jobs", "1"]), ("dask", ["--cluster", "local", "--jobs", "2"])):
        out = tmp_path / name
        assert main(["backtest", "--symbol", "ES", "--from", "2024-07-01", "--to", "2024-07-08", "--data-dir",
                     str(folder), "--rules", str(rules), "--settings", str(settings), "--out", str(out),
                     "--sweep", "target_ticks=2,4", "--oos", "2", *extra]) == 0
        outs.append(out)
    for f in ("sweep.csv", "sweep.json", "best/trades.csv", "best/days.csv"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    rows = list(csv.DictReader((outs[0] / "sweep.csv").open()))
    best_trades = list(csv.DictReader((outs[0] / "best" / "trades.csv").open()))
    oos = [t for t in best_trades if t["trading_date"] in ("2024-07-05", "2024-07-08")]
    assert int(rows[0]["oos_trades"]) == len(oos)
    assert int(rows[0]["trades"]) == len(best_trades) - len(oos)
    assert np.isclose(float(rows[0]["oos_net_pnl"]), sum(float(t["pnl_usd"]) for t in oos))


def test_a_file_and_a_range_together_or_a_range_without_symbol_are_user_errors(week, capsys):
    folder, _, _ = week
    f = next(folder.glob("*.dbn.zst"))
    assert main(["backtest", str(f), "--symbol", "ES", "--from", "2024-07-01", "--data-dir", str(folder)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["backtest", "--from", "2024-07-01", "--data-dir", str(folder)]) == 2
    assert "--symbol" in capsys.readouterr().err
    assert main(["backtest", "--symbol", "ES", "--from", "2024-07-09", "--data-dir", str(folder)]) == 2
    assert "2024-07-09" in capsys.readouterr().err


def _json_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _range(command: str, folder: Path, first: str, last: str, *extra: str) -> list[str]:
    return [command, "--symbol", "ES", "--from", first, "--to", last, "--data-dir", str(folder), *extra]


def _range_and_days_alone(command: str, folder: Path, capsys) -> tuple[list[dict], list[dict]]:
    """JSON lines of ``command`` over July 2nd-3rd as a range, and of those two days' files run alone, joined."""
    assert main(_range(command, folder, "2024-07-02", "2024-07-03", "--format", "json")) == 0
    ranged = _json_lines(capsys)
    singles = []
    for f in sorted(folder.glob("*.dbn.zst"))[1:3]:
        assert main([command, str(f), "--format", "json"]) == 0
        singles += _json_lines(capsys)
    return ranged, singles


def test_footprint_over_a_range_is_each_day_alone_joined_and_a_days_last_bar_ends_in_its_day(week, capsys):
    ranged, singles = _range_and_days_alone("footprint", week[0], capsys)
    assert ranged == singles and len(ranged) == 20  # 10 one-minute bars a day
    # the day edge by hand: July 2nd's last bar is its 09:39 ET minute and ends in that minute (not at
    # July 3rd's first print); July 3rd's first bar starts a fresh session at 09:30 ET
    open2, open3 = session_for_date(WEEK[1]).rth_open_ns, session_for_date(WEEK[2]).rth_open_ns
    last2, first3 = ranged[9], ranged[10]
    assert last2["start_ns"] == open2 + 9 * 60 * 10**9
    assert open2 + 9 * 60 * 10**9 <= last2["end_ns"] < open2 + 10 * 60 * 10**9
    assert first3["start_ns"] == open3
    assert first3["cum_delta"] == first3["delta"]  # session cumulative delta starts again


def test_signals_over_a_range_are_each_day_alone_joined_and_carry_their_trading_date(week, capsys):
    ranged, singles = _range_and_days_alone("signals", week[0], capsys)
    assert [{k: v for k, v in s.items() if k != "trading_date"} for s in ranged] == singles and singles
    assert [s["trading_date"] for s in ranged] == [trading_date_of(s["ts_ns"]).isoformat() for s in ranged]
    assert {s["trading_date"] for s in ranged} == {"2024-07-02", "2024-07-03"}
    # no bar of July 2nd closes at July 3rd's open any more
    assert all(trading_date_of(s["bar_start_ns"]) == trading_date_of(s["ts_ns"]) for s in ranged)


def test_range_text_output_gives_each_date_in_order_then_the_combined_tables(week, capsys):
    folder, _, _ = week
    assert main(_range("signals", folder, "2024-07-01", "2024-07-03", "--format", "json")) == 0
    per_day = Counter(s["trading_date"] for s in _json_lines(capsys))
    assert main(_range("signals", folder, "2024-07-01", "2024-07-03")) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line[:4] == "2024"]
    assert lines[:3] == [f"{d}: {per_day[d]:,} signals" for d in ("2024-07-01", "2024-07-02", "2024-07-03")]
    total = sum(per_day.values())
    flat = " ".join(out.split())  # rich wraps at the console's width
    assert f"{total:,} signals from" in flat and "over 2024-07-01 .. 2024-07-03 (3 trading dates)" in flat
    assert out.index("2024-07-03:") < out.index(f"{total:,} signals from")
    assert main(_range("footprint", folder, "2024-07-01", "2024-07-03", "--last", "1")) == 0
    out = capsys.readouterr().out
    sections = [out.index(f"{d}  ") for d in ("2024-07-01", "2024-07-02", "2024-07-03")]
    assert sections == sorted(sections) and out.count("Session summary") == 3


def _zero_trade_prices(path: Path, count: int | None = 1) -> None:
    """Rewrite a day file with its first ``count`` trades' prices (all: ``None``) set to 0, one
    malformed record each."""
    raw = zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read()
    (length,) = struct.unpack_from("<I", raw, 4)
    body = bytearray(raw[8 + length :])
    trades = [i for i in range(0, len(body), 80) if body[i + 28] == ord("T")]
    for at in trades[:count]:
        struct.pack_into("<q", body, at + 16, 0)
    path.write_bytes(zstandard.ZstdCompressor().compress(raw[: 8 + length] + bytes(body)))


def test_malformed_records_are_reported_for_the_day_that_had_them(week, tmp_path, capsys):
    folder, _, _ = week
    files = sorted(folder.glob("*.dbn.zst"))
    for f in files[:3]:
        shutil.copy(f, tmp_path / f.name)
    bad = tmp_path / files[1].name
    _zero_trade_prices(bad)
    assert main(_range("footprint", tmp_path, "2024-07-01", "2024-07-03", "--format", "json")) == 0
    out, err = capsys.readouterr()
    assert json.loads(err) == {"source": str(bad), "records": json.loads(err)["records"], "malformed": 1,
                               "malformed_reasons": {"non-positive price": 1}}
    assert len(out.splitlines()) == 30
    assert main(_range("signals", tmp_path, "2024-07-01", "2024-07-03")) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if "malformed records skipped" in line)
    assert lines[at - 1].startswith("2024-07-02: ") and lines[at].startswith("1 malformed records skipped")
    assert sum("malformed" in line for line in lines) == 1


def _footprint_peak(folder: Path, first: str, last: str) -> int:
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(_range("footprint", folder, first, last, "--format", "json")) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_footprint_over_five_days_peaks_near_one_days_memory(week):
    folder, _, _ = week
    _footprint_peak(folder, "2024-07-01", "2024-07-01")  # imports and caches outside the measure
    one = _footprint_peak(folder, "2024-07-01", "2024-07-01")
    five = _footprint_peak(folder, "2024-07-01", "2024-07-08")
    print(f"footprint peak traced memory: 1 day {one:,} B, 5 days {five:,} B")
    assert five < 1.5 * one, (one, five)  # holding the range's events would be ~5x


def test_engines_pull_only_a_window_of_tasks_ahead_so_a_month_never_sits_in_memory():
    pulled: list[int] = []

    def tasks():
        for i in range(30):
            pulled.append(i)
            yield i

    engine = ProcessEngine(2)  # window: 2 tasks a worker
    try:
        results = engine.map(abs, tasks())
        assert next(results) == 0
        assert len(pulled) == 4  # not 30: the rest is pulled as results are taken
        assert list(results) == list(range(1, 30))
    finally:
        engine.close()


def test_the_options_choose_the_engine_and_bad_ones_are_user_errors(week, capsys):
    from tapeflow.history.engine import make_engine

    assert isinstance(make_engine(jobs=1, tasks=5), InlineEngine)
    assert isinstance(make_engine(tasks=1), InlineEngine)  # one task: no cluster to start
    procs = make_engine(jobs=3, tasks=2)
    assert isinstance(procs, ProcessEngine) and procs.workers == 2  # never more workers than tasks
    procs.close()
    folder, _, _ = week
    args = ["backtest", "--symbol", "ES", "--from", "2024-07-01", "--to", "2024-07-02", "--data-dir", str(folder)]
    assert main([*args, "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_a_day_whose_trades_were_all_lost_stops_the_range_naming_its_file_after_the_days_before(
        week, tmp_path, capsys):
    folder, _, _ = week
    files = sorted(folder.glob("*.dbn.zst"))
    for f in files[:2]:
        shutil.copy(f, tmp_path / f.name)
    lost = tmp_path / files[2].name
    shutil.copy(files[2], lost)
    _zero_trade_prices(lost, None)
    assert main(_range("footprint", tmp_path, "2024-07-01", "2024-07-03", "--format", "json")) == 2
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 20  # the two whole days, printed as they finished
    assert str(lost) in err and "no usable trades" in err and "non-positive price" in err
