"""Loopback websocket feed -> FootprintBuilder: sustained events/s and send-to-footprint latency.

The server runs in its own process (as ``serve-replay`` would) in hub mode and publishes
simulator events; the client is a ``WebsocketSource`` (msgpack) whose batches go straight into a
``FootprintBuilder``. Figures:

* throughput: the server publishes everything at once, the client reads with the lossless
  ``block`` policy; events/s from the first batch to the end-of-stream message;
* latency: the server publishes ``--rate`` events/s in batches every ``--tick-ms``; for each batch,
  wall time when ``FootprintBuilder.update`` returned minus the server's ``sent_ns`` (one host, one
  clock), p50 and p99;
* baseline (same run): the same batches through ``FootprintBuilder.update`` with no socket.

Targets (issue 9): at least 200k events/s, p99 under 5 ms.

    .venv/bin/python benchmarks/bench_ws_feed.py [--minutes 60] [--rate 200000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time

import numpy as np

from tapeflow.feeds.open import open_source
from tapeflow.feeds.ws_feed import WebsocketSource
from tapeflow.feeds.ws_server import FeedServer
from tapeflow.flow.bars import parse_bar_spec
from tapeflow.flow.footprint_stream import FootprintBuilder

BAR = parse_bar_spec("1m")


def _serve(events: np.ndarray, port_q: mp.Queue, rate: float | None, tick_s: float, batch_rows: int) -> None:
    """Child process: publish ``events`` (all at once when ``rate`` is None, else paced) then end."""

    async def main() -> None:
        server = FeedServer(None, max_batch_rows=batch_rows, heartbeat_s=0.5)
        await server.start()
        port_q.put(server.port)
        while not server._clients:  # wait for the subscriber
            await asyncio.sleep(0.001)
        if rate is None:
            server.publish(events)
        else:
            per_tick = max(1, int(rate * tick_s))
            t0 = time.perf_counter()
            for i, lo in enumerate(range(0, len(events), per_tick)):
                delay = t0 + i * tick_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                server.publish(events[lo : lo + per_tick])
        server.end_stream()
        while server._clients:
            await asyncio.sleep(0.01)
        await server.stop()

    asyncio.run(main())


def _client(port: int) -> tuple[int, float, np.ndarray, WebsocketSource]:
    """Read the feed into a FootprintBuilder: (events, seconds from first batch, latencies ns, source)."""

    async def main() -> tuple[int, float, np.ndarray, WebsocketSource]:
        src = WebsocketSource(f"ws://127.0.0.1:{port}", start_event=0, policy="block", heartbeat_timeout_s=30)
        fp = FootprintBuilder(BAR)
        n = 0
        lat: list[int] = []
        t0 = None
        async for batch in src:
            if t0 is None:
                t0 = time.perf_counter()
            fp.update(batch)
            if src.last_sent_ns is not None:
                lat.append(time.time_ns() - src.last_sent_ns)
            n += len(batch)
        return n, time.perf_counter() - (t0 or time.perf_counter()), np.array(lat, dtype=np.int64), src

    return asyncio.run(main())


def _run_feed(events: np.ndarray, rate: float | None, tick_s: float, batch_rows: int):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(events, q, rate, tick_s, batch_rows), daemon=True)
    proc.start()
    try:
        return _client(q.get(timeout=30))
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()


def _retimed(events: np.ndarray, rate: float, n: int) -> np.ndarray:
    """``n`` events (the simulation repeated) re-stamped so market time runs at wall time at ``rate``
    events/s: a live burst, where a 1-minute bar closes once a minute, not once per 3,400 events."""
    reps = max(1, int(np.ceil(n / len(events))))
    out = np.concatenate([events] * reps)[:n].copy()
    ts = int(events["ts_event"][0]) + (np.arange(n, dtype=np.int64) * 1_000_000_000 // int(rate))
    out["ts_event"] = ts
    out["ts_recv"] = ts
    return out


def _baseline(events: np.ndarray, rows: int) -> float:
    fp = FootprintBuilder(BAR)
    t0 = time.perf_counter()
    for lo in range(0, len(events), rows):
        fp.update(events[lo : lo + rows])
    return len(events) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60, help="simulated market minutes (about 200k events/hour)")
    ap.add_argument("--rate", type=float, default=200_000, help="paced publish rate, events/s")
    ap.add_argument("--seconds", type=float, default=5, help="length of the paced run, s")
    ap.add_argument("--tick-ms", type=float, default=2.0, help="publish interval of the paced run, ms")
    ap.add_argument("--batch", type=int, default=8192, help="most events per batch message")
    args = ap.parse_args(argv)

    events = np.concatenate(list(open_source(f"sim://rth?seed=1&minutes={args.minutes:g}")))
    paced = _retimed(events, args.rate, int(args.rate * args.seconds))
    print(f"events: {len(events):,} simulated ({np.mean(events['kind'] == 1):.0%} trades); "
          f"paced run: {len(paced):,} events at {args.rate:,.0f}/s in {args.tick_ms:g} ms ticks")

    base_big = _baseline(events, args.batch)
    n, secs, _, src = _run_feed(events, None, 0.0, args.batch)
    assert n == len(events) and src.status().events_lost == 0
    per_tick = max(1, int(args.rate * args.tick_ms / 1000))
    base_small = _baseline(paced, per_tick)
    n2, secs2, lat, src2 = _run_feed(paced, args.rate, args.tick_ms / 1000, args.batch)
    assert n2 == len(paced)
    p50, p99 = (float(v) / 1e6 for v in np.percentile(lat, [50, 99]))

    rows = [
        ("throughput, max speed", n / secs, "events/s", base_big, "FootprintBuilder alone"),
        ("sustained at paced rate", n2 / secs2, "events/s", args.rate, "offered rate"),
        ("latency p50 send->footprint", p50, "ms", 5.0, "target p99"),
        ("latency p99 send->footprint", p99, "ms", 5.0, "target p99"),
        ("FootprintBuilder alone, paced batches", base_small, "events/s", args.rate, "offered rate"),
    ]
    print(f"{'figure':<40} {'value':>14} {'unit':<9} {'baseline':>14} {'ratio':>7}  baseline is")
    for fig, val, unit, base, what in rows:
        print(f"{fig:<40} {val:>14,.2f} {unit:<9} {base:>14,.2f} {val / base:>6.2f}x  {what}")
    st = src2.status()
    print(f"paced run: gaps {st.gaps}, dropped {st.dropped_events}, reconnects {st.reconnects}, "
          f"clock skew (min send->receive) {st.clock_skew_ms:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
