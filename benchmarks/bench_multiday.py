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
cluster's speed-up on it, which is what more days converge to; and what two independent
processes get here before and after the runs (the ceiling for any 2-worker speed-up, since other
work on the machine takes its share of the 2 cores).

Then the cost of the same one-day task measured inside the task (``time.thread_time`` and the
thread's rusage, so other load on the shared machine does not count): in this process, in a
worker of Tapeflow's local cluster (one alone, then two at once), and in a worker of a local
cluster with Dask's default settings, whose ``MALLOC_TRIM_THRESHOLD_=65536`` made each task cost
~1.4x the CPU in page faults (see ``tapeflow.history.engine.LOCAL_CLUSTER_CONFIG``).

    .venv/bin/python benchmarks/bench_multiday.py [--days 1,5,20] [--minutes 390] [--keep DIR] [--probe-runs 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
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
    print(json.dumps({"code": code, "wall": wall, "cpu": cpu, "main_cpu": me.ru_utime + me.ru_stime,
                      "peak_kb": max(me.ru_maxrss, kids.ru_maxrss)}))


def task_cost(job: object) -> dict:
    """Run one per-day task and measure it from inside: this thread's CPU, system time, page faults."""
    from tapeflow.backtest.sweep import run_job

    before, cpu0, proc0 = resource.getrusage(resource.RUSAGE_THREAD), time.thread_time(), time.process_time()
    run_job(job)  # type: ignore[arg-type]
    after = resource.getrusage(resource.RUSAGE_THREAD)
    cpu, proc = time.thread_time() - cpu0, time.process_time() - proc0
    return {"cpu": cpu, "sys": after.ru_stime - before.ru_stime, "minflt": after.ru_minflt - before.ru_minflt,
            "others": proc - cpu, "pid": os.getpid(), "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


def probe(folder: str, day: str, runs: int) -> None:
    """The same day's task ``runs`` times per place (a fresh interpreter); prints the costs as JSON."""
    from distributed import Client, LocalCluster

    from tapeflow.backtest.setup import default_rules_path, default_settings_path
    from tapeflow.backtest.sweep import SweepJob
    from tapeflow.history.catalog import scan
    from tapeflow.history.engine import DaskEngine

    (path,) = [e.path for e in scan(folder) if e.trading_date.isoformat() == day]
    settings = default_settings_path()
    job = SweepJob((path,), str(default_rules_path()), str(settings) if settings else None, (), "ES")
    out: dict[str, list[dict]] = {"this process": [task_cost(job) for _ in range(runs)]}
    for workers, name in ((1, "Dask worker, Tapeflow's cluster"), (2, "2 Dask workers at once, Tapeflow's cluster")):
        engine = DaskEngine(None, workers)
        try:
            out[name] = list(engine.map(task_cost, [job] * runs * workers))
        finally:
            engine.close()
    # last: this cluster's nanny also exports MALLOC_TRIM_THRESHOLD_ into this process's environment
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        out["Dask worker, Dask's defaults"] = [client.submit(task_cost, job, pure=False).result() for _ in range(runs)]
    print(json.dumps(out))


def probe_table(folder: Path, day: date, runs: int) -> Table:
    proc = subprocess.run([sys.executable, __file__, "--probe", json.dumps([str(folder), day.isoformat(), runs])],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"probe failed: {proc.stderr[-2000:]}")
    costs: dict[str, list[dict]] = json.loads(proc.stdout.strip().splitlines()[-1])
    t = Table(title=f"One day's task ({day}), measured inside it: median of {runs} run(s) per place "
                    "(the first run in a fresh process includes warming up)")
    for c in ("where", "tasks", "task CPU s", "vs this process", "of it system s", "minor page faults",
              "other threads' CPU s", "MALLOC_TRIM_THRESHOLD_"):
        t.add_column(c, justify="right")
    base = statistics.median(r["cpu"] for r in costs["this process"])
    for name, rs in costs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("cpu", "sys", "minflt", "others")}
        t.add_row(name, str(len(rs)), f"{med['cpu']:.3f}", f"{med['cpu'] / base:.2f}x", f"{med['sys']:.3f}",
                  f"{med['minflt']:,.0f}", f"{med['others']:.3f}", str(rs[0]["trim"]))
    return t


def spin(n: int) -> float:
    """Pure-Python work, no I/O: its CPU seconds."""
    started, x = time.process_time(), 0
    for i in range(n):
        x += i
    return time.process_time() - started


def cores_available(n: int = 10_000_000) -> float:
    """What two independent processes get here now: their speed-up over one (2.00 on 2 idle cores).

    The ceiling for any 2-worker speed-up measured in the same run on a machine shared with others.
    """
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(spin, [1, 1]))  # both started
        started = time.perf_counter()
        list(pool.map(spin, [n]))
        one = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(spin, [n, n]))
        return 2 * one / (time.perf_counter() - started)


