"""Vectorized footprint build for whole files (numpy, no per-trade Python).

The per-trade work is a handful of array passes: group boundaries by ``searchsorted``, per-bar
low/high by ``reduceat``, and one weighted ``bincount`` over (tick row, side) keys that returns
volume and print count together. Everything after that runs over bars or tick rows, which are
orders of magnitude fewer than trades. :mod:`tapeflow.flow.footprint_stream` must give identical
bars; tests check that on real and random data.
"""

from __future__ import annotations

import numpy as np

from tapeflow.core.events import TradeColumns, trade_columns
from tapeflow.core.sessions import label_ordinals
from tapeflow.flow.bars import BarKind, BarSpec
from tapeflow.flow.delta import CumReset, cumulative_delta, reset_keys
from tapeflow.flow.footprint import FootprintBars
from tapeflow.flow.span import MAX_SPAN_TICKS, check_span
from tapeflow.flow.value_area import DEFAULT_VALUE_AREA, DEFAULT_VALUE_AREA_METHOD, segment_poc, segment_value_area

_PACK = 1 << 24  # bincount weight = size + _PACK: low 24 bits volume, high bits print count


def build_footprint(
    events: np.ndarray | TradeColumns,
    spec: BarSpec,
    *,
    value_area: float = DEFAULT_VALUE_AREA,
    value_area_method: str = DEFAULT_VALUE_AREA_METHOD,
    cum_reset: CumReset = CumReset.SESSION,
) -> FootprintBars:
    """Footprint bars of every trade in ``events``: EVENT_DTYPE rows (book rows move the clock that
    cuts bars, as in ``FootprintBuilder``), or trade columns (their own times are the clock)."""
    cols = events if isinstance(events, TradeColumns) else trade_columns(events, clocked=True)
    if len(cols) == 0:
        return FootprintBars.empty(spec)
    ts = np.maximum.accumulate(cols.ts_event)
    price, size, side = cols.price, cols.size, cols.side
    if spec.kind is BarKind.TIME:
        starts, bar_key = _time_groups(ts, spec.size)
        start_ns = bar_key * spec.size
    else:
        session_of_trade, _ = label_ordinals(ts)
        if spec.kind is BarKind.VOLUME:
            ts, price, size, side, session_of_trade = _split_for_volume(
                ts, price, size, side, session_of_trade, spec.size
            )
            starts = _volume_groups(size, session_of_trade, spec.size)
        else:
            starts = _tick_groups(session_of_trade, spec.size)
        start_ns = ts[starts]
    va = (value_area, value_area_method)
    return _aggregate(spec, ts, price, size, side, starts, start_ns, va, cum_reset)


