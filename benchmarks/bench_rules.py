"""Rule-engine cost: the full pipeline (flow + all built-in detectors) vs the bare FlowState update.

Run: ``.venv/bin/python benchmarks/bench_rules.py [--hours 6.5] [--batch 65536] [--live 1,10,50] [--no-idle]``

The flow is simulated RTH (09:30 ET on, ``--hours`` of it) at the simulator's calibrated ES
density, so bars hold as many trades as a real RTH minute (printed as trades per bar).

Figures (one run, same batches, same machine; baseline = ``Pipeline`` without a rule engine, i.e.
``FlowState.update`` alone, on the same batches):

- throughput, trades/s, with batches as a file adapter delivers them (``--batch`` rows, the DBN
  adapter's default 65,536) through ``Pipeline.process`` (target >= 300k trades/s);
- trades per one-minute bar (density check) and pipeline cost per closed bar, µs;
- latency with live-sized batches (``--live`` events per batch): wall time of
  ``Pipeline.process(batch)``, p50 and p99 over every batch, the rules stage (``RuleEngine``) alone,
  and p99 over the batches that produced a signal; then the **signal latency** (target p99 < 200 µs):
  per signal, from the start of its batch's ``process`` to the moment the pipeline hands it out (its
  ``on_signal`` listeners run; the auto-trader acts at the same point), split into bar-close signals
  and signals a trade fired inside its bar. A bar's signals are handed out when the event that
  closes it is seen, before that event is booked into the next bar (see ``Pipeline.process``); the
  others when the batch is done. With several events a batch, a signal also waits for the rows
  ahead of its own in that batch (they came in together): at one event a batch the figure is the
  pipeline's own latency. The baseline column is the FlowState stage of the same batches.
  The stream is first played up to ``--warm-min`` minutes in file-sized batches so the session has
  history, then ``--window`` events are fed in live batches;
- between live batches the benchmark calls ``Pipeline.idle`` as the live runner does when the
  feed has nothing waiting (a live ES feed leaves milliseconds between packets); its cost is
  printed on its own line, outside every latency figure; ``--no-idle`` feeds them back to back.
  Idle calls prepare a bar close that is near (see ``RuleEngine.idle``): printed, the closes
  served from a preparation out of all closes in the window (baseline column);
- the same at one event a batch with a quote update inserted at each bar's end (``1q``): the
  simulator's book rows follow its trades, so its bars always close on a trade, where a real feed's
  mostly close on a book row (see :func:`quote_at_bar_ends`);
- the same pipeline from the adapter over the largest real file (the recorded files are tiny:
  indicative only).

Two instruments streaming at once (ES and NQ, one account): ``bench_two_instruments.py`` gives the
same throughput and signal-latency figures per instrument next to each instrument alone.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from tapeflow.core.events import Flag, Kind
from tapeflow.core.instruments import instrument
from tapeflow.core.sessions import NS_PER_SECOND
from tapeflow.feeds.open import open_source
from tapeflow.feeds.simulator import DEFAULT_DATE, MarketSimulator
from tapeflow.pipeline import Pipeline
from tapeflow.signals.engine import RuleEngine
from tapeflow.signals.rules import default_rules

REAL = Path(__file__).resolve().parents[2] / "shared" / "data"
ES = instrument("ES")


def batches_of(events: np.ndarray, rows: int) -> list[np.ndarray]:
    return [events[i : i + rows] for i in range(0, len(events), rows)]


def quote_at_bar_ends(events: np.ndarray, bar_ns: int = 60 * NS_PER_SECOND) -> np.ndarray:
    """``events`` with a top-of-book row stamped at each bar end, before the first event past it.

    The simulator writes book rows right after the trades that move the book, so in its stream the
    first event past a bar's end is always a trade; in the recorded MBP-1 file a quote update comes
    first at 93% of second boundaries. This variant measures what a real feed does: bars closing on
    a book row (a copy of the last book row before the boundary, restamped)."""
    ts = events["ts_event"]
    keys = ts // bar_ns
    firsts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    book = np.flatnonzero(events["kind"] == Kind.LEVEL)
    parts, start = [], 0
    for row in firsts.tolist():
        before = book[np.searchsorted(book, row) - 1] if len(book) and book[0] < row else None
        if before is None:
            continue
        quote = events[before : before + 1].copy()
        quote["ts_event"] = ts[row] // bar_ns * bar_ns
        quote["flags"] |= np.uint8(Flag.LAST)  # its own exchange event (the copied row may be mid-event)
        parts += [events[start:row], quote]
        start = row
    parts.append(events[start:])
    return np.concatenate(parts)


def pipeline(with_rules: bool) -> Pipeline:
    return Pipeline(ES, engine=RuleEngine(default_rules(), ES) if with_rules else None)


def throughput(batches: list[np.ndarray], with_rules: bool) -> tuple[float, int, int]:
    """(seconds for every batch through Pipeline.process, signals, closed bars)."""
    pipe = pipeline(with_rules)
    gc.collect()
    t0 = time.perf_counter()
    n_sig = sum(len(pipe.process(b)) for b in batches)
    return time.perf_counter() - t0, n_sig, pipe.flow.builder.closed_count


class _Timed:
    """Wraps a callable and adds the wall time of its calls (ns) to ``ns`` (one total per batch:
    ``Pipeline.process`` may call a stage twice for one batch, before and after a bar close)."""

    def __init__(self, fn, ns: list[int]) -> None:
        self.fn, self.ns = fn, ns

    def __call__(self, *args):
        t0 = time.perf_counter_ns()
        out = self.fn(*args)
        self.ns[-1] += time.perf_counter_ns() - t0
        return out


def latency(warm: list[np.ndarray], live: list[np.ndarray], idle: bool = True) -> dict[str, np.ndarray]:
    """Per live batch (s): Pipeline.process in all, its FlowState and RuleEngine stages, whether it
    returned a signal, and (``idle``) the ``Pipeline.idle`` call made after it, as a live runner does
    when the feed has nothing waiting (timed apart: it is not on any event's path). Per signal (s):
    when the pipeline handed it out (its listeners are called), from the start of its batch's
    ``process``, and whether it is a bar-close signal."""
    pipe = pipeline(with_rules=True)
    for b in warm:
        pipe.process(b)
    flow_ns: list[int] = []
    rules_ns: list[int] = []
    flow, advance = _Timed(pipe.flow.update, flow_ns), _Timed(pipe.flow.advance, flow_ns)
    rules, on_clock = _Timed(pipe.engine.on_update, rules_ns), _Timed(pipe.engine.on_clock, rules_ns)
    pipe.flow.update, pipe.flow.advance = flow, advance  # instance attributes shadow the methods
    pipe.engine.on_update, pipe.engine.on_clock = rules, on_clock
    per = np.empty(len(live))
    idle_s = np.zeros(len(live))
    fired = np.zeros(len(live), bool)
    closed = np.zeros(len(live), bool)
    builder = pipe.flow.builder
    clock = time.perf_counter_ns
    closes0 = pipe.flow.builder.closed_count
    start = [0]
    handed: list[tuple[int, bool]] = []  # per signal: ns from its batch's start, bar close or not
    pipe.on_signal(lambda sig: handed.append((clock() - start[0], sig.event_seq is not None)))
    gc.collect()
    for i, b in enumerate(live):
        bars_before = builder.closed_count
        flow_ns.append(0)
        rules_ns.append(0)
        t0 = start[0] = clock()
        out = pipe.process(b)
        t1 = clock()
        closed[i] = builder.closed_count != bars_before
        if idle:
            pipe.idle()
            idle_s[i] = (clock() - t1) * 1e-9
        per[i] = (t1 - t0) * 1e-9
        fired[i] = bool(out)
    out_s = np.array([ns for ns, _ in handed]) * 1e-9
    at_close = np.array([c for _, c in handed], bool)
    return {"all": per, "flow": np.array(flow_ns) * 1e-9, "rules": np.array(rules_ns) * 1e-9, "fired": fired,
            "closed": closed, "idle": idle_s, "closes": pipe.flow.builder.closed_count - closes0,
            "prepared": pipe.engine.prepared_closes, "handed": out_s, "at_close": at_close}


def pct(seconds: np.ndarray, q: float) -> float:
    """Percentile ``q`` of per-batch times, in µs (nan when empty)."""
    return float(np.percentile(seconds, q)) * 1e6 if len(seconds) else float("nan")


def real_file(path: Path) -> tuple[int, float, int]:
    t0 = time.perf_counter()
    src = open_source(str(path))
    inst = src.info.instrument
    pipe = Pipeline(inst, engine=RuleEngine(default_rules(), inst))
    n_sig = len(pipe.run(src))
    return src.stats.trades, time.perf_counter() - t0, n_sig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=6.5, help="simulated RTH hours from 09:30 ET")
    ap.add_argument("--batch", type=int, default=65_536, help="rows per file-adapter batch (book rows included)")
    ap.add_argument("--live", default="1,10,50", help="events per live batch, comma separated")
    ap.add_argument("--warm-min", type=float, default=30.0, help="RTH minutes played before the latency window")
    ap.add_argument("--window", type=int, default=120_000,
                    help="events fed in live batches per size (120k: about an hour of RTH, ~60 bar closes, so the "
                         "signal p99 rests on several hundred fired batches, not a handful)")
    ap.add_argument("--no-idle", action="store_true",
                    help="feed live batches back to back without Pipeline.idle between them (a backtest's cadence)")
    ap.add_argument("--repeat", type=int, default=3, help="throughput runs (the fastest counts)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file", type=Path, default=None, help="real file for the adapter run (default: largest DBN)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    start = datetime.combine(DEFAULT_DATE, datetime.min.time()).replace(hour=9, minute=30)
    sim = MarketSimulator(seed=args.seed, start=start, duration_ns=int(args.hours * 3600 * NS_PER_SECOND))
    events = np.concatenate(list(sim))
    n_trades = int(np.count_nonzero(events["kind"] == Kind.TRADE))
    gen_s = time.perf_counter() - t0
    batches = batches_of(events, args.batch)
    print(f"simulated RTH {start:%Y-%m-%d %H:%M} ET + {args.hours:g} h: {len(events):,} events, {n_trades:,} trades "
          f"({gen_s:.1f} s); file batches of {args.batch:,} rows: {len(batches):,}")

    base_s, _, bars = min(throughput(batches, with_rules=False) for _ in range(args.repeat))
    full_s, n_sig, _ = min(throughput(batches, with_rules=True) for _ in range(args.repeat))
    rows = [
        ("throughput (file batches)", n_trades / full_s, "trades/s", n_trades / base_s),
        ("trades per bar", n_trades / max(bars, 1), "trades", n_trades / max(bars, 1)),
        ("cost per closed bar", full_s / max(bars, 1) * 1e6, "µs", base_s / max(bars, 1) * 1e6),
    ]

    warm_end = int(np.searchsorted(events["ts_event"], sim.start_ns + int(args.warm_min * 60 * NS_PER_SECOND)))
    warm = batches_of(events[:warm_end], args.batch)
    window = events[warm_end : warm_end + args.window]
    quoted = quote_at_bar_ends(window)
    runs = [(str(size), batches_of(window, size)) for size in (int(x) for x in args.live.split(","))]
    runs.append(("1q", batches_of(quoted, 1)))  # "1q": one event a batch, a quote closing each bar
    for size, live in runs:
        t = latency(warm, live, idle=not args.no_idle)
        lat, flow, rules, fired = t["all"], t["flow"], t["rules"], t["fired"]
        out, at_close = t["handed"], t["at_close"]
        rows += [
            (f"latency p50, {size}/batch", pct(lat, 50), "µs", pct(flow, 50)),
            (f"latency p99, {size}/batch", pct(lat, 99), "µs", pct(flow, 99)),
            (f"  rules stage p50, {size}/batch", pct(rules, 50), "µs", pct(flow, 50)),
            (f"  rules stage p99, {size}/batch", pct(rules, 99), "µs", pct(flow, 99)),
            (f"batches that fired, {size}/batch", float(fired.sum()), "batches", float(len(fired))),
            (f"  fired batches: process() p99, {size}/batch", pct(lat[fired], 99), "µs", pct(flow[fired], 99)),
            (f"signal latency p50, {size}/batch", pct(out, 50), "µs", pct(flow[fired], 50)),
            (f"signal latency p99, {size}/batch", pct(out, 99), "µs", pct(flow[fired], 99)),
            (f"  bar-close signals p50, {size}/batch", pct(out[at_close], 50), "µs", pct(flow[fired], 50)),
            (f"  bar-close signals p99, {size}/batch", pct(out[at_close], 99), "µs", pct(flow[fired], 99)),
            (f"  intra-bar signals p50, {size}/batch", pct(out[~at_close], 50), "µs", pct(flow[fired], 50)),
            (f"  intra-bar signals p99, {size}/batch", pct(out[~at_close], 99), "µs", pct(flow[fired], 99)),
            (f"  idle call between batches p99, {size}/batch", pct(t["idle"], 99), "µs", pct(flow, 99)),
            (f"  bar closes prepared while idle, {size}/batch", float(t["prepared"]), "closes", float(t["closes"])),
        ]

    print(f"{n_sig:,} signals over {bars:,} one-minute bars; latency window: {len(window):,} events from "
          f"{args.warm_min:g} min after the open; baseline: throughput = Pipeline without rules, latency = "
          f"its FlowState.update stage, same batches; '1q': the window one event a batch with a quote "
          f"update at each bar end ({len(quoted) - len(window)} rows added), so bars close on a book row "
          f"as on a real feed")
    print(f"{'figure':<34} {'value':>12} {'unit':<9} {'baseline':>12} {'ratio':>7}")
    for name, value, unit, base in rows:
        print(f"{name:<34} {value:>12,.1f} {unit:<9} {base:>12,.1f} {value / base:>7.2f}")
    dbn = args.file or max(REAL.glob("*.dbn.zst"), key=lambda p: p.stat().st_size, default=None)
    if dbn is not None and dbn.exists():
        trades, secs, sigs = real_file(dbn)
        print(f"real file {dbn.name}: {trades:,} trades, {sigs} signals, adapter->footprint->rules "
              f"{trades / secs:,.0f} trades/s (tiny file: start-up dominated)")


if __name__ == "__main__":
    main()