def run(folder: Path, days: list[date], mode: list[str], out: Path) -> dict:
    argv = ["backtest", "--symbol", "ES", "--from", days[0].isoformat(), "--to", days[-1].isoformat(),
            "--data-dir", str(folder), "--out", str(out), *mode]
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(argv)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"backtest failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["code"] != 0:  # a user error is reported, not raised: its figures would time nothing
        raise SystemExit(f"backtest exited {result['code']}: {proc.stderr[-2000:]}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", default="1,5,20")
    ap.add_argument("--minutes", type=float, default=390.0, help="market minutes per day (390 = RTH)")
    ap.add_argument("--keep", help="folder for the simulated days (reused across runs)")
    ap.add_argument("--probe-runs", type=int, default=3, help="runs of the one-day task per place (0: skip)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.probe:
        probe(*json.loads(args.probe))
        return
    counts = [int(x) for x in args.days.split(",")]
    home = tempfile.mkdtemp(prefix="tapeflow-bench-home-")
    os.environ["TAPEFLOW_HOME"] = home  # shipped default settings, not the user's
    folder = Path(args.keep or tempfile.mkdtemp(prefix="tapeflow-bench-days-"))
    all_days = make_days(folder, max(counts), args.minutes)
    rows = []
    walls: dict[str, dict[int, float]] = {name: {} for name in MODES}
    base: dict[str, float] = {}
    ceiling = [cores_available()]
    for n in counts:
        single = None
        for name, mode in MODES.items():
            r = run(folder, all_days[:n], mode, Path(home) / f"out-{n}-{len(mode)}-{mode[-1]}")
            per_day = r["wall"] / n
            walls[name][n] = r["wall"]
            base.setdefault(name, per_day)
            speedup = "" if single is None else f"{single / r['wall']:.2f}x"
            single = r["wall"] if single is None else single
            rows.append((str(n), name, f"{r['wall']:.2f}", f"{r['cpu'] / r['wall']:.2f}", f"{r['main_cpu']:.2f}",
                         f"{per_day:.2f}",
                         f"{per_day / base[name]:.2f}",
                         speedup or "(baseline)", f"{r['peak_kb'] / 1024:.0f}", f"{r['peak_kb'] / 1024 / n:.1f}"))
    ceiling.append(cores_available())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    t = Table(title=f"Multi-day backtest, {args.minutes:g} simulated minutes a day, example rules "
                    f"({os.cpu_count()} cores, load average {load} at the end)")
    for c in ("days", "engine", "wall s", "cores used", "main process CPU s", "s/day", "s/day vs 1 day",
              "speed-up vs 1 process", "peak MB", "peak MB/day"):
        t.add_column(c, justify="right")
    for row in rows:
        t.add_row(*row)
    console = Console(width=150)
    console.print(t)
    console.print(f"two independent pure-Python processes get {ceiling[0]:.2f}x of one here before the runs and "
                  f"{ceiling[1]:.2f}x after (2.00x on 2 idle cores): the ceiling for the 2-worker speed-ups above")
    lo, hi = min(counts), max(counts)
    if hi > lo:
        slope = {name: (w[hi] - w[lo]) / (hi - lo) for name, w in walls.items()}
        single = slope["1 process"]
        console.print(f"cost of one more day ({lo} -> {hi} days): " +
                      ", ".join(f"{name} {v:.2f} s ({single / v:.2f}x)" for name, v in slope.items()) +
                      f"; overall at {hi} days, start-up included: " +
                      ", ".join(f"{name} {walls['1 process'][hi] / w[hi]:.2f}x" for name, w in walls.items()))
    if args.probe_runs > 0:
        console.print(probe_table(folder, all_days[0], args.probe_runs))


if __name__ == "__main__":
    main()
