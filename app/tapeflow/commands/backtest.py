"""``tapeflow backtest --rules RULES.toml FILE [FILE...]``: the terminal's pipeline over files, a report.

Writes trades.csv, signals.csv, metrics.json, equity.png and report.html to ``--out``. With
``--sweep NAME=a,b,c`` (repeatable) every combination runs in its own process and the ranking goes
to sweep.csv / sweep.json, with the best combination's full report in ``--out/best``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from tapeflow.errors import TapeflowError
from tapeflow.history.dates import add_range_args, day_files_from_args, wants_range

if TYPE_CHECKING:
    from tapeflow.backtest.sweep import SweepOutcome

DEFAULT_BATCH_ROWS = 65_536  # keep equal to tapeflow.backtest.runner's defaults (checked by a test)
DEFAULT_BATCH_MS = 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="run rules over recorded files through the live pipeline; write a report")
    p.add_argument("files", nargs="+", metavar="FILE", help="DBN (.dbn, .dbn.zst) or CSV files, one per day, in order")
    p.add_argument("--rules", help="rules TOML (default: resources/rules/example.toml)")
    p.add_argument("--settings", help="trading settings TOML: risk, [paper] costs and latency, auto-trader "
                                      "(default: your trading.toml, else the shipped defaults)")
    p.add_argument("--out", default="backtest_report", help="report folder (default ./backtest_report)")
    p.add_argument("--symbol", action="append", help="instrument when the file does not say (ES, MES, NQ, MNQ or "
                                                     "e.g. ESZ6); with --from/--to the instrument to run, repeat "
                                                     "for several in one account (--symbol ES --symbol NQ)")
    p.add_argument("--tz", help="time zone of naive CSV timestamps (default UTC)")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=A,B,C",
                   help="sweep a rule field/parameter (stop_ticks, ratio, 'RULE NAME.ratio') or a setting "
                        "(paper.slippage_ticks); repeat for a grid")
    p.add_argument("--oos", metavar="N|DATES", help="out-of-sample days for a sweep: the last N trading dates, "
                                                    "or dates 2024-07-02,2024-07-03; scored apart, never ranked on")
    p.add_argument("--jobs", type=int, help="1: run in this process; N: N local worker processes (default: a local "
                                            "Dask cluster with a worker per core when there are several tasks)")
    p.add_argument("--cluster", metavar="ADDRESS", help="run the per-day / per-combination tasks on Dask: 'local' "
                                                        "for a local cluster (--jobs workers) or a scheduler address "
                                                        "like tcp://10.0.0.5:8786 (workers need the same files)")
    p.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS,
                   help=f"most rows per pipeline step (default {DEFAULT_BATCH_ROWS}; results do not depend on it)")
    p.add_argument("--batch-ms", type=int, default=DEFAULT_BATCH_MS,
                   help=f"most market time per pipeline step, ms (default {DEFAULT_BATCH_MS}; 0 = no time cut)")
    add_range_args(p, positional="files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: matplotlib and the pipeline cost a second that other commands should not pay
    from tapeflow.backtest.report import from_backtest, write_report
    from tapeflow.backtest.runner import open_sources, run_backtest
    from tapeflow.backtest.setup import (
        build_settings,
        default_rules_path,
        default_settings_path,
        read_settings_doc,
        rule_engine_factory,
    )

    console = Console(stderr=True)
    rules = Path(args.rules) if args.rules else default_rules_path()
    settings_path = Path(args.settings) if args.settings else default_settings_path()
    out = Path(args.out)
    days = day_files_from_args(args, args.files)
    file_symbol = _file_symbol(args, days)
    if days is None and not args.files:
        raise TapeflowError("backtest: give FILE... or --symbol ES --from YYYY-MM-DD --to YYYY-MM-DD")
    if args.sweep:
        return _sweep(args, rules, settings_path, out, console, days)
    settings = build_settings(read_settings_doc(settings_path), {}, str(settings_path or "<defaults>"))
    if days is not None:
        result = _run_days(args, rules, settings_path, days, console)
    else:
        sources = open_sources(args.files, symbol=file_symbol, tz=args.tz)
        with _progress(console) as on_progress:
            result = run_backtest(sources, rule_engine_factory(rules), settings, progress=on_progress,
                                  batch_rows=args.batch_rows, batch_ms=args.batch_ms)
    data = from_backtest(result, title=f"Backtest {_roots(result)}: {rules.name}")
    data.settings["rules_file"] = str(rules)
    data.settings["settings_file"] = str(settings_path) if settings_path else "built-in defaults"
    metrics = write_report(data, out)
    Console().print(_summary(metrics))
    if "per_instrument" in metrics:
        Console().print(_instruments_table(metrics))
    if result.days:
        Console().print(_days_table(result))
    console.print(f"{result.events:,} events, {result.prints:,} prints in {result.elapsed_s:.2f} s; "
                  f"report: {out / 'report.html'}")
    return 0


def _file_symbol(args: argparse.Namespace, days: list[Any] | None) -> str | None:
    """The ``--symbol`` files are opened with: the one given, none for several (a range of several
    instruments reads each from its files; with FILE a second --symbol is an error)."""
    symbols = args.symbol or []
    if days is None and len(symbols) > 1:
        raise TapeflowError("--symbol names the instrument of files that do not say: give it once with FILE "
                            "(several --symbol go with --from/--to)")
    return symbols[0] if len(symbols) == 1 else None


def _roots(result: Any) -> str:
    """``ES`` for one instrument, ``ES+NQ`` for several in one account."""
    return "+".join(result.open_positions) or result.instrument.root


def _jobs(args: argparse.Namespace, rules: Path, settings_path: Path | None,
          combos: list[dict[str, Any]]) -> list[Any]:
    from tapeflow.backtest.sweep import SweepJob

    return [SweepJob(tuple(args.files or ()), str(rules), str(settings_path) if settings_path else None,
                     tuple(c.items()), _file_symbol(args, [] if wants_range(args) else None), args.tz,
                     args.batch_rows, args.batch_ms) for c in combos]


@contextmanager
def _engine(args: argparse.Namespace, tasks: int, console: Console) -> Iterator[Any]:
    from tapeflow.history.engine import make_engine

    engine = make_engine(jobs=args.jobs, cluster=args.cluster, tasks=tasks)
    console.print(f"{tasks} task(s) on {engine.name}")
    try:
        yield engine
    finally:
        engine.close()


@contextmanager
def _task_bar(console: Console, label: str, total: int) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, _total: bar.update(task, completed=done)


def _run_days(args: argparse.Namespace, rules: Path, settings_path: Path | None, days: list[Any],
              console: Console) -> Any:
    """One pipeline per trading date on the engine, merged in date order."""
    from tapeflow.backtest.sweep import prepare, run_sweep

    (job,) = _jobs(args, rules, settings_path, [{}])
    prepare(job)  # a bad rules or settings file fails here, before any worker starts
    with _engine(args, len(days), console) as engine, _task_bar(console, "backtest days", len(days)) as on_done:
        (result,) = run_sweep([job], engine, days, on_done)
    return result


def _days_table(result: Any) -> Table:
    from tapeflow.backtest.metrics import usd

    t = Table(title="Per trading day (hypothetical results)")
    for c in ("date", "events", "prints", "signals", "trades", "net $", "commissions $", "open at end"):
        t.add_column(c, justify="right")
    for d in result.days:
        t.add_row(d.day.isoformat(), f"{d.events:,}", f"{d.prints:,}", f"{d.signals:,}", str(d.trades),
                  str(usd(d.net_cents)), str(usd(d.commission_cents)), f"{d.open_position:+d}")
    return t


def _instruments_table(m: dict[str, Any]) -> Table:
    """Each instrument's rows of a multi-instrument run, then the account's totals."""
    t = Table(title="Per instrument, one account (hypothetical results)")
    t.add_column("", justify="right", min_width=7)
    for c in ("trades", "win rate", "net $", "sides", "comm. $", "fees $", "costs $", "open"):
        t.add_column(c, justify="right")
    rows = [*m["per_instrument"].items(), ("account", {**m, "open_position": None})]
    for name, r in rows:
        rate = "-" if r["win_rate"] is None else f"{r['win_rate'] * 100:.1f}%"
        held = "" if r["open_position"] is None else f"{r['open_position']:+d}"
        t.add_row(name, str(r["trades"]), rate, str(r["net_pnl"]), f"{r['contracts']:,}", str(r["broker_commission"]),
                  str(r["exchange_fees"]), str(r["commissions"]), held)
    return t


@contextmanager
def _progress(console: Console) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tapeflow.backtest.runner import Progress as RunProgress

    bar = Progress(TextColumn("backtest {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[events]:,} events"), TimeElapsedColumn(), console=console,
                   transient=True)
    task = None

    def update(p: RunProgress) -> None:
        nonlocal task
        if task is None:
            task = bar.add_task(Path(p.source).name, total=p.files, events=0)
        bar.update(task, completed=p.file_index, description=Path(p.source).name, events=p.events)

    with bar:
        yield update


def _summary(m: dict[str, Any]) -> Table:
    t = Table(title="Backtest (hypothetical results)", show_header=False)
    for key in ("trades", "wins", "losses", "win_rate", "avg_winner", "avg_loser", "profit_factor", "expectancy",
                "net_pnl", "commissions", "max_drawdown", "max_consecutive_losses", "largest_loss"):
        v = m.get(key)
        t.add_row(key, "-" if v is None else str(v))
    return t


def _sweep(args: argparse.Namespace, rules: Path, settings_path: Path | None, out: Path, console: Console,
           days: list[Any] | None) -> int:
    from tapeflow.backtest.report import from_backtest, write_report
    from tapeflow.backtest.runner import open_day_sources, open_sources
    from tapeflow.backtest.sweep import (
        combinations,
        overfit_warning,
        parse_sweep,
        prepare,
        rank,
        run_sweep,
    )

    axes = parse_sweep(args.sweep)
    combos = combinations(axes)
    jobs = _jobs(args, rules, settings_path, combos)
    # fail fast on a bad file, name or value before starting processes
    symbol = _file_symbol(args, days)
    if days is None:
        open_sources(args.files, symbol=symbol, tz=args.tz)
    else:
        for d in days:
            open_day_sources(d.files, symbol=symbol, tz=args.tz)
    for job in jobs:
        prepare(job)
    tasks = len(jobs) * (len(days) if days is not None else 1)
    with _engine(args, tasks, console) as engine, _task_bar(console, "sweep", tasks) as on_done:
        results = list(run_sweep(jobs, engine, days, on_done))
    outcomes = rank(results, args.oos)
    has_oos = bool(outcomes and outcomes[0].out_of_sample is not None)
    warning = overfit_warning(outcomes, has_oos)
    out.mkdir(parents=True, exist_ok=True)
    _write_sweep(outcomes, [n for n, _ in axes], out, warning)
    best = outcomes[0]
    title = f"Backtest {_roots(best.result)}: {rules.name}, best of {len(outcomes)}"
    data = from_backtest(best.result, title=title)
    data.notes.append(warning)
    write_report(data, out / "best")
    Console().print(_sweep_table(outcomes, [n for n, _ in axes], has_oos))
    console.print(f"[yellow]{warning}[/]")
    console.print(f"ranking: {out / 'sweep.csv'}; best combination's report: {out / 'best' / 'report.html'}")
    return 0


_COLS = ("trades", "win_rate", "net_pnl", "profit_factor", "max_drawdown", "expectancy")


def _row(o: SweepOutcome, names: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"rank": o.rank, **{n: o.params.get(n) for n in names}}
    row.update({k: o.in_sample[k] for k in _COLS})
    if o.out_of_sample is not None:
        row.update({f"oos_{k}": o.out_of_sample[k] for k in _COLS})
    row["flags"] = "; ".join(o.flags)
    return row


def _write_sweep(outcomes: list[SweepOutcome], names: list[str], out: Path, warning: str) -> None:
    from tapeflow.backtest.report import json_default

    rows = [_row(o, names) for o in outcomes]
    with (out / "sweep.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    doc = {"hypothetical": True, "warning": warning, "ranked_by": "in-sample net_pnl, profit_factor, max_drawdown",
           "combinations": rows}
    (out / "sweep.json").write_text(json.dumps(doc, indent=2, default=json_default) + "\n", encoding="utf-8")


def _sweep_table(outcomes: list[SweepOutcome], names: list[str], has_oos: bool) -> Table:
    t = Table(title=f"Sweep: {len(outcomes)} combinations, ranked in sample (hypothetical results)")
    for c in ("#", *names, "trades", "win %", "net $", "PF", "max DD $"):
        t.add_column(c, justify="right")
    if has_oos:
        for c in ("OOS trades", "OOS net $", "OOS PF"):
            t.add_column(c, justify="right")
    t.add_column("flags")
    for o in outcomes:
        s = o.in_sample
        cells = [str(o.rank), *[str(o.params.get(n)) for n in names], str(s["trades"]),
                 "-" if s["win_rate"] is None else f"{s['win_rate'] * 100:.1f}", str(s["net_pnl"]),
                 str(s["profit_factor"] or "-"), str(s["max_drawdown"])]
        if has_oos and o.out_of_sample is not None:
            q = o.out_of_sample
            cells += [str(q["trades"]), str(q["net_pnl"]), str(q["profit_factor"] or "-")]
        t.add_row(*cells, ", ".join(o.flags))
    return t
