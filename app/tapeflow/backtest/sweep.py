"""Parameter sweep: every combination of ``--sweep name=a,b,c`` backtested in parallel, ranked.

Each combination (and, over a date range, each combination on each trading date) is one task
on an engine of :mod:`tapeflow.history.engine` (this process, local processes or a Dask
cluster): jobs carry file paths and override values, never live objects, so a worker rebuilds
everything from the same files and nothing is shared; results come back in task order.
Ranking is on the in-sample days only; out-of-sample days (``--oos``) are scored separately and
shown next to it, never used to choose.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from tapeflow.backtest.metrics import trade_stats
from tapeflow.backtest.runner import (
    DEFAULT_BATCH_MS,
    DEFAULT_BATCH_ROWS,
    BacktestResult,
    DayMerger,
    open_day_sources,
    open_sources,
    run_backtest,
)
from tapeflow.backtest.setup import (
    apply_rule_overrides,
    build_settings,
    load_rule_list,
    parse_value,
    read_settings_doc,
    rule_engine_factory,
    split_overrides,
)
from tapeflow.backtest.trades import Trade
from tapeflow.core.sessions import trading_date_of
from tapeflow.errors import TapeflowError
from tapeflow.history.catalog import DayFiles
from tapeflow.history.engine import Engine
from tapeflow.trading.settings import TradingSettings

MIN_TRADES = 30
"""Below this many in-sample trades a combination's figures are mostly noise (flagged)."""


@dataclass(frozen=True, slots=True)
class SweepJob:
    """One combination: everything a worker process needs, as plain values."""

    files: tuple[str, ...]
    rules_path: str
    settings_path: str | None
    overrides: tuple[tuple[str, Any], ...]
    symbol: str | None = None
    tz: str | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_ms: int = DEFAULT_BATCH_MS
    one_day: bool = False  # ``files`` are one trading date's (of one or several instruments)


@dataclass
class SweepOutcome:
    """One combination's result, split into in-sample and out-of-sample trades."""

    params: dict[str, Any]
    result: BacktestResult
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any] | None
    rank: int = 0
    flags: list[str] = field(default_factory=list)


def parse_sweep(specs: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["ratio=2.5,3", "stop_ticks=6,8"]`` -> ``[("ratio", [2.5, 3]), ("stop_ticks", [6, 8])]``."""
    axes: list[tuple[str, list[Any]]] = []
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        vals = [parse_value(v) for v in values.split(",") if v.strip()]
        if not sep or not name or not vals:
            raise TapeflowError(f"--sweep {spec!r}: expected NAME=VALUE,VALUE,... (e.g. stop_ticks=6,8,10)")
        if any(n == name for n, _ in axes):
            raise TapeflowError(f"--sweep {name}: given twice")
        axes.append((name, vals))
    return axes


def combinations(axes: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the axes, in a fixed order (the first axis varies slowest)."""
    names = [n for n, _ in axes]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]


def prepare(job: SweepJob) -> tuple[TradingSettings, tuple[Any, ...] | str]:
    """Settings and rules of one combination; raises on a bad name or value (call before forking)."""
    settings_over, rule_over = split_overrides(dict(job.overrides))
    settings = build_settings(read_settings_doc(job.settings_path), settings_over, job.settings_path or "<settings>")
    rules = apply_rule_overrides(load_rule_list(job.rules_path), rule_over) if rule_over else job.rules_path
    return settings, rules


def run_job(job: SweepJob) -> BacktestResult:
    """Run one combination (in a worker process)."""
    settings, rules = prepare(job)
    opener = open_day_sources if job.one_day else open_sources
    sources = opener(job.files, symbol=job.symbol, tz=job.tz)
    result = run_backtest(sources, rule_engine_factory(rules), settings, batch_rows=job.batch_rows,
                          batch_ms=job.batch_ms)
    result.params = dict(job.overrides)
    return result


