"""Multi-day backtests: wall time and peak memory for 1, 5 and 20 simulated RTH days.

Each trading date is a full simulated RTH session (09:30-16:00 ET, ~270k prints, one
``.dbn.zst`` recorded per day) run by ``tapeflow backtest --symbol ES --from D --to D`` with the
shipped example rules, in two ways:

- ``1 process`` (``--jobs 1``): the baseline, one pipeline per day one after the other;
- ``Dask, 2 workers`` (``--cluster local --jobs 2``): the same per-day tasks on a local cluster
  (its start-up included in the wall time);
- ``2 processes`` (``--jobs 2``): the standard library's process pool, for comparison.

Every run is a fresh interpreter so peak memory is its own: ``peak MB`` is the largest resident
set of the run's processes (the main one, or the biggest worker); ``cores used`` is CPU time over
wall time (on a machine shared with other work, the cluster cannot get its 2 cores and the
speed-up shows it). Printed per row: seconds per
day and its ratio to the 1-day figure of the same mode (below 1 while the fixed start-up, imports
and report writing are spread over more days), the speed-up of the cluster over one process for
the same days, and peak MB (flat: results are streamed per day, never the events). Then the cost
of one more day in each mode (the slope from the fewest to the most days: linear growth) and the
cluster's speed-up on it, which is what more days converge to.

    .venv/bin/python benchmarks/bench_multiday.py [--days 1,5,20] [--minutes 390] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

FIRST = date(2024, 7, 1)
MODES = {"1 process": ["--jobs", "1"], "Dask, 2 workers": ["--cluster", "local", "--jobs", "2"],
         "2 processes": ["--jobs", "2"]}


def _write_day(args: tuple[str, date, float]) -> None:
    from tapeflow.history.simdays import write_sim_days

    folder, day, minutes = args
    write_sim_days(folder, day, 1, minutes=minutes, seed=42)


def make_days(folder: Path, n: int, minutes: float) -> list[date]:
    from tapeflow.history.catalog import scan
    from tapeflow.history.simdays import next_trading_dates

    days = list(next_trading_dates(FIRST, n))
    have = {e.trading_date for e in scan(folder)}
    todo = [(str(folder), d, minutes) for d in days if d not in have]
    if todo:
        print(f"simulating {len(todo)} RTH day(s) into {folder} ...", file=sys.stderr)
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_write_day, todo))
    return days


def child(argv: list[str]) -> None:
    """One run in this fresh interpreter; prints wall time and peak RSS as JSON."""
    from tapeflow.cli import main

    started = time.perf_counter()
    code = main(argv)
    wall = time.perf_counter() - started
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"code": code, "wall": wall, "cpu": cpu, "peak_kb": max(me.ru_maxrss, kids.ru_maxrss)}))


def run(folder: Path, days: list[date], mode: list[str], out: Path) -> dict:
    argv = ["backtest", "--symbol", "ES", "--from", days[0].isoformat(), "--to", days[-1].isoformat(),
            "--data-dir", str(folder), "--out", str(out), *mode]
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(argv)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"backtest failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", default="1,5,20")
    ap.add_argument("--minutes", type=float, default=390.0, help="market minutes per day (390 = RTH)")
    ap.add_argument("--keep", help="folder for the simulated days (reused across runs)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    counts = [int(x) for x in args.days.split(",")]
    home = tempfile.mkdtemp(prefix="tapeflow-bench-home-")
    os.environ["TAPEFLOW_HOME"] = home  # shipped default settings, not the user's
    folder = Path(args.keep or tempfile.mkdtemp(prefix="tapeflow-bench-days-"))
    all_days = make_days(folder, max(counts), args.minutes)
    rows = []
    walls: dict[str, dict[int, float]] = {name: {} for name in MODES}
    base: dict[str, float] = {}
    for n in counts:
        single = None
        for name, mode in MODES.items():
            r = run(folder, all_days[:n], mode, Path(home) / f"out-{n}-{len(mode)}-{mode[-1]}")
            per_day = r["wall"] / n
            walls[name][n] = r["wall"]
            base.setdefault(name, per_day)
            speedup = "" if single is None else f"{single / r['wall']:.2f}x"
            single = r["wall"] if single is None else single
            rows.append((str(n), name, f"{r['wall']:.2f}", f"{r['cpu'] / r['wall']:.2f}", f"{per_day:.2f}",
                         f"{per_day / base[name]:.2f}",
                         speedup or "(baseline)", f"{r['peak_kb'] / 1024:.0f}", f"{r['peak_kb'] / 1024 / n:.1f}"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    t = Table(title=f"Multi-day backtest, {args.minutes:g} simulated minutes a day, example rules "
                    f"({os.cpu_count()} cores, load average {load} at the end)")
    for c in ("days", "engine", "wall s", "cores used", "s/day", "s/day vs 1 day", "speed-up vs 1 process", "peak MB",
              "peak MB/day"):
        t.add_column(c, justify="right")
    for row in rows:
        t.add_row(*row)
    console = Console(width=150)
    console.print(t)
    lo, hi = min(counts), max(counts)
    if hi > lo:
        slope = {name: (w[hi] - w[lo]) / (hi - lo) for name, w in walls.items()}
        single = slope["1 process"]
        console.print(f"cost of one more day ({lo} -> {hi} days): " +
                      ", ".join(f"{name} {v:.2f} s ({single / v:.2f}x)" for name, v in slope.items()) +
                      f"; overall at {hi} days, start-up included: " +
                      ", ".join(f"{name} {walls['1 process'][hi] / w[hi]:.2f}x" for name, w in walls.items()))


if __name__ == "__main__":
    main()
