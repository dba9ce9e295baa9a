"""Rule-engine cost: every built-in detector on 1M+ simulated trades vs the bare FlowState update.

Run: ``.venv/bin/python benchmarks/bench_rules.py [--trades 1000000] [--batch 4096] [--file PATH]``

Figures (one run, same batches, same machine):
- pipeline throughput, trades/s: FlowState.update + RuleEngine.on_update (all built-ins at their
  defaults), against the bare FlowState.update as the baseline (target >= 300k trades/s);
- engine cost per batch and per closed bar, µs;
- latency per batch, event in -> signals out (update + rules), p50 / p99 µs (target p99 < 200 µs
  with live-sized batches; ``--batch`` sets the rows per batch);
- the same pipeline from the adapter over a real file (the recorded files are tiny: indicative only).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tapeflow.core.events import Kind
from tapeflow.core.instruments import instrument
from tapeflow.feeds.open import open_source
from tapeflow.feeds.simulator import MarketSimulator
from tapeflow.flow.state import FlowState
from tapeflow.signals.engine import RuleEngine
from tapeflow.signals.rules import default_rules

REAL = Path(__file__).resolve().parents[2] / "shared" / "data"


def batches_of(events: np.ndarray, rows: int) -> list[np.ndarray]:
    return [events[i : i + rows] for i in range(0, len(events), rows)]


def run(batches: list[np.ndarray], with_rules: bool) -> tuple[float, np.ndarray, int, int, float]:
    """(total s, per-batch s, signals, bars, engine-only s)."""
    es = instrument("ES")
    state = FlowState(es)
    engine = RuleEngine(default_rules(), es) if with_rules else None
    per = np.empty(len(batches))
    n_sig = 0
    engine_s = 0.0
    clock = time.perf_counter
    t_all = clock()
    for i, b in enumerate(batches):
        t0 = clock()
        up = state.update(b)
        if engine is not None:
            t1 = clock()
            n_sig += len(engine.on_update(state, up, b))
            engine_s += clock() - t1
        per[i] = clock() - t0
    total = clock() - t_all
    return total, per, n_sig, state.builder.closed_count, engine_s


def pct(seconds: np.ndarray, q: float) -> float:
    """Percentile ``q`` of per-batch times, in µs."""
    return float(np.percentile(seconds, q)) * 1e6


def real_file(path: Path) -> tuple[int, float, int]:
    t0 = time.perf_counter()
    src = open_source(str(path))
    inst = src.info.instrument
    state = FlowState(inst)
    engine = RuleEngine(default_rules(), inst)
    n_sig = 0
    for b in src:
        n_sig += len(engine.on_update(state, state.update(b), b))
    return src.stats.trades, time.perf_counter() - t0, n_sig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=4096, help="rows per batch (book rows included)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file", type=Path, default=None, help="real file for the adapter run (default: largest DBN)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    events = np.concatenate(list(MarketSimulator(seed=args.seed, n_trades=args.trades)))
    n_trades = int(np.count_nonzero(events["kind"] == Kind.TRADE))
    gen_s = time.perf_counter() - t0
    batches = batches_of(events, args.batch)
    print(f"{len(events):,} events, {n_trades:,} trades, {len(batches):,} batches of {args.batch} rows "
          f"(simulated in {gen_s:.1f} s)")

    base_s, base_per, _, bars, _ = run(batches, with_rules=False)
    full_s, full_per, n_sig, _, eng_s = run(batches, with_rules=True)
    rows = [
        ("pipeline throughput", n_trades / full_s, "trades/s", n_trades / base_s),
        ("engine cost per batch", eng_s / len(batches) * 1e6, "µs", base_s / len(batches) * 1e6),
        ("engine cost per closed bar", eng_s / max(bars, 1) * 1e6, "µs", base_s / max(bars, 1) * 1e6),
        ("latency per batch p50", pct(full_per, 50), "µs", pct(base_per, 50)),
        ("latency per batch p99", pct(full_per, 99), "µs", pct(base_per, 99)),
    ]
    dbn = args.file or max(REAL.glob("*.dbn.zst"), key=lambda p: p.stat().st_size, default=None)
    print(f"{n_sig:,} signals over {bars:,} one-minute bars; baseline = bare FlowState.update on the same batches")
    print(f"{'figure':<30} {'value':>14} {'unit':<9} {'baseline':>14} {'ratio':>7}")
    for name, value, unit, base in rows:
        print(f"{name:<30} {value:>14,.1f} {unit:<9} {base:>14,.1f} {value / base:>7.2f}")
    if dbn is not None and dbn.exists():
        trades, secs, sigs = real_file(dbn)
        print(f"real file {dbn.name}: {trades:,} trades, {sigs} signals, adapter->footprint->rules "
              f"{trades / secs:,.0f} trades/s (tiny file: start-up dominated)")


if __name__ == "__main__":
    main()
