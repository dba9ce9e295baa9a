"""Seeded market simulator: realistic E-mini order flow as normalized event batches.

Why: the real recordings may not be redistributed, so the terminal ships this as its default
data; benchmarks use it as a load generator (millions of trades in seconds); tests use it for
invariants. It emits exactly what the adapters emit (``EVENT_DTYPE`` batches, prices in ticks,
UTC ns), so every consumer downstream is exercised the same way.

Model (all vectorized with numpy, per internal chunk of about 40k trades):

* **Arrivals**: a Hawkes process built by its cluster (branching) representation. Immigrants
  arrive as a Poisson process whose rate follows the ET trading day (quiet overnight, a premarket
  ramp from 08:30, a burst at the 09:30 RTH open decaying over ~20 min, a smaller burst into the
  16:00 close, nothing in the 17:00-18:00 halt or on weekends); each trade spawns
  Poisson(``branching``) children after an exponential delay (a fast millisecond kernel and a
  slow second kernel), generation by generation. This gives millisecond clusters separated by
  quiet seconds, as in the real tape.
* **Aggressor side**: alternating runs of geometric length; a slow bias (sum of sinusoids of
  periods 3-71 min) lengthens buy or sell runs so the flow trends for a while.
* **Size**: 1 lot with probability ``p_one``, otherwise ``2 * Pareto(alpha)`` floored (heavy
  tail, occasional blocks up to ``max_size``).
* **Price and book**: one-tick spread and ten levels per side. Each touch level has a capacity
  (resting size including refills); aggressive volume consumes it, and when it is gone the
  price ticks (bid/ask shift one level, the far level is drawn fresh, the new opposite touch is
  a small fresh queue). An order larger than what is left sweeps: it prints at each price, all
  at the same timestamp. Book thickness scales with activity ** 0.4, so the overnight book is thin.
  The price path is therefore driven only by the order flow.

Output per trade: a TRADE row, then a LEVEL row with the consumed touch's new size; at every
price change the 20 LEVEL rows of the shifted book (the receding side first, so the book is
never crossed after any row). The stream starts with a CLEAR and a 20-row SNAPSHOT book.

Defaults were calibrated (``benchmarks/sim_calibration.py``) against the two real files in
``../shared/data``: the overnight rate, trade sizes, inter-arrival clustering and ES touch sizes
against the ES mbp-1 file (2024-07-01 19:58 ET); the RTH midday rate, run lengths and the thin
NQ book against the NQ time-and-sales CSV (2025-10-20, ~12:08 ET).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from tapeflow.core.events import EVENT_DTYPE, LEVEL_UNKNOWN, Flag, Kind, Side
from tapeflow.core.instruments import ContractSymbol, Instrument, front_month, parse_symbol
from tapeflow.core.sessions import EASTERN, NS_PER_DAY, NS_PER_SECOND, session_for_date, sessions_between
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import FeedInfo, FeedStats

NS_PER_MINUTE = 60 * NS_PER_SECOND
LEVELS = 10
"""Book depth emitted per side."""

DEFAULT_DATE = date(2024, 7, 2)
"""Trading date of the default start (a Tuesday), so ``sim:`` is reproducible."""

_CHUNK_TRADES = 40_000  # expected trades per internal chunk: big enough to amortize numpy calls
_GRID_MINUTES = 360  # intensity grid looked ahead per chunk (minutes)
_INSTRUMENT_ID = 1


@dataclass(frozen=True, slots=True)
class SimParams:
    """Tunable knobs of the simulator (rates in trades/s, sizes in contracts, times in s)."""

    rth_rate: float = 9.0  # midday RTH trades/s
    eth_rate: float = 0.5  # overnight trades/s
    premarket_boost: float = 1.5  # extra share of eth_rate from 08:30 to 09:30 ET
    open_boost: float = 4.0  # extra multiple of rth_rate at 09:30, decaying
    open_decay_s: float = 1200.0
    close_boost: float = 1.5  # extra multiple of rth_rate at 16:00, growing into the close
    close_decay_s: float = 900.0
    branching: float = 0.8  # Hawkes branching ratio (children per trade)
    fast_kernel_s: float = 0.002  # mean delay of the fast (same-burst) kernel
    slow_kernel_s: float = 2.0  # mean delay of the slow kernel
    fast_share: float = 0.85  # share of children on the fast kernel
    mean_run: float = 2.9  # mean aggressor-side run length before the trend bias (trades)
    run_bias: float = 0.25  # max relative lengthening of runs on the trending side
    p_one: float = 0.6  # share of 1-lot trades
    size_alpha: float = 1.8  # Pareto tail exponent of the other trades
    max_size: int = 1000  # cap on one print (contracts)
    touch_size: float = 90.0  # mean RTH resting size at a touch level (contracts)
    depth_slope: float = 0.15  # deeper level k rests (1 + slope*k) times the touch size
    fresh_share: float = 0.45  # a just-formed touch level starts at this share of touch_size
    size_sigma: float = 0.6  # lognormal spread of level sizes
    start_price: int = 22_000  # ticks (5500.00 for ES)


PRESETS: dict[str, SimParams] = {
    "ES": SimParams(),
    "NQ": SimParams(
        p_one=0.95,
        size_alpha=2.5,
        max_size=300,
        touch_size=4.5,
        depth_slope=0.05,
        fresh_share=0.6,
        mean_run=3.6,
        start_price=100_000,
    ),
}
PRESETS["MES"] = PRESETS["ES"]
PRESETS["MNQ"] = PRESETS["NQ"]


@dataclass(slots=True)
class _Book:
    """Mutable book state carried between chunks (sizes in contracts, bid in ticks)."""

    bid: int
    bids: list[int]  # displayed size per level, 0 = best
    asks: list[int]
    cap_bid: int  # remaining capacity of the best bid
    cap_ask: int


class MarketSimulator:
    """A deterministic, finite ``EventSource`` of simulated order flow.

    ``start`` is UTC ns (int), an aware datetime, a naive datetime (read as US/Eastern) or a date
    (its 09:30 ET RTH open). The stream stops after ``duration_ns`` of market time or
    ``n_trades`` prints, whichever comes first; with neither it runs one hour. Iterating again
    replays the identical stream. ``batch_size`` counts rows and does not change the stream.
    """

    def __init__(
        self,
        seed: int = 0,
        instrument: str = "ES",
        start: int | datetime | date | None = None,
        duration_ns: int | None = None,
        n_trades: int | None = None,
        batch_size: int = 65_536,
        book: bool = True,
        params: SimParams | None = None,
    ) -> None:
        sym = parse_symbol(instrument)
        self.instrument: Instrument = sym.instrument
        self.seed = int(seed)
        self.start_ns = _start_ns(start)
        if duration_ns is None and n_trades is None:
            duration_ns = 60 * NS_PER_MINUTE
        if duration_ns is not None and duration_ns <= 0:
            raise TapeflowError(f"simulator duration must be positive, got {duration_ns} ns")
        if n_trades is not None and n_trades <= 0:
            raise TapeflowError(f"simulator trades must be positive, got {n_trades}")
        if batch_size <= 0:
            raise TapeflowError(f"simulator batch size must be positive, got {batch_size}")
        self.duration_ns = duration_ns
        self.n_trades = n_trades
        self.batch_size = int(batch_size)
        self.book = bool(book)
        self.params = params or PRESETS[self.instrument.root]
        self.symbol = _contract_code(sym, self.start_ns)
        end = None if duration_ns is None else self.start_ns + duration_ns
        self.info = FeedInfo(
            source=f"sim://?seed={self.seed}&symbol={self.instrument.root}",
            schema="simulated",
            instrument=self.instrument,
            symbols=[self.symbol],
            instrument_ids={_INSTRUMENT_ID: self.symbol},
            start_ns=self.start_ns,
            end_ns=end,
            notes=[f"simulated order flow, seed {self.seed}"],
        )
        self.stats = FeedStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Batches of ``batch_size`` rows (the last may be shorter), identical on every pass."""
        self.stats = FeedStats()
        buf: list[np.ndarray] = []
        have = 0
        for chunk in self._chunks():
            buf.append(chunk)
            have += len(chunk)
            if have < self.batch_size:
                continue
            joined = _concat(buf)
            cut = len(joined) - len(joined) % self.batch_size
            for i in range(0, cut, self.batch_size):
                yield self._counted(joined[i : i + self.batch_size])
            buf, have = [joined[cut:]], len(joined) - cut
        if have:
            yield self._counted(_concat(buf))

    def _counted(self, batch: np.ndarray) -> np.ndarray:
        self.stats.records += len(batch)
        self.stats.count_batch(batch)
        return batch

    def _chunks(self) -> Iterator[np.ndarray]:
        """Internal chunks of rows, cut to the duration / trade limits, sequence-numbered."""
        gen = _Generator(self.params, self.instrument, self.seed, self.start_ns, self.book)
        end_ns = None if self.duration_ns is None else self.start_ns + self.duration_ns
        trades_left = self.n_trades
        seq = 0
        first = True
        while True:
            opening = gen.opening_book() if first and self.book else None
            rows = gen.next_chunk(end_ns)
            if opening is not None:
                rows = _concat([opening, rows])
            first = False
            if end_ns is not None:
                rows = rows[: int(np.searchsorted(rows["ts_event"], end_ns))]
            done = gen.t_ns >= end_ns if end_ns is not None else False
            if trades_left is not None:
                is_trade = rows["kind"] == Kind.TRADE
                n = int(is_trade.sum())
                if n >= trades_left:
                    rows = rows[: _cut_after_nth_trade(rows, is_trade, trades_left)]
                    done = True
                trades_left -= n
            rows["sequence"] = (np.arange(seq, seq + len(rows)) % 2**32).astype(np.uint32)
            seq += len(rows)
            if len(rows):
                yield rows
            if done:
                return


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate event arrays into a zeroed buffer.

    ``np.concatenate`` copies structured rows field by field and leaves the dtype's padding
    bytes uninitialized; zeroing first keeps the output byte-identical for the same seed.
    """
    if len(parts) == 1:
        return parts[0]
    out = np.zeros(sum(len(p) for p in parts), dtype=EVENT_DTYPE)
    i = 0
    for p in parts:
        out[i : i + len(p)] = p
        i += len(p)
    return out


def _cut_after_nth_trade(rows: np.ndarray, is_trade: np.ndarray, n: int) -> int:
    """Row count that keeps the first ``n`` trades and the book rows that belong to the n-th."""
    trade_pos = np.flatnonzero(is_trade)
    if n < len(trade_pos):
        return int(trade_pos[n])
    return len(rows)


def _start_ns(start: int | datetime | date | None) -> int:
    """Normalize the ``start`` argument to UTC ns (naive datetimes are US/Eastern)."""
    if start is None:
        return session_for_date(DEFAULT_DATE).rth_open_ns
    if isinstance(start, bool):
        raise TapeflowError(f"bad simulator start {start!r}")
    if isinstance(start, int | np.integer):
        return int(start)
    if isinstance(start, datetime):
        aware = start if start.tzinfo else start.replace(tzinfo=EASTERN)
        return int(aware.timestamp()) * NS_PER_SECOND + aware.microsecond * 1000
    if isinstance(start, date):
        return session_for_date(start).rth_open_ns
    raise TapeflowError(f"bad simulator start {start!r} (expected UTC ns, a datetime or a date)")


def _contract_code(sym: ContractSymbol, start_ns: int) -> str:
    """A dated contract code (``ESU4``) for the front month at the start, unless one was given."""
    if sym.month is not None:
        return sym.code
    d = datetime.fromtimestamp(start_ns / NS_PER_SECOND, tz=EASTERN).date()
    year, month = front_month(d)
    return ContractSymbol(sym.instrument, month=month, year=year).code


# --------------------------------------------------------------------------- intensity


def trade_rate(ts_ns: np.ndarray, p: SimParams) -> np.ndarray:
    """Expected trades per second at each timestamp (0 in the daily halt and at weekends)."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    if len(ts) == 0:
        return np.zeros(0)
    # sessions are looked up here rather than with label_sessions, which fails on a batch that
    # lies entirely in a halt or weekend (no session overlaps it)
    sessions = sessions_between(int(ts.min()) - 4 * NS_PER_DAY, int(ts.max()))
    opens = np.array([s.eth_open_ns for s in sessions], dtype=np.int64)
    idx = np.searchsorted(opens, ts, side="right") - 1
    s_close = np.array([s.eth_close_ns for s in sessions], dtype=np.int64)[idx]
    rth_open = np.array([s.rth_open_ns for s in sessions], dtype=np.int64)[idx]
    rth_close = np.array([s.rth_close_ns for s in sessions], dtype=np.int64)[idx]
    since_open = (ts - rth_open) / NS_PER_SECOND
    to_close = (rth_close - ts) / NS_PER_SECOND
    rth = p.rth_rate * (
        1.0
        + p.open_boost * np.exp(-np.maximum(since_open, 0.0) / p.open_decay_s)
        + p.close_boost * np.exp(-np.maximum(to_close, 0.0) / p.close_decay_s)
    )
    premarket = (since_open >= -3600) & (since_open < 0)
    eth = p.eth_rate * (1.0 + p.premarket_boost * premarket)
    is_rth = (since_open >= 0) & (to_close > 0)
    return np.where(ts < s_close, np.where(is_rth, rth, eth), 0.0)


