"""Report folder: deterministic files, the journal gives the run's report, the CLI on real data."""

from __future__ import annotations

import json
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from backtest_scenario import COSTS, ENTRY_RULES, SCHEDULE, ArraySource, tape, write_csv
from backtest_scenario import SECOND as SECOND_NS

from tapeflow.backtest.journal import from_journal
from tapeflow.backtest.report import from_backtest, write_report
from tapeflow.backtest.report_html import CFTC_4_41
from tapeflow.backtest.runner import run_backtest
from tapeflow.backtest.standin import ScheduledEngine
from tapeflow.cli import main
from tapeflow.store.journal import Journal

SETTINGS = """
[paper]
slippage_ticks = 1
commission_usd = 0.59
exchange_fee_usd = 1.38
latency_ms = 0
"""
RUN_ONLY = ("source", "settings", "time_in_market_pct", "notes")  # what a journal cannot know


def _scenario_report(out: Path, journal: Journal | None = None) -> dict:
    r = run_backtest([ArraySource(tape())], lambda inst: ScheduledEngine(inst, SCHEDULE), COSTS,
                     journal=journal, batch_rows=1)
    return write_report(from_backtest(r), out)


def test_same_inputs_give_byte_identical_trades_and_metrics(tmp_path):
    a, b = _scenario_report(tmp_path / "a"), _scenario_report(tmp_path / "b")
    assert (tmp_path / "a" / "trades.csv").read_bytes() == (tmp_path / "b" / "trades.csv").read_bytes()
    assert (tmp_path / "a" / "signals.csv").read_bytes() == (tmp_path / "b" / "signals.csv").read_bytes()
    assert a == b
    assert "elapsed_s" not in a["source"]  # wall time is printed, not reported
    lines = (tmp_path / "a" / "trades.csv").read_text().splitlines()
    assert lines[0].startswith("trade,rule,instrument,side,qty,entry_time,exit_time")
    assert len(lines) == 4  # one row per round trip
    # the losing short: entry, exit, ticks, gross, commission, net (USD)
    assert lines[2].split(",")[9:15] == ["5002.00", "5003.00", "-4", "-50.00", "3.94", "-53.94"]


def test_the_journal_gives_the_same_report_as_the_run(tmp_path):
    journal = Journal(tmp_path / "paper.db", durable=False)
    run = _scenario_report(tmp_path / "run", journal)
    journal.close()
    fwd = write_report(from_journal(tmp_path / "paper.db"), tmp_path / "fwd")
    assert (tmp_path / "run" / "trades.csv").read_bytes() == (tmp_path / "fwd" / "trades.csv").read_bytes()
    assert {k: v for k, v in run.items() if k not in RUN_ONLY} == {k: v for k, v in fwd.items() if k not in RUN_ONLY}
    run_sig = [ln.rsplit(",", 1)[0] for ln in (tmp_path / "run" / "signals.csv").read_text().splitlines()]
    fwd_sig = [ln.rsplit(",", 1)[0] for ln in (tmp_path / "fwd" / "signals.csv").read_text().splitlines()]
    assert run_sig == fwd_sig  # all but the decision column, which only the run knows
    # the command selects trading dates (of the exit)
    db = str(tmp_path / "paper.db")
    assert main(["report", "--journal", db, "--from", "2024-07-03", "--out", str(tmp_path / "later")]) == 0
    assert json.loads((tmp_path / "later" / "metrics.json").read_text())["trades"] == 0
    assert main(["report", "--journal", db, "--from", "2024-07-02", "--to", "2024-07-02",
                 "--out", str(tmp_path / "day")]) == 0
    assert json.loads((tmp_path / "day" / "metrics.json").read_text())["net_pnl"] == 138.18
    assert main(["report", "--journal", str(tmp_path / "missing.db"), "--out", str(tmp_path / "x")]) == 2


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def _check_report_folder(out: Path) -> dict:
    for name in ("trades.csv", "signals.csv", "metrics.json", "equity.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    png = (out / "equity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1000, 560)
    page = (out / "report.html").read_text()
    assert CFTC_4_41 in page
    parser = _Tags()
    parser.feed(page)
    assert parser.images and parser.images[0].startswith("data:image/png;base64,")
    return json.loads((out / "metrics.json").read_text())


