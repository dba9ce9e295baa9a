"""Backtest throughput: the whole pipeline (flow -> paper broker -> rules -> auto-trader) in trades/s.

For each input (the real files in ../shared/data, and ~1M simulated trades) and each batch size,
the same events, already in memory, go through:

- ``flow only``: ``FlowState.update`` alone, in the same batches (the baseline);
- ``backtest, example rules``: ``run_backtest`` with ``resources/rules/example.toml``;
- ``backtest, stand-in engine``: ``run_backtest`` with a trivial engine (entries every 500 prints),
  which isolates the cost of the pipeline and the paper broker from the detectors.

The ratio column is backtest time / flow-only time over the same events in the same run.

    .venv/bin/python benchmarks/bench_backtest.py [--trades 1000000] [--batch-rows 32,65536] [--batch-ms 0]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np

from tapeflow.backtest.runner import DEFAULT_BATCH_MS, cut_points, run_backtest
from tapeflow.backtest.setup import default_rules_path, rule_engine_factory
from tapeflow.backtest.standin import EveryNthEngine
from tapeflow.core.events import Kind
from tapeflow.core.instruments import Instrument
from tapeflow.feeds.base import FeedInfo, FeedStats
from tapeflow.feeds.open import open_source
from tapeflow.flow.state import FlowState
from tapeflow.trading.settings import PaperSettings, TradingSettings

DATA = Path(os.environ.get("TAPEFLOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
REAL = {  # file -> (symbol, time zone of naive timestamps)
    "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst": (None, None),
    "ts_and_dom_2min.csv": ("NQ", "Europe/Madrid"),
    "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst": (None, None),
}
COSTS = TradingSettings(paper=PaperSettings(slippage_ticks=1, commission_cents=59, exchange_fee_cents=138))


class MemorySource:
    """Events already read, so file decoding is not part of the figure."""

    def __init__(self, events: np.ndarray, info: FeedInfo) -> None:
        self.events = events
        self.info = info
        self.stats = FeedStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        self.stats = FeedStats()
        self.stats.count_batch(self.events)
        yield self.events


def load(spec: str, symbol: str | None = None, tz: str | None = None) -> tuple[np.ndarray, FeedInfo]:
    src = open_source(spec, symbol=symbol, tz=tz)
    parts = list(src)
    return np.concatenate(parts), src.info


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Fastest of ``repeat`` wall times (s): the least disturbed measurement."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def flow_only(events: np.ndarray, inst: Instrument, rows: int, ms: int) -> None:
    """The bare flow stage over the very batches the backtest hands the pipeline."""
    state = FlowState(inst)
    cuts = cut_points(events["ts_event"], rows, ms * 1_000_000)
    for a, b in pairwise(cuts):
        state.update(events[a:b])


def bench(name: str, events: np.ndarray, info: FeedInfo, rows: int, ms: int, table: list[tuple[str, ...]]) -> None:
    trades = int(np.count_nonzero(events["kind"] == Kind.TRADE))
    repeat = 3 if len(events) < 100_000 else 1
    base = timed(lambda: flow_only(events, info.instrument, rows, ms), repeat)
    label = f"{name} ({len(events):,} ev, {trades:,} tr), {rows} rows/{ms} ms"
    n = len(events)
    flow = ("flow only (FlowState.update)", f"{trades / base:,.0f}", f"{n / base:,.0f}", f"{base:.2f}", "")
    table.append((label, *flow))
    engines = {
        "backtest, example rules": rule_engine_factory(default_rules_path()),
        "backtest, stand-in engine": lambda inst: EveryNthEngine(inst, 500),
    }
    for what, factory in engines.items():
        out: dict[str, int] = {}

        def run(factory=factory, out=out) -> None:
            r = run_backtest([MemorySource(events, info)], factory, COSTS, batch_rows=rows, batch_ms=ms)
            out["trips"] = len(r.trades)

        dt = timed(run, repeat)
        table.append((label, f"{what} ({out['trips']} trips)", f"{trades / dt:,.0f}", f"{n / dt:,.0f}", f"{dt:.2f}",
                      f"{dt / base:.2f}x"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trades", type=int, default=1_000_000, help="simulated trades (default 1,000,000)")
    ap.add_argument("--batch-rows", default="32,65536", help="batch sizes to measure (default 32,65536)")
    ap.add_argument("--batch-ms", type=int, default=DEFAULT_BATCH_MS,
                    help=f"time cut of the batches, ms (default {DEFAULT_BATCH_MS}, the backtest's; 0 = none)")
    ap.add_argument("--no-real", action="store_true", help="simulated data only")
    args = ap.parse_args()
    sizes = [int(x) for x in args.batch_rows.split(",")]
    table: list[tuple[str, ...]] = []
    inputs: list[tuple[str, np.ndarray, FeedInfo]] = []
    for name, (symbol, tz) in REAL.items():
        if (DATA / name).exists() and not args.no_real:
            ev, info = load(str(DATA / name), symbol, tz)
            inputs.append((name.split("_")[0] + "/" + info.schema, ev, info))
    if inputs:
        largest = max(inputs, key=lambda x: len(x[1]))
        print(f"largest real file: {largest[0]} ({len(largest[1]):,} events)")
    elif not args.no_real:
        print(f"no real data in {DATA}; simulated only")
    ev, info = load(f"sim://rth?trades={args.trades}&minutes=100000")
    inputs.append(("simulated RTH", ev, info))
    for name, ev, info in inputs:
        for rows in sizes:
            bench(name, ev, info, rows, args.batch_ms, table)
            print(f"  done: {name}, {rows} rows/batch", flush=True)
    head = ("input", "figure", "trades/s", "events/s", "seconds", "vs flow")
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in table:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))


if __name__ == "__main__":
    main()