# --------------------------------------------------------------------------- generator


class _Generator:
    """Chunk-by-chunk state: time cursor, pending Hawkes children, side run, book."""

    def __init__(self, p: SimParams, inst: Instrument, seed: int, start_ns: int, book: bool) -> None:
        self.p = p
        self.inst = inst
        self.rng = np.random.default_rng(seed)
        self.t_ns = start_ns
        self.start_ns = start_ns
        self.with_book = book
        self.pending = np.zeros(0, dtype=np.int64)
        self.last_side = int(Side.BUY)
        self.depth_scale = 1.0
        phases = self.rng.uniform(0, 2 * np.pi, 3)
        self.bias_phases = phases
        self.book = self._initial_book()

    # ---- book helpers

    def _level_sizes(self, n: int, level: np.ndarray | int, scale: float) -> np.ndarray:
        """Lognormal resting sizes (contracts, >= 1) for levels at depth ``level``."""
        p = self.p
        mean = p.touch_size * scale * (1.0 + p.depth_slope * np.asarray(level))
        sig = p.size_sigma
        x = mean * self.rng.lognormal(-0.5 * sig * sig, sig, n)
        return np.maximum(1, np.rint(x)).astype(np.int64)

    def _initial_book(self) -> _Book:
        scale = self._scale_at(self.start_ns)
        self.depth_scale = scale
        lv = np.arange(LEVELS)
        bids = self._level_sizes(LEVELS, lv, scale).tolist()
        asks = self._level_sizes(LEVELS, lv, scale).tolist()
        return _Book(self.p.start_price, bids, asks, bids[0], asks[0])

    def _scale_at(self, ts_ns: int) -> float:
        """Book thickness relative to midday RTH: (relative activity) ** 0.4, at least 0.1."""
        r = float(trade_rate(np.array([ts_ns]), self.p)[0])
        return max(0.1, (r / self.p.rth_rate) ** 0.4) if r > 0 else self.depth_scale

    def opening_book(self) -> np.ndarray:
        """CLEAR plus the 20-row snapshot of the starting book, at the start time."""
        b = self.book
        rows = np.zeros(1 + 2 * LEVELS, dtype=EVENT_DTYPE)
        rows["ts_event"] = self.start_ns
        rows["ts_recv"] = self.start_ns
        rows["instrument_id"] = _INSTRUMENT_ID
        rows["flags"] = Flag.SNAPSHOT
        rows[0]["kind"] = Kind.CLEAR
        rows[0]["action"] = ord("R")
        lv = rows[1:]
        lv["kind"] = Kind.LEVEL
        lv["action"] = ord("U")
        lv["level"] = np.tile(np.arange(LEVELS), 2)
        lv["side"] = np.repeat([Side.BUY, Side.SELL], LEVELS)
        lv["price"] = np.r_[b.bid - np.arange(LEVELS), b.bid + 1 + np.arange(LEVELS)]
        lv["size"] = np.r_[b.bids, b.asks]
        lv["count"] = _order_count(lv["size"])
        rows[-1]["flags"] |= Flag.LAST
        return rows

    # ---- chunk

    def next_chunk(self, end_ns: int | None) -> np.ndarray:
        """Rows for the next slice of market time (may be empty during the halt / weekend)."""
        ts = self._arrivals(end_ns)
        n = len(ts)
        if n == 0:
            return np.zeros(0, dtype=EVENT_DTYPE)
        side = self._sides(ts)
        size = self._sizes(n)
        return self._book_and_rows(ts, side, size)

    def _arrivals(self, end_ns: int | None) -> np.ndarray:
        """Sorted trade timestamps in [t_ns, chunk end); children past the end stay pending."""
        p = self.p
        grid = self.t_ns + np.arange(_GRID_MINUTES + 1, dtype=np.int64) * NS_PER_MINUTE
        rate = trade_rate(grid[:-1], p)
        expected = np.cumsum(rate * 60.0)
        k = int(np.searchsorted(expected, _CHUNK_TRADES)) + 1
        k = min(k, _GRID_MINUTES)
        if end_ns is not None:
            k = min(k, max(1, -(-(end_ns - self.t_ns) // NS_PER_MINUTE)))
        chunk_end = int(grid[k])
        counts = self.rng.poisson(rate[:k] * 60.0 * (1.0 - p.branching))
        base = np.repeat(grid[:k], counts)
        imm = base + (self.rng.random(len(base)) * NS_PER_MINUTE).astype(np.int64)
        allts = np.concatenate([self.pending, imm, self._descendants(imm)])
        allts.sort(kind="stable")
        cut = int(np.searchsorted(allts, chunk_end))
        out, self.pending = allts[:cut], allts[cut:]
        self.t_ns = chunk_end
        if len(out):
            out = out[trade_rate(out, p) > 0]  # children that fell into the halt are dropped
        scale_probe = grid[min(k // 2, len(grid) - 1)]
        self.depth_scale = self._scale_at(int(scale_probe))
        return out

    def _descendants(self, parents: np.ndarray) -> np.ndarray:
        """All Hawkes descendants of ``parents``, generation by generation (vectorized)."""
        p = self.p
        out = []
        gen = parents
        for _ in range(400):
            if len(gen) == 0:
                break
            kids = self.rng.poisson(p.branching, len(gen))
            born = np.repeat(gen, kids)
            fast = self.rng.random(len(born)) < p.fast_share
            mean = np.where(fast, p.fast_kernel_s, p.slow_kernel_s) * NS_PER_SECOND
            born = born + (self.rng.exponential(1.0, len(born)) * mean).astype(np.int64)
            out.append(born)
            gen = born
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def _sides(self, ts: np.ndarray) -> np.ndarray:
        """Aggressor sides as alternating geometric runs, lengthened on the trending side."""
        p = self.p
        n = len(ts)
        n_runs = int(n / p.mean_run * 1.5) + 16
        first = -self.last_side
        run_side = first * np.where(np.arange(n_runs) % 2 == 0, 1, -1)
        probe = np.minimum((np.arange(n_runs) * p.mean_run).astype(np.int64), n - 1)
        bias = self._bias(ts[probe])
        mean_len = np.maximum(1.0, p.mean_run * (1.0 + p.run_bias * bias * run_side))
        lengths = self.rng.geometric(1.0 / mean_len)
        while lengths.sum() < n:  # rare: runs came out short; extend with unbiased runs
            extra = self.rng.geometric(1.0 / p.mean_run, n_runs)
            lengths = np.concatenate([lengths, extra])
            run_side = np.concatenate([run_side, run_side[-1] * np.where(np.arange(n_runs) % 2 == 0, -1, 1)])
        side = np.repeat(run_side, lengths)[:n].astype(np.int8)
        self.last_side = int(side[-1])
        return side

    def _bias(self, ts: np.ndarray) -> np.ndarray:
        """Slow buy(+)/sell(-) pressure in [-1, 1]: sinusoids with periods of 3, 17 and 71 minutes."""
        t = (ts - self.start_ns) / NS_PER_SECOND
        periods = np.array([180.0, 1020.0, 4260.0])
        waves = np.sin(2 * np.pi * t[:, None] / periods + self.bias_phases)
        return waves.mean(axis=1)

    def _sizes(self, n: int) -> np.ndarray:
        """Trade sizes: 1 lot or a floored Pareto tail starting at 2 (contracts)."""
        p = self.p
        one = self.rng.random(n) < p.p_one
        tail = np.floor(2.0 * self.rng.random(n) ** (-1.0 / p.size_alpha))
        return np.where(one, 1, np.minimum(tail, p.max_size)).astype(np.int64)

    def _book_and_rows(self, ts: np.ndarray, side: np.ndarray, size: np.ndarray) -> np.ndarray:
        walk = _walk_book(self.book, side, size, self._draws(len(ts)), self.with_book)
        return _assemble(ts, side, size, walk, self.with_book, self.rng)

    def _draws(self, n: int) -> _Draws:
        """Random level sizes the price walk may need (far levels and fresh touch queues)."""
        m = max(64, n // 4)
        scale = self.depth_scale
        deep = self._level_sizes(m, LEVELS - 1, scale)
        fresh = np.maximum(1, np.rint(self._level_sizes(m, 0, scale) * self.p.fresh_share)).astype(np.int64)
        return _Draws(deep.tolist(), fresh.tolist(), self)


@dataclass(slots=True)
class _Draws:
    """Pre-drawn far-level and fresh-touch sizes for the walk (it asks ``gen`` for more if short)."""

    deep: list[int]
    fresh: list[int]
    gen: _Generator


@dataclass(slots=True)
class _Walk:
    """What the price walk decided for a chunk of trades.

    Moves: one entry per price change (``j`` trade index, ``up``, ``part`` contracts of trade j
    printed at the level just consumed, ``bid`` after the move, ``snap`` 20 sizes after it).
    Segments: the touch state after the last move at a trade (segment 0 is the chunk start):
    ``seg_j`` trade that opened it, buy/sell volume bases and capacities, and the bid.
    """

    move_j: list[int]
    move_up: list[bool]
    move_part: list[int]
    move_bid: list[int]
    snaps: list[int]
    seg_j: list[int]
    base_buy: list[int]
    cap_ask: list[int]
    base_sell: list[int]
    cap_bid: list[int]
    seg_bid: list[int]
    cum_buy: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cum_sell: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _walk_book(book: _Book, side: np.ndarray, size: np.ndarray, draws: _Draws, snaps: bool) -> _Walk:
    """Consume touch queues with the aggressive flow; tick the price when a queue is gone.

    The loop runs once per price change, not per trade: ``bisect`` over the cumulative buy and
    sell volume finds the next trade that exhausts a touch. On a tick up the ask levels move one
    slot towards the touch (a fresh far level is drawn) and a fresh small bid forms at the old
    ask price; a tick down is the mirror image. ``snaps`` records the book after every move.
    """
    buy_vol = np.where(side > 0, size, 0)
    cum_buy_a = np.cumsum(buy_vol)
    cum_sell_a = np.cumsum(size - buy_vol)
    cum_buy, cum_sell = cum_buy_a.tolist(), cum_sell_a.tolist()
    sizes = size.tolist()
    n = len(sizes)
    w = _Walk([], [], [], [], [], [-1], [0], [book.cap_ask], [0], [book.cap_bid], [book.bid])
    move_j, move_up, move_part, move_bid, snap = w.move_j, w.move_up, w.move_part, w.move_bid, w.snaps
    deep, fresh, k = draws.deep, draws.fresh, 0
    bid, bids, asks, cap_a, cap_b = book.bid, book.bids, book.asks, book.cap_ask, book.cap_bid
    base_b = base_s = lo = 0
    while lo < n:
        ja = bisect_left(cum_buy, base_b + cap_a, lo)
        jb = bisect_left(cum_sell, base_s + cap_b, lo)
        j = ja if ja < jb else jb
        if j >= n:
            break
        up = ja < jb
        if up:
            over = cum_buy[j] - base_b - cap_a
            bids[0] = max(0, cap_b - (cum_sell[j] - base_s))
        else:
            over = cum_sell[j] - base_s - cap_b
            asks[0] = max(0, cap_a - (cum_buy[j] - base_b))
        part = sizes[j] - over
        while True:
            if k >= len(deep):
                more = draws.gen._draws(2 * len(deep))
                deep, fresh, k = more.deep, more.fresh, 0
            if up:
                bid += 1
                asks = [*asks[1:], deep[k]]
                bids = [fresh[k], *bids[:-1]]
                cap = asks[0]
            else:
                bid -= 1
                bids = [*bids[1:], deep[k]]
                asks = [fresh[k], *asks[:-1]]
                cap = bids[0]
            k += 1
            move_j.append(j)
            move_up.append(up)
            move_part.append(part)
            move_bid.append(bid)
            if snaps:
                snap.extend(bids)
                snap.extend(asks)
            if over < cap:
                break
            part, over = cap, over - cap
        if up:
            base_b, cap_a = cum_buy[j] - over, asks[0]
            base_s, cap_b = cum_sell[j], bids[0]
        else:
            base_s, cap_b = cum_sell[j] - over, bids[0]
            base_b, cap_a = cum_buy[j], asks[0]
        w.seg_j.append(j)
        w.base_buy.append(base_b)
        w.cap_ask.append(cap_a)
        w.base_sell.append(base_s)
        w.cap_bid.append(cap_b)
        w.seg_bid.append(bid)
        lo = j + 1
    # carry the remaining capacities into the next chunk (its cumulative volume restarts at 0)
    book.cap_ask = max(1, cap_a - (cum_buy[-1] - base_b))
    book.cap_bid = max(1, cap_b - (cum_sell[-1] - base_s))
    asks[0], bids[0] = book.cap_ask, book.cap_bid
    book.bid, book.bids, book.asks = bid, bids, asks
    w.cum_buy, w.cum_sell = cum_buy_a, cum_sell_a
    return w


def _order_count(size: np.ndarray) -> np.ndarray:
    """Orders resting at a level: about one per 1.4 contracts (ES mbp-1 touch: 13 orders / 19 lots)."""
    return np.where(size > 0, np.maximum(1, (size * 0.7).astype(np.int64)), 0)


def _assemble(
    ts: np.ndarray, side: np.ndarray, size: np.ndarray, w: _Walk, with_book: bool, rng: np.random.Generator
) -> np.ndarray:
    """Lay out TRADE and LEVEL rows of a chunk in time order without sorting.

    Per trade: for each price change it caused, the print at the consumed level plus 20 book
    rows; then the print of what is left (if anything) plus one touch-size row.
    """
    n = len(ts)
    mj = np.asarray(w.move_j, dtype=np.int64)
    mup = np.asarray(w.move_up, dtype=bool)
    mpart = np.asarray(w.move_part, dtype=np.int64)
    mbid = np.asarray(w.move_bid, dtype=np.int64)
    n_moves = np.bincount(mj, minlength=n)
    rest = size - np.bincount(mj, weights=mpart, minlength=n).astype(np.int64)
    has_rest = rest > 0
    per_move = 1 + 2 * LEVELS if with_book else 1
    per_rest = 2 if with_book else 1
    rows_per = n_moves * per_move + has_rest * per_rest
    end = np.cumsum(rows_per)
    start = end - rows_per
    out = np.zeros(int(end[-1]), dtype=EVENT_DTYPE)
    out["instrument_id"] = _INSTRUMENT_ID
    out["ts_event"] = np.repeat(ts, rows_per)
    out["flags"][end[rows_per > 0] - 1] = Flag.LAST

    # the print of what is left after the trade's own price changes (most trades: all of it)
    seg = np.searchsorted(np.asarray(w.seg_j[1:], dtype=np.int64), np.arange(n), side="right")
    bid = np.asarray(w.seg_bid, dtype=np.int64)[seg]
    buy = side > 0
    ri = np.flatnonzero(has_rest)
    rpos = start[ri] + n_moves[ri] * per_move
    _put_trades(out, rpos, np.where(buy, bid + 1, bid)[ri], rest[ri], side[ri])
    if with_book:
        cap_ask = np.asarray(w.cap_ask, dtype=np.int64)[seg]
        cap_bid = np.asarray(w.cap_bid, dtype=np.int64)[seg]
        left_ask = cap_ask - (w.cum_buy - np.asarray(w.base_buy, dtype=np.int64)[seg])
        left_bid = cap_bid - (w.cum_sell - np.asarray(w.base_sell, dtype=np.int64)[seg])
        left = np.where(buy, left_ask, left_bid)[ri]
        touch_px = np.where(buy, bid + 1, bid)[ri]
        _put_levels(out, rpos + 1, np.where(buy[ri], Side.SELL, Side.BUY), 0, touch_px, left)

    if len(mj):
        first_of_j = np.searchsorted(mj, mj, side="left")
        mpos = start[mj] + (np.arange(len(mj)) - first_of_j) * per_move
        move_px = np.where(mup, mbid, mbid + 1)
        _put_trades(out, mpos, move_px, mpart, np.where(mup, Side.BUY, Side.SELL))
        if with_book:
            _put_snapshots(
                out, mpos + 1, mup, mbid, np.asarray(w.snaps, dtype=np.int64).reshape(-1, 2, LEVELS)
            )
    lat = rng.lognormal(np.log(20_000.0), 0.5, len(out)).astype(np.int64)  # ~20 us capture latency
    out["ts_recv"] = out["ts_event"] + lat
    return out


def _put_trades(
    out: np.ndarray, pos: np.ndarray, price: np.ndarray, size: np.ndarray, side: np.ndarray
) -> None:
    out["kind"][pos] = Kind.TRADE
    out["action"][pos] = ord("T")
    out["price"][pos] = price
    out["size"][pos] = size
    out["side"][pos] = side
    out["level"][pos] = LEVEL_UNKNOWN


def _put_levels(
    out: np.ndarray,
    pos: np.ndarray,
    side: np.ndarray,
    level: int | np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
) -> None:
    out["kind"][pos] = Kind.LEVEL
    out["action"][pos] = ord("U")
    out["side"][pos] = side
    out["level"][pos] = level
    out["price"][pos] = price
    out["size"][pos] = size
    out["count"][pos] = _order_count(np.asarray(size))


def _put_snapshots(
    out: np.ndarray, pos: np.ndarray, up: np.ndarray, bid: np.ndarray, snaps: np.ndarray
) -> None:
    """20 LEVEL rows per price change; the side that receded first so the book never crosses."""
    lv = np.arange(LEVELS)
    bid_px = bid[:, None] - lv
    ask_px = bid[:, None] + 1 + lv
    # row block order: up move -> asks then bids; down move -> bids then asks
    first_is_bid = ~up
    blk_a = np.where(first_is_bid, 1, 0)[:, None] * LEVELS
    blk_b = np.where(first_is_bid, 0, 1)[:, None] * LEVELS
    bid_pos = (pos[:, None] + blk_b + lv).ravel()
    ask_pos = (pos[:, None] + blk_a + lv).ravel()
    _put_levels(
        out,
        bid_pos,
        np.full(len(bid_pos), Side.BUY),
        np.tile(lv, len(pos)),
        bid_px.ravel(),
        snaps[:, 0].ravel(),
    )
    _put_levels(
        out,
        ask_pos,
        np.full(len(ask_pos), Side.SELL),
        np.tile(lv, len(pos)),
        ask_px.ravel(),
        snaps[:, 1].ravel(),
    )


# --------------------------------------------------------------------------- spec parsing

_PRESET_TIMES = {"": None, "rth": time(9, 30), "open": time(9, 20), "eth": time(18, 0), "close": time(15, 30)}


def open_simulator(spec: str, symbol: str | None = None) -> MarketSimulator:
    """A simulator from a ``sim:`` spec (what ``feeds/open.py`` calls).

    Form: ``sim:`` or ``sim://[preset]?key=value&...``. Presets pick the ET start time: ``rth``
    (09:30, the default), ``open`` (09:20, just before the open burst), ``close`` (15:30) and
    ``eth`` (18:00 the evening before the trading date). Keys:

    * ``seed`` (int, default 0)
    * ``minutes`` / ``seconds`` (float > 0): market time to generate (default 60 minutes)
    * ``trades`` (int > 0): stop after this many prints (with ``minutes``: whichever is first)
    * ``symbol`` (``ES``, ``MES``, ``NQ``, ``MNQ`` or a contract like ``ESU4``; ``symbol=`` wins)
    * ``date`` (``YYYY-MM-DD`` trading date, default 2024-07-02), ``time`` (``HH:MM[:SS]`` ET)
    * ``batch`` (int > 0, rows per batch), ``book`` (``1``/``0``/``true``/``false``)
    * ``price`` (start price in index points, on the tick grid, e.g. ``5500.25``)

    Unknown keys and bad values raise ``TapeflowError`` naming the key.
    """
    parts = urlsplit(spec.strip())
    if parts.scheme.lower() != "sim":
        raise TapeflowError(f"not a simulator spec: {spec!r} (expected sim: or sim://...)")
    preset = (parts.netloc or parts.path.strip("/")).lower()
    if preset not in _PRESET_TIMES:
        raise TapeflowError(f"unknown simulator preset {preset!r} in {spec!r}; known: rth, open, close, eth")
    opts = _parse_query(parts.query, spec)
    root = symbol or opts.pop("symbol", "ES")
    inst = parse_symbol(root).instrument
    trading_date = opts.pop("date", DEFAULT_DATE)
    at = opts.pop("time", _PRESET_TIMES[preset])
    start: datetime | date = trading_date
    if at is not None:  # 18:00 ET and later belongs to the evening before the trading date
        day = trading_date - timedelta(days=1) if at >= time(18, 0) else trading_date
        start = datetime.combine(day, at)
    minutes = opts.pop("minutes", None)
    seconds = opts.pop("seconds", None)
    duration = None
    if minutes is not None or seconds is not None:
        duration = int(((minutes or 0.0) * 60 + (seconds or 0.0)) * NS_PER_SECOND)
    params = PRESETS[inst.root]
    if "price" in opts:
        raw = opts.pop("price")
        try:
            params = replace(params, start_price=inst.to_ticks(raw))
        except TapeflowError as e:
            raise TapeflowError(f"bad simulator parameter price={raw!r} in {spec!r}: {e}") from None
    return MarketSimulator(
        seed=opts.pop("seed", 0),
        instrument=root,
        start=start,
        duration_ns=duration,
        n_trades=opts.pop("trades", None),
        batch_size=opts.pop("batch", 65_536),
        book=opts.pop("book", True),
        params=params,
    )


def _parse_query(query: str, spec: str) -> dict:
    """Typed options of a spec's query string; errors name the offending key."""
    out: dict = {}
    for key, raw in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        k = key.lower()
        parser = _OPTION_PARSERS.get(k)
        if parser is None:
            known = ", ".join(sorted(_OPTION_PARSERS))
            raise TapeflowError(f"unknown simulator parameter {key!r} in {spec!r}; known: {known}")
        try:
            out[k] = parser(raw)
        except (ValueError, TapeflowError) as e:
            raise TapeflowError(f"bad simulator parameter {key}={raw!r} in {spec!r}: {e}") from None
    return out


def _positive_int(raw: str) -> int:
    v = int(raw)
    if v <= 0:
        raise ValueError("must be a positive integer")
    return v


def _positive_float(raw: str) -> float:
    v = float(raw)
    if not math.isfinite(v) or v <= 0:
        raise ValueError("must be a positive number")
    return v


def _nonneg_int(raw: str) -> int:
    v = int(raw)
    if v < 0:
        raise ValueError("must be a non-negative integer")
    return v


def _boolean(raw: str) -> bool:
    s = raw.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0/true/false")


def _symbol(raw: str) -> str:
    parse_symbol(raw)
    return raw


def _price(raw: str) -> str:
    if float(raw) <= 0:
        raise ValueError("must be a positive price")
    return raw


_OPTION_PARSERS = {
    "seed": _nonneg_int,
    "minutes": _positive_float,
    "seconds": _positive_float,
    "trades": _positive_int,
    "symbol": _symbol,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "batch": _positive_int,
    "book": _boolean,
    "price": _price,
}