def _time_groups(ts: np.ndarray, bar_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """First trade index of each non-empty time bar, and the bar's epoch-aligned number."""
    k0, k1 = int(ts[0]) // bar_ns, int(ts[-1]) // bar_ns
    if k1 - k0 <= 4 * len(ts) + 1024:
        keys = np.arange(k0, k1 + 1, dtype=np.int64)
        pos = np.searchsorted(ts, keys * bar_ns)
        nonempty = np.r_[pos[1:], len(ts)] > pos
        return pos[nonempty], keys[nonempty]
    key = ts // bar_ns  # sparse data over a long span: one division per trade is cheaper
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return starts, key[starts]


def _tick_groups(session: np.ndarray, n_prints: int) -> np.ndarray:
    """Bars of ``n_prints`` prints, restarting at each session change."""
    seg_start = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
    seg_len = np.diff(np.r_[seg_start, len(session)])
    return np.concatenate([np.arange(s, s + ln, n_prints) for s, ln in zip(seg_start, seg_len, strict=True)])


def _split_for_volume(ts, price, size, side, session, bar_volume):
    """Split prints that straddle a volume-bar boundary so each bar holds exactly ``bar_volume``."""
    cs = np.cumsum(size)
    seg_first = np.r_[True, session[1:] != session[:-1]]
    seg_id = np.cumsum(seg_first) - 1
    seg_base = (cs - size)[seg_first][seg_id]
    v_end = cs - seg_base
    v_start = v_end - size
    pieces = (v_end - 1) // bar_volume - v_start // bar_volume + 1
    if np.all(pieces == 1):
        return ts, price, size, side, session
    src = np.repeat(np.arange(len(size)), pieces)
    first_piece = np.r_[0, np.cumsum(pieces)[:-1]]
    k = np.arange(len(src)) - np.repeat(first_piece, pieces)
    bar = v_start[src] // bar_volume + k
    lo = np.maximum(v_start[src], bar * bar_volume)
    hi = np.minimum(v_end[src], (bar + 1) * bar_volume)
    return ts[src], price[src], hi - lo, side[src], session[src]


def _volume_groups(size: np.ndarray, session: np.ndarray, bar_volume: int) -> np.ndarray:
    """Bar starts once prints are split: a new bar where the session changes or a bar fills."""
    cs = np.cumsum(size)
    seg_first = np.r_[True, session[1:] != session[:-1]]
    seg_id = np.cumsum(seg_first) - 1
    v_start = (cs - size) - (cs - size)[seg_first][seg_id]
    return np.flatnonzero(seg_first | (v_start % bar_volume == 0))


def _aggregate(spec, ts, price, size, side, starts, start_ns, va, cum_reset) -> FootprintBars:
    """``va``: (value-area fraction, method)."""
    n = len(price)
    ends = np.r_[starts[1:], n]
    low = np.minimum.reduceat(price, starts)
    high = np.maximum.reduceat(price, starts)
    volume = np.add.reduceat(size, starts)
    widest = int(np.argmax(high - low))
    if high[widest] - low[widest] >= MAX_SPAN_TICKS:
        check_span(int(low[widest]), int(high[widest]), "a footprint bar")
    offsets = np.zeros(len(starts) + 1, np.int64)
    np.cumsum(high - low + 1, out=offsets[1:])
    rows = _RowAccumulator(int(offsets[-1]), packed=int(volume.max()) < _PACK)
    row_base = offsets[:-1] - low  # tick row of a print = price + row_base[its bar]
    run_min, run_max, delta = _chunked_rows_and_delta(price, size, side, starts, row_base, offsets, rows)
    bid, ask, unknown, count = rows.columns()
    total = bid + ask + unknown
    poc_rel = segment_poc(total, offsets)
    va_lo, va_hi = segment_value_area(total, offsets, poc_rel, *va)
    end_ns = ts[ends - 1]
    session, rth_open = label_ordinals(end_ns)
    return FootprintBars(
        spec=spec,
        start_ns=np.asarray(start_ns, np.int64),
        end_ns=end_ns,
        open=price[starts],
        high=high,
        low=low,
        close=price[ends - 1],
        volume=volume,
        delta=delta,
        min_delta=run_min,
        max_delta=run_max,
        trades=(ends - starts).astype(np.int64),
        unknown_volume=np.add.reduceat(unknown, offsets[:-1]),
        poc=low + poc_rel,
        val=low + va_lo,
        vah=low + va_hi,
        cum_delta=cumulative_delta(delta, reset_keys(session, end_ns, rth_open, cum_reset)),
        session=session,
        level_offsets=offsets,
        bid=bid,
        ask=ask,
        unknown=unknown,
        count=count,
    )


class _RowAccumulator:
    """Per tick row and side: volume and print count, summed chunk by chunk with bincount.

    Keys are ``row * 4 + (side & 3)``: side -1 -> 3 (bid), 1 -> 1 (ask), 0 -> 0 (no aggressor).
    When every bar is under 2**24 contracts, one weighted bincount carries both figures
    (weight = size + 2**24); otherwise volume and count are counted separately.
    """

    def __init__(self, n_rows: int, *, packed: bool) -> None:
        self.packed = packed
        self.vol = np.zeros(4 * n_rows, np.int64)
        self.cnt = None if packed else np.zeros(4 * n_rows, np.int64)

    def add(self, key: np.ndarray, size: np.ndarray, k0: int, k1: int) -> None:
        local = key - k0
        if self.packed:
            packed = np.bincount(local, weights=size + float(_PACK), minlength=k1 - k0)
            self.vol[k0:k1] += packed.astype(np.int64)
        else:
            self.vol[k0:k1] += np.bincount(local, weights=size, minlength=k1 - k0).astype(np.int64)
            self.cnt[k0:k1] += np.bincount(local, minlength=k1 - k0)

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.packed:
            vol4 = (self.vol & (_PACK - 1)).reshape(-1, 4)
            cnt4 = (self.vol >> 24).reshape(-1, 4)
        else:
            vol4, cnt4 = self.vol.reshape(-1, 4), self.cnt.reshape(-1, 4)
        return vol4[:, 3].copy(), vol4[:, 1].copy(), vol4[:, 0].copy(), cnt4.sum(axis=1)


_CHUNK = 1 << 16  # prints per chunk: temporaries stay in cache, per-chunk overhead stays small


def _chunked_rows_and_delta(price, size, side, starts, row_base, offsets, rows: _RowAccumulator):
    """Fill ``rows`` and return per-bar (min running delta, max running delta, delta).

    Works through the prints in cache-sized chunks; a bar that spans chunks is cut into pieces
    whose partial results are combined per bar at the end.
    """
    n = len(price)
    nbars = len(starts)
    piece_bar: list[np.ndarray] = []
    piece_min: list[np.ndarray] = []
    piece_max: list[np.ndarray] = []
    carry = 0  # running delta (whole series) before the chunk
    run_before = np.zeros(nbars, np.int64)  # running delta before each bar's first print
    for i in range(0, n, _CHUNK):
        j = min(i + _CHUNK, n)
        b0 = int(np.searchsorted(starts, i, side="right")) - 1
        b1 = int(np.searchsorted(starts, j, side="left"))  # bars b0..b1-1 touch the chunk
        local_starts = np.maximum(starts[b0:b1], i) - i
        counts = np.diff(np.r_[local_starts, j - i])
        sz, sd = size[i:j], side[i:j]
        signed = sz * sd
        running = np.cumsum(signed)  # within the chunk; + carry gives the series' running delta
        fresh = starts[b0:b1] >= i  # bars that begin inside this chunk
        ls = local_starts[fresh]
        run_before[b0:b1][fresh] = running[ls] - signed[ls] + carry
        piece_bar.append(np.arange(b0, b1))
        piece_min.append(np.minimum.reduceat(running, local_starts) + carry)
        piece_max.append(np.maximum.reduceat(running, local_starts) + carry)
        carry += int(running[-1])
        key = (price[i:j] + np.repeat(row_base[b0:b1], counts)) * 4 + (sd & 3)
        rows.add(key, sz, 4 * int(offsets[b0]), 4 * int(offsets[b1]))  # the rows of bars b0..b1-1
    bars = np.concatenate(piece_bar)
    first = np.flatnonzero(np.r_[True, bars[1:] != bars[:-1]])
    run_end = np.r_[run_before[1:], carry]  # running delta after each bar's last print
    run_min = np.minimum.reduceat(np.concatenate(piece_min), first) - run_before
    run_max = np.maximum.reduceat(np.concatenate(piece_max), first) - run_before
    return run_min, run_max, run_end - run_before