def test_backtest_command_on_a_csv_file_with_the_shipped_example_rules(tmp_path):
    csv = write_csv(tmp_path / "ES_scenario.csv")
    settings = tmp_path / "trading.toml"
    settings.write_text(SETTINGS)
    assert main(["backtest", str(csv), "--settings", str(settings), "--out", str(tmp_path / "rep")]) == 0
    m = _check_report_folder(tmp_path / "rep")
    assert m["settings"]["rules_file"].endswith("example.toml")
    assert m["settings"]["slippage_ticks"] == 1 and m["settings"]["round_turn_cost_usd"] == 3.94
    assert "queue" in m["settings"]["queue_model"]


def test_backtest_on_the_real_mbp1_file_trades_and_reports(tmp_path, mbp1_file):
    rules, settings = tmp_path / "rules.toml", tmp_path / "trading.toml"
    rules.write_text(ENTRY_RULES)
    settings.write_text(SETTINGS)
    out = tmp_path / "real"
    assert main(["backtest", str(mbp1_file), "--rules", str(rules), "--settings", str(settings),
                 "--out", str(out)]) == 0
    m = _check_report_folder(out)
    assert m["trades"] >= 1 and m["trades"] == m["wins"] + m["losses"] + m["breakeven"]
    assert set(m["per_rule"]) <= {"imbalance long", "imbalance short"}
    assert m["by_segment"]["eth"]["trades"] == m["trades"]  # 19:58-20:02 ET is the evening session
    rows = (out / "trades.csv").read_text().splitlines()[1:]
    assert len(rows) == m["trades"]
    cents = sum(round(float(r.split(",")[14]) * 100) for r in rows)
    assert cents == round(m["net_pnl"] * 100)


def test_backtest_on_the_real_file_with_the_example_rules_reports_their_alerts(tmp_path, mbp1_file):
    assert main(["backtest", str(mbp1_file), "--settings", "/dev/null", "--out", str(tmp_path / "ex")]) == 0
    m = _check_report_folder(tmp_path / "ex")
    assert m["signals"] > 0  # the built-in alerts fire; the example's entries are RTH-only
    assert m["trades"] == 0


def test_the_command_modules_load_without_matplotlib_and_agree_on_the_batch_size():
    import subprocess
    import sys

    from tapeflow.backtest import runner
    from tapeflow.commands import backtest

    assert (backtest.DEFAULT_BATCH_ROWS, backtest.DEFAULT_BATCH_MS) == (runner.DEFAULT_BATCH_ROWS,
                                                                        runner.DEFAULT_BATCH_MS)
    code = ("import sys, tapeflow.commands.backtest, tapeflow.commands.report; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # every tapeflow command imports these modules at start-up


def test_report_states_the_fill_model_each_file_ran_with():
    from tapeflow.trading.testing import mbo

    book = mbo(int(tape()["ts_event"][0]) - SECOND_NS, [("A", 1, 1, 19990, 5), ("A", 2, -1, 19991, 5)], 118)
    mbo_day = np.concatenate([book, tape()])
    sources = [ArraySource(mbo_day, name="day1.mbo"), ArraySource(tape(), name="day2.trades")]
    result = run_backtest(sources, lambda inst: ScheduledEngine(inst, SCHEDULE), COSTS)
    assert [f.fill_model for f in result.files] == ["mbo", "trades"]  # day 2 does not inherit day 1's book
    per_file = from_backtest(result).source["fill_model_per_file"]
    assert per_file["day1.mbo"].startswith("mbo: L3 book")
    assert per_file["day2.trades"].startswith("trades: no book")
