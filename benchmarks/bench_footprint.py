"""Footprint build speed and memory (issue 3 targets).

Prints, for the batch (numpy) path, trades/s and the ratio to a bare ``numpy.bincount`` over the
same contiguous price array in the same run (target: within 4x, and at least 20M trades/s on one
core); for the streaming path, trades/s through adapter -> FootprintBuilder (target: 500k/s);
and the peak memory of one full session of 1-minute footprint bars.

    .venv/bin/python benchmarks/bench_footprint.py [--trades 5000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import zstandard

from tapeflow.core.events import Kind, trade_columns
from tapeflow.feeds.dbn_file import DbnFileSource
from tapeflow.feeds.simulator import MarketSimulator
from tapeflow.flow.bars import parse_bar_spec
from tapeflow.flow.footprint_batch import build_footprint
from tapeflow.flow.footprint_stream import FootprintBuilder

DATA = Path(os.environ.get("TAPEFLOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MBP1 = DATA / "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
SPEC = parse_bar_spec("1m")
ROWS: list[tuple[str, str, str, str, str]] = []


def best_of(fn, repeat: int) -> float:
    """Fastest wall time of ``repeat`` runs (seconds): the least disturbed measurement."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def row(figure: str, value: float, unit: str, baseline: float | None = None, ratio: float | None = None) -> None:
    ROWS.append(
        (
            figure,
            f"{value:,.1f}" if value < 1000 else f"{value:,.0f}",
            unit,
            "" if baseline is None else (f"{baseline:,.1f}" if baseline < 1000 else f"{baseline:,.0f}"),
            "" if ratio is None else f"{ratio:.2f}x",
        )
    )


def bench_batch(name: str, events: np.ndarray, repeat: int) -> None:
    cols = trade_columns(events)
    price = np.ascontiguousarray(cols.price)
    n = len(price)
    t_bin = best_of(lambda: np.bincount(price - price.min()), repeat)
    t_cols = best_of(lambda: build_footprint(cols, SPEC), repeat)
    t_events = best_of(lambda: build_footprint(events, SPEC), repeat)
    row(f"{name}: bare bincount over prices", n / t_bin / 1e6, "M trades/s")
    row(f"{name}: footprint from trade columns", n / t_cols / 1e6, "M trades/s", n / t_bin / 1e6, t_cols / t_bin)
    row(f"{name}: footprint from event records", n / t_events / 1e6, "M trades/s", n / t_bin / 1e6, t_events / t_bin)


def bench_stream_sim(events: np.ndarray, batch: int) -> None:
    """Streaming builder vs a bare Python loop that only sums the same trades' sizes per batch."""
    n_trades = int(np.count_nonzero(events["kind"] == Kind.TRADE))

    def bare() -> None:
        total = 0
        for i in range(0, len(events), batch):
            part = events[i : i + batch]
            part = part[part["kind"] == Kind.TRADE]
            for _ts, _px, sz, _sd in zip(
                part["ts_event"].tolist(), part["price"].tolist(), part["size"].tolist(), part["side"].tolist(),
                strict=True,
            ):
                total += sz

    def stream() -> None:
        b = FootprintBuilder(SPEC)
        for i in range(0, len(events), batch):
            b.update(events[i : i + batch])

    t_bare = best_of(bare, 3)
    t_stream = best_of(stream, 3)
    row(
        f"streaming, simulator batches of {batch} events",
        n_trades / t_stream / 1e3,
        "k trades/s",
        n_trades / t_bare / 1e3,
        t_stream / t_bare,
    )


def bench_stream_file(repeat_file: int) -> None:
    if not MBP1.exists():
        print(f"(skipping real-file figures: {MBP1} is missing)")
        return
    with MBP1.open("rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read()
    (length,) = struct.unpack_from("<I", raw, 4)
    head, body = raw[: 8 + length], raw[8 + length :]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mbp1_repeated.dbn"
        path.write_bytes(head + body * repeat_file)
        t = time.perf_counter()
        src = DbnFileSource(path)
        b = FootprintBuilder(SPEC)
        for batch in src:
            b.update(batch)
        dt = time.perf_counter() - t
        row(
            f"streaming, real mbp-1 file x{repeat_file} (DBN adapter -> footprint)",
            src.stats.records / dt / 1e3,
            "k events/s",
        )
        row("  of which trades", src.stats.trades / dt / 1e3, "k trades/s")
        events = np.concatenate(list(DbnFileSource(path)))
        n = int(np.count_nonzero(events["kind"] == Kind.TRADE))
        t_b = best_of(lambda: build_footprint(events, SPEC), 3)
        row(f"batch, real mbp-1 file x{repeat_file} ({n:,} trades)", n / t_b / 1e6, "M trades/s")


def bench_session_memory() -> None:
    """Peak Python-heap growth while streaming a full Globex session (18:00-17:00 ET) into 1m bars."""
    sim = MarketSimulator(seed=1, start=_eth_open(), duration_ns=23 * 3600 * 10**9, book=False)
    events = np.concatenate(list(sim))
    n = int(np.count_nonzero(events["kind"] == Kind.TRADE))
    gc.collect()
    tracemalloc.start()
    b = FootprintBuilder(SPEC)
    for i in range(0, len(events), 4096):
        b.update(events[i : i + 4096])
    bars = b.bars()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    row(f"full session, {len(bars):,} 1m bars from {n:,} trades: peak heap", peak / 2**20, "MiB")
    nbytes = sum(getattr(bars, f).nbytes for f in ("bid", "ask", "unknown", "count", "level_offsets"))
    row("  finished bar arrays (levels)", nbytes / 2**20, "MiB")


def _eth_open() -> int:
    from datetime import date

    from tapeflow.core.sessions import session_for_date

    return session_for_date(date(2024, 7, 2)).eth_open_ns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t = time.perf_counter()
    sim_events = np.concatenate(list(MarketSimulator(seed=42, n_trades=args.trades, book=False)))
    print(f"generated {args.trades:,} simulated trades in {time.perf_counter() - t:.1f} s")
    bench_batch(f"{args.trades / 1e6:g}M simulated", sim_events, args.repeat)
    bench_stream_sim(sim_events[:1_000_000], 1000)
    bench_stream_file(400)
    bench_session_memory()
    width = max(len(r[0]) for r in ROWS)
    print(f"\n{'figure':<{width}}  {'value':>10}  {'unit':<12} {'baseline':>10}  {'ratio':>7}")
    for fig, val, unit, base, ratio in ROWS:
        print(f"{fig:<{width}}  {val:>10}  {unit:<12} {base:>10}  {ratio:>7}")


if __name__ == "__main__":
    main()
