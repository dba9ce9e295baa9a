"""Where the time of a live bar close goes: the stage breakdown behind the signal-latency p99.

Run: ``.venv/bin/python benchmarks/bench_bar_close.py [--closes 6] [--copies 40]``

A bar close is the costliest live event (every bar-close detector runs on it), so it sets the
signal-latency p99 of ``bench_rules.py``. To time it without the noise of the stream around it,
the pipeline is played to just before a close; then ``--copies`` copies of that state each process
the one event that closes the bar (1-event batches, as a live feed delivers). Printed per close:
fastest and median wall time of ``Pipeline.process``; then the median per stage over all copies:
the flow stage with its bar freeze, the engine with its bar-close hooks, the slice of the closing
trade and the collection of signals. Baseline, same copies: the flow stage alone.

These copies run warm; in the stream, thousands of other events between two closes push this
code out of the CPU caches, so a close costs more there (compare ``bench_rules.py``).
"""

from __future__ import annotations

import argparse
import copy
import gc
import time
from collections import defaultdict
from datetime import datetime

import numpy as np

from tapeflow.core.instruments import instrument
from tapeflow.core.sessions import NS_PER_SECOND
from tapeflow.feeds.simulator import DEFAULT_DATE, MarketSimulator
from tapeflow.pipeline import Pipeline
from tapeflow.signals.engine import RuleEngine
from tapeflow.signals.rules import default_rules

ES = instrument("ES")


class _Stages:
    """Wraps chosen callables of one pipeline copy and adds up their wall time (ns) per name."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, fn):
        def timed(*args, **kw):
            t0 = time.perf_counter_ns()
            try:
                return fn(*args, **kw)
            finally:
                self.ns[name] += time.perf_counter_ns() - t0
        return timed

    def instrument(self, pipe: Pipeline) -> None:
        eng, flow = pipe.engine, pipe.flow
        for hook, entries in eng._hooks.items():
            eng._hooks[hook] = [(d, r, self.wrap(f"  {hook} {d.kind}", fn), p) for d, r, fn, p in entries]
        flow.update = self.wrap("flow stage", flow.update)
        flow.builder._close_bar = self.wrap("  flow: bar freeze", flow.builder._close_bar)
        eng.on_update = self.wrap("rules stage", eng.on_update)
        eng._close_bar = self.wrap("  rules: bar-close hooks", eng._close_bar)
        eng._slice = self.wrap("  rules: closing trade's slice", eng._slice)
        eng._collect = self.wrap("  rules: signals collected", eng._collect)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--closes", type=int, default=6, help="bar closes measured")
    ap.add_argument("--copies", type=int, default=40, help="copies of the state per close")
    ap.add_argument("--warm-min", type=float, default=30.0, help="RTH minutes played before the first close")
    args = ap.parse_args()

    start = datetime.combine(DEFAULT_DATE, datetime.min.time()).replace(hour=9, minute=30)
    minutes = args.warm_min + args.closes + 5
    sim = MarketSimulator(seed=1, start=start, duration_ns=int(minutes * 60 * NS_PER_SECOND))
    events = np.concatenate(list(sim))
    warm_end = int(np.searchsorted(events["ts_event"], sim.start_ns + int(args.warm_min * 60 * NS_PER_SECOND)))
    pipe = Pipeline(ES, engine=RuleEngine(default_rules(), ES))
    for i in range(0, warm_end, 65_536):
        pipe.process(events[i : min(i + 65_536, warm_end)])

    i, per_stage, baseline = warm_end, defaultdict(list), []
    for n in range(args.closes):
        bar_end = pipe.flow.builder._bar_end  # the open bar closes at the first trade at or after this
        while not (events["kind"][i] == 1 and events["ts_event"][i] >= bar_end):
            pipe.process(events[i : i + 1])
            pipe.idle()
            i += 1
        event = events[i : i + 1]
        copies = [copy.deepcopy(pipe) for _ in range(args.copies)]
        walls = []
        gc.collect()
        gc.disable()
        for c in copies:
            stages = _Stages()
            stages.instrument(c)
            t0 = time.perf_counter_ns()
            fired = c.process(event)
            walls.append(time.perf_counter_ns() - t0)
            for name, ns in stages.ns.items():
                per_stage[name].append(ns)
            baseline.append(stages.ns["flow stage"])
        gc.enable()
        levels = pipe.flow.builder._high - pipe.flow.builder._low + 1
        print(f"close {n + 1}: {levels} price levels, {len(fired)} signals: fastest {min(walls) / 1e3:.1f} µs, "
              f"median {np.median(walls) / 1e3:.1f} µs")
        pipe.process(event)
        pipe.idle()
        i += 1

    print(f"\nmedian per stage over {args.closes} closes x {args.copies} copies (baseline: the flow stage)")
    base = np.median(baseline) / 1e3
    print(f"{'stage':<44} {'µs':>8} {'baseline':>9} {'ratio':>6}")
    for name, ns in sorted(per_stage.items(), key=lambda kv: -np.median(kv[1])):
        value = np.median(ns) / 1e3
        if value >= 1.0:
            print(f"{name:<44} {value:>8.1f} {base:>9.1f} {value / base:>6.2f}")


if __name__ == "__main__":
    main()
