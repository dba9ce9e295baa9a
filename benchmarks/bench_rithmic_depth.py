"""Rithmic market depth by order -> DOM levels: what our translation adds per message.

Run: ``.venv/bin/python benchmarks/bench_rithmic_depth.py [n_messages]`` (default 50,000). Figures
(per DepthByOrder message, microseconds, p50 / p99 over batches of 100, and messages per second):

* decode (baseline): parsing the frame into async-rithmic's ``DepthByOrder``, which the library
  does for every message anyway;
* ours: ``DepthBook.apply`` (orders -> per-price totals -> changed depth slots) plus the event rows;
* frame check: the session's look at each incoming frame for a ForcedLogout or a login answer
  (``watched_template``: a byte-string test, a decode only on a match), per frame of the stream.

The book: 40 prices a side, 5 orders each, around 5529.00; each message moves one order (NEW,
CHANGE or DELETE) within 20 ticks of the touch, so most change a visible level.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from async_rithmic.protocol_buffers import depth_by_order_pb2, response_depth_by_order_snapshot_pb2

from tapeflow.core.instruments import instrument
from tapeflow.feeds.live_rithmic import rows_to_events
from tapeflow.feeds.rithmic_depth import CHANGE, DELETE, NEW, DepthBook
from tapeflow.rithmic.session import watched_template

ES = instrument("ES")
BATCH = 100


def snapshot() -> list:
    rows = []
    for side, sign in ((1, -1), (2, 1)):
        for i in range(40):
            price = 5529.0 + sign * 0.25 * i + (0.25 if side == 2 else 0.0)
            ids = [f"{side}-{i}-{k}" for k in range(5)]
            rows.append(response_depth_by_order_snapshot_pb2.ResponseDepthByOrderSnapshot(
                template_id=116, symbol="ESZ6", exchange="CME", sequence_number=1, depth_side=side,
                depth_price=price, depth_size=[1 + k for k in range(5)], exchange_order_id=ids))
    return rows


def messages(n: int, rnd: random.Random) -> list[bytes]:
    live: dict[str, tuple[int, float]] = {f"{s}-{i}-{k}": (s, 5529.0 + (-1 if s == 1 else 1) * 0.25 * i
                                                           + (0.25 if s == 2 else 0.0))
                                          for s in (1, 2) for i in range(40) for k in range(5)}
    out = []
    for seq in range(2, n + 2):
        oid = rnd.choice(list(live)) if live and rnd.random() < 0.6 else f"n{seq}"
        side, price = live.get(oid, (rnd.choice((1, 2)), 0.0))
        if oid in live and rnd.random() < 0.5:
            kind, size = DELETE, 0
            del live[oid]
        else:
            kind = CHANGE if oid in live else NEW
            touch = 5529.0 if side == 1 else 5529.25
            price = touch + (-1 if side == 1 else 1) * 0.25 * rnd.randrange(20)
            size = rnd.randrange(1, 20)
            live[oid] = (side, price)
        msg = depth_by_order_pb2.DepthByOrder(
            template_id=160, symbol="ESZ6", exchange="CME", sequence_number=seq, update_type=[kind],
            transaction_type=[side], depth_price=[price], depth_size=[size], exchange_order_id=[oid],
            ssboe=1_719_878_400, usecs=seq % 1_000_000, source_ssboe=1_719_878_400, source_nsecs=seq)
        body = msg.SerializeToString()
        out.append(len(body).to_bytes(4, "big") + body)
    return out


def per_message_us(fn, frames: list) -> list[float]:
    out = []
    for i in range(0, len(frames), BATCH):
        chunk = frames[i:i + BATCH]
        t = time.perf_counter_ns()
        fn(chunk)
        out.append((time.perf_counter_ns() - t) / len(chunk) / 1000)
    return out


def show(name: str, us: list[float]) -> None:
    us = sorted(us)
    p50, p99 = statistics.median(us), us[min(len(us) - 1, int(len(us) * 0.99))]
    print(f"{name:<34} p50 {p50:7.2f} us  p99 {p99:7.2f} us  {1e6 / statistics.fmean(us):>12,.0f} msg/s")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    frames = messages(n, random.Random(7))
    decoded = []

    def decode(chunk: list[bytes]) -> None:
        for f in chunk:
            m = depth_by_order_pb2.DepthByOrder()
            m.ParseFromString(f[4:])
            decoded.append(m)

    book = DepthBook(ES, 10)
    book.load_snapshot(snapshot(), 0)
    it = iter(range(len(frames)))

    def ours(chunk: list[bytes]) -> None:
        rows = []
        for _ in chunk:
            rows.extend(book.apply(decoded[next(it)]))
        rows_to_events(rows)

    def frame_check(chunk: list[bytes]) -> None:
        for f in chunk:
            watched_template(f)

    print(f"{n:,} DepthByOrder messages, {len(frames[0])}-byte frames, book 40 prices x 5 orders a side")
    show("decode (library, baseline)", per_message_us(decode, frames))
    show("ours: DepthBook.apply + rows", per_message_us(ours, frames))
    show("frame check (ForcedLogout watch)", per_message_us(frame_check, frames))
    print(f"malformed: {dict(book.stats.malformed)}  levels now: bid {book.top(0)[:1]} ask {book.top(1)[:1]}")


if __name__ == "__main__":
    main()
