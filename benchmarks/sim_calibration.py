"""Simulator calibration: its tape statistics side by side with the real recordings.

Run: ``.venv/bin/python benchmarks/sim_calibration.py [--trades 5000000] [--seed 1]``

Compared windows (same ET time of day as each recording, longer so the simulator's figures are
stable):

* ES mbp-1 file (2024-07-01 19:58-20:02 ET, evening Globex) vs simulated ES from 19:58 ET for
  60 minutes on the same date;
* NQ time-and-sales CSV (2025-10-20 ~12:08 ET, RTH midday; recorded in Europe/Madrid time with
  millisecond stamps) vs simulated NQ from 12:08 ET for 30 minutes.

Then the time to generate ``--trades`` simulated ES trades without and with the book, as trades
per second and as a multiple of the real NQ file's trade rate (how much faster than real time).
Figures: size in contracts, gaps in ms, runs in trades, ticks moved = sum of |price change|
between consecutive prints per minute of the window.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from tapeflow.core.events import Kind
from tapeflow.feeds.simulator import MarketSimulator

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ES_FILE = DATA / "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
NQ_FILE = DATA / "ts_and_dom_2min.csv"
NS_PER_MIN = 60 * 1_000_000_000


def trades_from(batches) -> np.ndarray:
    """All TRADE rows of a source, concatenated."""
    parts = [b[b["kind"] == Kind.TRADE] for b in batches]
    return np.concatenate(parts) if parts else np.zeros(0)


def tape_stats(tr: np.ndarray) -> dict[str, float]:
    """The calibration figures of a tape of TRADE rows (see the module docstring for units)."""
    size = tr["size"].astype(np.float64)
    gaps = np.diff(tr["ts_event"]) / 1e6
    side = tr["side"].astype(np.int64)
    side = side[side != 0]
    breaks = np.flatnonzero(np.diff(side) != 0)
    runs = np.diff(np.r_[0, breaks + 1, len(side)])
    minutes = max((int(tr["ts_event"][-1]) - int(tr["ts_event"][0])) / NS_PER_MIN, 1e-9)
    moved = np.abs(np.diff(tr["price"])).sum()
    return {
        "trades": len(tr),
        "trades / min": len(tr) / minutes,
        "size mean": size.mean(),
        "size median": np.median(size),
        "size p90": np.percentile(size, 90),
        "size p99": np.percentile(size, 99),
        "size max": size.max(),
        "share of 1-lots": (size == 1).mean(),
        "gap median (ms)": np.median(gaps),
        "gap p90 (ms)": np.percentile(gaps, 90),
        "share zero gap": (gaps == 0).mean(),
        "run mean": runs.mean(),
        "run p90": np.percentile(runs, 90),
        "ticks moved / min": moved / minutes,
    }


def real_es() -> np.ndarray | None:
    if not ES_FILE.exists():
        return None
    from tapeflow.feeds.dbn_file import DbnFileSource

    return trades_from(DbnFileSource(ES_FILE))


def real_nq() -> np.ndarray | None:
    if not NQ_FILE.exists():
        return None
    from tapeflow.feeds.csv_file import CsvTradesSource

    return trades_from(CsvTradesSource(NQ_FILE, instrument="NQ", tz="Europe/Madrid"))


def sim_window(symbol: str, start: datetime, minutes: int, seed: int) -> np.ndarray:
    sim = MarketSimulator(seed=seed, instrument=symbol, start=start, duration_ns=minutes * NS_PER_MIN)
    return trades_from(sim)


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def print_table(cols: dict[str, dict[str, float] | None]) -> None:
    names = list(cols)
    keys = next((list(c) for c in cols.values() if c), [])
    width = max(len(k) for k in keys) + 2
    print("figure".ljust(width) + "".join(n.rjust(16) for n in names))
    for k in keys:
        row = k.ljust(width)
        for n in names:
            c = cols[n]
            row += fmt(c[k] if c else None).rjust(16)
        print(row)


def throughput(n: int, seed: int, book: bool) -> tuple[float, int]:
    """Seconds to generate ``n`` ES trades (and the rows emitted)."""
    t0 = time.perf_counter()
    sim = MarketSimulator(seed=seed, n_trades=n, book=book)
    rows = sum(len(b) for b in sim)
    return time.perf_counter() - t0, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    es, nq = real_es(), real_nq()
    if es is None or nq is None:
        print(f"note: real files missing under {DATA}; their columns show '-'", file=sys.stderr)
    cols = {
        "ES file (eve)": tape_stats(es) if es is not None else None,
        "sim ES 19:58": tape_stats(sim_window("ES", datetime(2024, 7, 1, 19, 58), 60, a.seed)),
        "NQ file (RTH)": tape_stats(nq) if nq is not None else None,
        "sim NQ 12:08": tape_stats(sim_window("NQ", datetime(2025, 10, 20, 12, 8), 30, a.seed)),
        "sim ES RTH day": tape_stats(sim_window("ES", datetime(2024, 7, 2, 9, 30), 390, a.seed)),
    }
    print_table(cols)
    real_rate = cols["NQ file (RTH)"]["trades / min"] / 60 if cols["NQ file (RTH)"] else 8.8
    print()
    print(f"{'figure':34}{'value':>14}  {'unit':10}{'baseline':>12}  {'ratio':>8}")
    for book in (False, True):
        secs, rows = throughput(a.trades, a.seed, book)
        rate = a.trades / secs
        label = f"generate {a.trades:,} trades" + (" + book" if book else "")
        print(f"{label:34}{secs:14.2f}  {'s':10}")
        ratio = rate / real_rate
        name = "  simulated trades per second"
        print(f"{name:34}{rate:14,.0f}  {'trades/s':10}{real_rate:12.1f}  {ratio:8.0f}x")
        print(f"{'  rows (trades + book) per second':34}{rows / secs:14,.0f}  {'rows/s':10}")
    print(
        "baseline: the real NQ file's trade rate (RTH midday), so the ratio is 'times faster than real time'"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
