"""A live feed in the terminal: from the connection handing a batch over to the replay delivering it
to the pipeline, for the two ways the terminal reads a live feed.

Run: ``.venv/bin/python benchmarks/bench_live_replay.py [n_batches] [gap_ms]`` (default 400 batches
of 5 events, one every 2 ms). Figures: delay per batch in ms, p50 / p99 / max, at replay speed 1 (the
terminal's default) and at max speed:

* thread (baseline): the feed on a private event loop on a reader thread, batches handed to the
  window's loop through a queue and the replay's reader executor (``ws://`` feeds, and the Rithmic
  feed before its session was shared with the broker);
* loop: the feed iterated on the window's own loop (``runs_on_loop``: the Rithmic feed, whose session
  is bound to the loop the broker uses). The replay delivers what has arrived without waiting for a
  later event, where the thread path waits for the next batch to know the first one's time is past.

The connection is a stand-in (no socket): it stamps each batch with the wall clock when it hands it
over, so the figures are the replay path's own cost and waits.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import numpy as np

from tapeflow.core.events import EVENT_DTYPE, Kind
from tapeflow.core.instruments import instrument
from tapeflow.feeds.base import FeedInfo
from tapeflow.feeds.live_feed import Data, Ended, LiveFeed, Opened
from tapeflow.feeds.replay import Replay

ES = instrument("ES")
ROWS = 5


class _Conn:
    def __init__(self, n: int, gap_s: float) -> None:
        self.n, self.gap_s, self.sent = n, gap_s, 0

    async def recv(self):
        if self.sent == self.n:
            return Ended()
        if self.sent:
            await asyncio.sleep(self.gap_s)
        self.sent += 1
        ev = np.zeros(ROWS, dtype=EVENT_DTYPE)
        now = time.time_ns()
        ev["ts_event"] = ev["ts_recv"] = now  # the handover time: the delay is measured from here
        ev["kind"], ev["price"], ev["size"] = Kind.TRADE, 22116, 1
        return Data(ev)

    async def close(self) -> None:
        return None


class _Connector:
    name = "bench"

    def __init__(self, n: int, gap_s: float) -> None:
        self.n, self.gap_s = n, gap_s

    async def connect(self, resume_from):
        return _Conn(self.n, self.gap_s), Opened()


class _OnLoop(LiveFeed):
    runs_on_loop = True


def _feed(on_loop: bool, n: int, gap_s: float) -> LiveFeed:
    cls = _OnLoop if on_loop else LiveFeed
    return cls(_Connector(n, gap_s), FeedInfo(source="bench", schema="trades", instrument=ES), policy="block")


async def _delays(on_loop: bool, speed: float | None, n: int, gap_s: float) -> list[float]:
    replay = Replay(_feed(on_loop, n, gap_s), speed=speed)
    out: list[float] = []
    async for batch in replay:
        now = time.time_ns()
        out.extend((now - int(t)) / 1e6 for t in np.unique(batch["ts_recv"]))
    return out


def _line(name: str, d: list[float]) -> str:
    q = statistics.quantiles(d, n=100)
    return f"  {name:<18} p50 {q[49]:7.3f} ms   p99 {q[98]:7.3f} ms   max {max(d):7.3f} ms   ({len(d)} batches)"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    gap_s = (float(sys.argv[2]) if len(sys.argv) > 2 else 2.0) / 1000
    print(f"live feed -> replay delivery: {n} batches of {ROWS} events, one every {gap_s * 1000:g} ms")
    for speed in (1.0, None):
        print(f"replay speed {'max' if speed is None else f'{speed:g}x'}:")
        for name, on_loop in (("thread (baseline)", False), ("loop", True)):
            print(_line(name, asyncio.run(_delays(on_loop, speed, n, gap_s))))


if __name__ == "__main__":
    main()
