"""Max-speed replay of two instruments in the terminal, headless: events/s of the feed runner's steps.

The terminal replays the merged tape of its sources in slices (``FeedRunner``); each slice goes to
``PipelineGroup.process``. Runs, in the same process, over the same simulated RTH tapes (from 09:30 ET
at the simulator's calibrated density, the sessions ``tapeflow gui`` builds: rules, paper account,
journal):

- ES alone and NQ alone: the baseline (their events/s, and the rate of the two back to back);
- ES+NQ run by run (``PipelineGroup(lockstep=False)``: each run of one source through its pipeline,
  the way before) and played back (the default: planned per instrument, played in the slice's order).

``--busy``: a position and two far working orders on each instrument from the first prints on, so the
account is never idle (no row held back). Both ES+NQ ways must give the same fills (checked).
Slice time p95/max: the longest the window's event loop waits on one step (the runner sizes its
slices to about 5 ms from the rate measured; here fixed at ``--slice`` rows).

    .venv/bin/python benchmarks/bench_replay_multi.py [--minutes 30] [--slice 4096] [--busy]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np

from tapeflow.appdirs import app_paths
from tapeflow.core.events import Side
from tapeflow.trading.orders import OrderRequest, OrderType
from tapeflow.ui.session import build_session

ES = "sim://rth?symbol=ES&time=09:30&minutes={m}&seed=1"
NQ = "sim://rth?symbol=NQ&time=09:30&minutes={m}&seed=2"


def busy(s) -> list[np.ndarray]:
    """A position and two far working orders on each instrument; returns the rows stepped to get there."""
    done = []
    while not all(f.pipeline.flow.last_price for f in s.feeds):
        done.append(s.replay.step_events(1))
        s.runner.steps.process(done[-1])
    for f in s.feeds:
        root, last = f.instrument.root, f.pipeline.flow.last_price
        for req in (OrderRequest(instrument=root, side=Side.BUY, qty=1),
                    OrderRequest(instrument=root, side=Side.BUY, qty=1, type=OrderType.LIMIT, limit_price=last - 800),
                    OrderRequest(instrument=root, side=Side.SELL, qty=1, type=OrderType.STOP, stop_price=last - 900)):
            assert s.account.submit(req).ok
    return done


def run(specs: list[str], rows: int, *, lockstep: bool = True, busy_account: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as home:
        s = build_session(specs, app_paths(Path(home)), speed=None, bar="1m")
        s.runner.steps.lockstep = lockstep
        fills: list = []
        s.account.subscribe(lambda ev: fills.append(msgspec.structs.replace(ev.fill, order_id=0))
                            if ev.fill is not None else None)
        if busy_account:
            busy(s)
        slices = []
        while len(chunk := s.replay.step_events(rows)):
            slices.append(chunk)  # read ahead (the replay's reader thread does this in the terminal)
        took = []
        for chunk in slices:
            t0 = time.perf_counter()
            s.runner.steps.process(chunk)
            took.append(time.perf_counter() - t0)
        open_orders = len(s.account.open_orders())
        s.close()
    events = sum(len(c) for c in slices)
    ms = np.array(took) * 1000
    return {"events": events, "wall": float(sum(took)), "fills": fills, "open": open_orders,
            "p95": float(np.percentile(ms, 95)), "max": float(ms.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=30, help="market minutes of each tape from 09:30 ET (default 30)")
    ap.add_argument("--slice", type=int, default=4096, help="rows per step (default 4096)")
    ap.add_argument("--busy", action="store_true", help="a position and working orders on both all along")
    args = ap.parse_args()
    es, nq = ES.format(m=args.minutes), NQ.format(m=args.minutes)
    kw = {"busy_account": args.busy}
    alone = {"ES alone": run([es], args.slice, **kw), "NQ alone": run([nq], args.slice, **kw)}
    both = alone["ES alone"]["events"] + alone["NQ alone"]["events"]
    base = both / (alone["ES alone"]["wall"] + alone["NQ alone"]["wall"])
    two = {"ES+NQ run by run (before)": run([es, nq], args.slice, lockstep=False, **kw),
           "ES+NQ played back (after)": run([es, nq], args.slice, **kw)}
    before, after = two.values()
    if before["fills"] != after["fills"]:
        raise SystemExit("played back and run by run gave different fills")
    print(f"max-speed replay, {args.minutes} min of simulated RTH ES and NQ, {args.slice}-row steps, "
          f"account {'busy (positions and working orders on both)' if args.busy else 'on the default rules'}")
    print(f"{'run':30} {'events':>10} {'events/s':>12} {'vs ES,NQ alone':>15} {'step p95 ms':>12} "
          f"{'step max ms':>12} {'fills':>6}")
    for name, r in {**alone, **two}.items():
        rate = r["events"] / r["wall"]
        print(f"{name:30} {r['events']:>10,} {rate:>12,.0f} {rate / base:>14.2f}x {r['p95']:>12.2f} "
              f"{r['max']:>12.2f} {len(r['fills']):>6}")
    print(f"baseline: ES and NQ alone back to back, {base:,.0f} events/s; "
          f"played back = run by run in fills ({len(after['fills'])}): yes")


if __name__ == "__main__":
    main()