def oos_dates(results: Sequence[BacktestResult], spec: str | None) -> set[date]:
    """Out-of-sample trading dates: the last N dates of the data (``--oos 2``) or listed ones."""
    if not spec:
        return set()
    spec = spec.strip()
    if spec.isdigit():
        days: set[date] = set()
        for f in results[0].files if results else ():
            if f.first_ts is not None and f.last_ts is not None:
                days |= {trading_date_of(f.first_ts), trading_date_of(f.last_ts)}
        n = int(spec)
        if n >= len(days):
            raise TapeflowError(f"--oos {n}: the data has only {len(days)} trading dates; keep some in sample")
        return set(sorted(days)[-n:]) if n else set()
    try:
        return {date.fromisoformat(s.strip()) for s in spec.split(",") if s.strip()}
    except ValueError:
        raise TapeflowError(f"--oos {spec!r}: expected a number of days or dates like 2024-07-02,2024-07-03") from None


def _split(trades: Sequence[Trade], oos: set[date]) -> tuple[list[Trade], list[Trade]]:
    ins = [t for t in trades if trading_date_of(t.trip.entry_ts) not in oos]
    return ins, [t for t in trades if trading_date_of(t.trip.entry_ts) in oos]


def _key(o: SweepOutcome) -> tuple[Decimal, Decimal, Decimal]:
    s = o.in_sample
    pf = s["profit_factor"] if s["profit_factor"] is not None else Decimal(10**9 if s["trades"] else 0)
    return (-s["net_pnl"], -pf, s["max_drawdown"])


def rank(results: Sequence[BacktestResult], oos_spec: str | None = None) -> list[SweepOutcome]:
    """Score and rank: net P&L in sample, then profit factor, then the smaller drawdown."""
    oos = oos_dates(results, oos_spec)
    outcomes = []
    for r in results:
        ins, outs = _split(r.trades, oos)
        o = SweepOutcome(r.params, r, trade_stats(ins), trade_stats(outs) if oos else None)
        if o.in_sample["trades"] < MIN_TRADES:
            o.flags.append(f"fewer than {MIN_TRADES} trades")
        if o.out_of_sample is not None and o.in_sample["net_pnl"] > 0 >= o.out_of_sample["net_pnl"]:
            o.flags.append("loses out of sample")
        outcomes.append(o)
    outcomes.sort(key=_key)
    for i, o in enumerate(outcomes, 1):
        o.rank = i
    return outcomes


def overfit_warning(outcomes: Sequence[SweepOutcome], has_oos: bool) -> str:
    """The caution printed with every sweep."""
    n = len(outcomes)
    text = (f"Over-fitting warning: {n} combinations were tried on the same data. The best in-sample result "
            "is partly luck (selection bias); expect it to do worse on new days.")
    if has_oos:
        text += " Judge it by the out-of-sample columns, which were not used to rank."
    else:
        text += " Hold days out with --oos N and judge the winner on those."
    if any(o.in_sample["trades"] < MIN_TRADES for o in outcomes):
        text += f" Combinations with fewer than {MIN_TRADES} trades are too small a sample to rank."
    return text


def run_sweep(jobs: Sequence[SweepJob], engine: Engine, days: Sequence[DayFiles] | None = None,
              on_done: Callable[[int, int], None] | None = None) -> Iterator[BacktestResult]:
    """Every job's result, in job order, from tasks run on ``engine``.

    Without ``days`` a task is one job over its files (state carries across them). With ``days``
    a task is one job on one trading date (a fresh pipeline per date) and each job's days are
    merged in date order as they come back, so only the current job's figures are held.
    ``on_done(done, total)`` counts finished tasks.
    """
    if days is None:
        tasks = list(jobs)
        for i, result in enumerate(engine.map(run_job, tasks), 1):
            if on_done:
                on_done(i, len(tasks))
            yield result
        return
    total = len(jobs) * len(days)
    tasks_iter = (replace(job, files=d.files, one_day=True) for job in jobs for d in days)
    results = engine.map(run_job, tasks_iter)
    done = 0
    for job in jobs:
        merger = DayMerger()
        for d in days:
            merger.add(d.day, next(results))
            done += 1
            if on_done:
                on_done(done, total)
        merged = merger.result()
        merged.params = dict(job.overrides)
        yield merged
