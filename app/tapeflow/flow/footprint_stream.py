"""Streaming footprint build: one trade (or one small batch) at a time, for live and replay.

Keeps the open bar in plain Python dicts (cheapest per-trade update in CPython) and freezes each
bar into arrays when it closes. Produces exactly the bars of
:func:`tapeflow.flow.footprint_batch.build_footprint` over the same trades, including the bar
rules of :mod:`tapeflow.flow.bars` and the POC / value-area rules of
:mod:`tapeflow.flow.value_area`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from tapeflow.core.arrays import sealed
from tapeflow.core.events import K_TRADE
from tapeflow.core.sessions import session_span
from tapeflow.flow.bars import BarKind, BarSpec
from tapeflow.flow.delta import CumReset, reset_key
from tapeflow.flow.footprint import BAR_FIELDS, LEVEL_FIELDS, FootprintBars
from tapeflow.flow.span import check_span
from tapeflow.flow.value_area import (
    DEFAULT_VALUE_AREA,
    DEFAULT_VALUE_AREA_METHOD,
    method_rows,
    poc_index_of,
    value_area_of,
)

_MIN_TS = np.iinfo(np.int64).min
HISTORY = 512
"""Closed bars whose fields the builder keeps as Python values (``recent_fields``)."""
_MAX_PENDING = 64
"""Closed bars kept as Python lists before they are written into the blocks even if nothing reads."""
_NO_LEVEL = (0, 0, 0, 0)
_VECTOR_MIN = 64  # trades in a batch from which time bars are built with numpy rather than per trade


class FootprintBuilder:
    """Incremental footprint bars. Feed ``update(batch)`` or ``add_trade(...)``; read ``bars()``."""

    def __init__(
        self,
        spec: BarSpec,
        *,
        value_area: float = DEFAULT_VALUE_AREA,
        value_area_method: str = DEFAULT_VALUE_AREA_METHOD,
        cum_reset: CumReset = CumReset.SESSION,
    ) -> None:
        method_rows(value_area_method)  # a bad name fails here, not at the first bar close
        self.spec = spec
        self.value_area = value_area
        self.value_area_method = value_area_method
        self.cum_reset = cum_reset
        self._store = _ClosedBars(spec)
        self._last_ts = _MIN_TS
        self._span_from = 0
        self._span_until = _MIN_TS  # forces a session look-up on the first trade
        self._session = -1
        self._rth_open = 0
        self._cum = 0
        self._cum_key: int | None = None
        self._levels: dict[int, list[int]] | None = None  # price -> [bid, ask, unknown, prints]
        self._bars_closed = 0
        self._last_closed: tuple[dict[str, int], list[Sequence[int]]] | None = None
        self._history: list[dict[str, int]] = []  # fields of the recent closed bars, oldest first
        self._prepared: tuple[tuple[int, int], dict[str, int], list[Sequence[int]]] | None = None

    # --- feeding -------------------------------------------------------------------------
    def update(self, events: np.ndarray) -> int:
        """Apply a batch (every kind of row: book rows move the clock); returns how many bars closed.

        Time bars take a vectorized path for batches of more than a few trades (one numpy pass
        per bar the batch touches); tick and volume bars, and tiny batches, go trade by trade.
        Both give exactly the same bars.
        """
        if len(events) == 0:
            return 0
        is_trade = events["kind"] == K_TRADE
        before = self._bars_closed
        clock = np.maximum.accumulate(np.maximum(events["ts_event"], self._last_ts))
        ts = clock[is_trade]
        if self.spec.kind is BarKind.TIME and len(ts) >= _VECTOR_MIN:
            self._update_time_vectorized(
                ts, events["price"][is_trade], events["size"][is_trade], events["side"][is_trade]
            )
        elif len(ts):
            cols = (ts, events["price"][is_trade], events["size"][is_trade], events["side"][is_trade])
            self.add_trades(*(c.tolist() for c in cols))
        self.advance(int(clock[-1]))
        return self._bars_closed - before

    @property
    def clock_ns(self) -> int:
        """The feed's clock as the bars see it: the latest event time seen (ns; a trade stamped
        earlier counts at this time)."""
        return self._last_ts

    @property
    def open_bar_end(self) -> int | None:
        """End (UTC ns) of the open time bar, the clock time that closes it; None for tick and volume
        bars or with no bar open."""
        if self._levels is None or self.spec.kind is not BarKind.TIME or not self._trades:
            return None
        return self._bar_end

    def advance(self, ts: int) -> int:
        """The feed's clock reached ``ts`` (an event of any kind, a book row say). A time bar closes
        as soon as the clock reaches its end, not at the next trade (which may be seconds away in a
        quiet market), and a trade stamped earlier that arrives after counts at ``ts``, in the next
        bar. Returns the bars closed (0 or 1)."""
        if ts <= self._last_ts:
            return 0
        self._last_ts = ts
        end = self.open_bar_end
        if end is None or ts < end:
            return 0
        self._close_bar()
        return 1

    def add_trades(self, ts: list[int], price: list[int], size: list[int], side: list[int]) -> int:
        """Apply a few trades given as Python lists (the live path); returns how many bars closed."""
        before = self._bars_closed
        add = self.add_trade
        for t, p, q, d in zip(ts, price, size, side, strict=True):
            add(t, p, q, d)
        return self._bars_closed - before

    def _update_time_vectorized(self, ts: np.ndarray, price: np.ndarray, size: np.ndarray, side: np.ndarray) -> None:
        ts = np.maximum.accumulate(np.maximum(ts, self._last_ts))
        price = price.astype(np.int64)
        size = size.astype(np.int64)
        side = side.astype(np.int64)
        keys = ts // self.spec.size
        cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(ts)]
        for a, b in pairwise(cuts):
            t_last = int(ts[b - 1])
            if t_last >= self._span_until or t_last < self._span_from:
                self._session, self._span_from, self._span_until, self._rth_open = session_span(t_last)
            if self._levels is None or int(ts[a]) >= self._bar_end:
                self._close_bar()
                k = int(keys[a])
                self._open_bar(k * self.spec.size, int(price[a]))
                self._bar_end = (k + 1) * self.spec.size
            self._absorb(t_last, price[a:b], size[a:b], side[a:b])
        self._last_ts = int(ts[-1])

    def _absorb(self, t_last: int, price: np.ndarray, size: np.ndarray, side: np.ndarray) -> None:
        """Add a run of prints that all fall in the open bar (what ``_print`` does, per run)."""
        lo = int(price.min())
        check_span(min(lo, self._low), max(int(price.max()), self._high), "a footprint bar")
        idx = price - lo
        n = int(idx.max()) + 1
        bid = np.bincount(idx, weights=size * (side < 0), minlength=n).astype(np.int64)
        ask = np.bincount(idx, weights=size * (side > 0), minlength=n).astype(np.int64)
        unk = np.bincount(idx, weights=size * (side == 0), minlength=n).astype(np.int64)
        cnt = np.bincount(idx, minlength=n)
        levels = self._levels
        for i in np.flatnonzero(cnt).tolist():
            p = lo + i
            lv = levels.get(p)
            if lv is None:
                lv = levels[p] = [0, 0, 0, 0]
            lv[0] += int(bid[i])
            lv[1] += int(ask[i])
            lv[2] += int(unk[i])
            lv[3] += int(cnt[i])
        running = np.cumsum(size * side) + self._delta
        lo_d, hi_d = int(running.min()), int(running.max())
        if self._min_delta is None:
            self._min_delta, self._max_delta = lo_d, hi_d
        else:
            self._min_delta = min(self._min_delta, lo_d)
            self._max_delta = max(self._max_delta, hi_d)
        self._delta = int(running[-1])
        self._volume += int(size.sum())
        self._unknown += int(unk.sum())
        self._trades += len(price)
        self._high = max(self._high, int(price.max()))
        self._low = min(self._low, lo)
        self._close = int(price[-1])
        self._end_ns = t_last
        self._bar_session = self._session
        self._bar_rth_open = self._rth_open

    def add_trade(self, ts: int, price: int, size: int, side: int) -> None:
        """Apply one trade (ticks, contracts, side -1/0/1)."""
        if ts < self._last_ts:
            ts = self._last_ts
        self._last_ts = ts
        new_session = False
        if ts >= self._span_until or ts < self._span_from:
            session, self._span_from, self._span_until, self._rth_open = session_span(ts)
            new_session = session != self._session
            self._session = session
        kind = self.spec.kind
        if kind is BarKind.TIME:
            if self._levels is None or ts >= self._bar_end:
                self._close_bar()
                k = ts // self.spec.size
                self._open_bar(k * self.spec.size, price)
                self._bar_end = (k + 1) * self.spec.size
            self._print(ts, price, size, side)
        elif kind is BarKind.TICK:
            if self._levels is None or new_session or self._trades >= self.spec.size:
                self._close_bar()
                self._open_bar(ts, price)
            self._print(ts, price, size, side)
        else:
            if self._levels is None or new_session:
                self._close_bar()
                self._open_bar(ts, price)
            cap = self.spec.size
            while size > 0:
                if self._volume >= cap:
                    self._close_bar()
                    self._open_bar(ts, price)
                part = min(size, cap - self._volume)
                self._print(ts, price, part, side)
                size -= part

    # --- bar lifecycle -------------------------------------------------------------------
    def _open_bar(self, start_ns: int, price: int) -> None:
        self._levels = {}
        self._start_ns = start_ns
        self._open = self._high = self._low = price
        self._volume = self._delta = self._trades = self._unknown = 0
        self._min_delta = self._max_delta = None

    def _print(self, ts: int, price: int, size: int, side: int) -> None:
        lv = self._levels.get(price)
        if lv is None:
            check_span(min(price, self._low), max(price, self._high), "a footprint bar")
            lv = self._levels[price] = [0, 0, 0, 0]
            if price > self._high:
                self._high = price
            elif price < self._low:
                self._low = price
        if side > 0:
            lv[1] += size
            self._delta += size
        elif side < 0:
            lv[0] += size
            self._delta -= size
        else:
            lv[2] += size
            self._unknown += size
        lv[3] += 1
        self._volume += size
        self._trades += 1
        d = self._delta
        if self._min_delta is None:
            self._min_delta = self._max_delta = d
        elif d < self._min_delta:
            self._min_delta = d
        elif d > self._max_delta:
            self._max_delta = d
        self._close = price
        self._end_ns = ts
        self._bar_session = self._session  # the session of the bar's last print labels the bar
        self._bar_rth_open = self._rth_open

    def _open_bar_fields(self) -> tuple[dict[str, int], dict[str, np.ndarray]]:
        """The open bar frozen into the same fields a closed bar has."""
        bar, rows = self._freeze()
        return bar, dict(zip(LEVEL_FIELDS, np.array(rows, np.int64).T, strict=True))

    def _freeze(self) -> tuple[dict[str, int], list[Sequence[int]]]:
        """The open bar's fields and its per-tick rows (bid, ask, unknown, count; low to high) in
        plain Python: this runs at every bar close, on the live path."""
        low, high = self._low, self._high
        levels, empty = self._levels, _NO_LEVEL
        rows = [levels.get(p, empty) for p in range(low, high + 1)]
        total = [b + a + u for b, a, u, _ in rows]
        poc = poc_index_of(total)
        va_lo, va_hi = value_area_of(total, poc, self.value_area, self.value_area_method)
        key = reset_key(self._bar_session, self._end_ns, self._bar_rth_open, self.cum_reset)
        cum = self._delta + (self._cum if key == self._cum_key else 0)
        bar = {
            "start_ns": self._start_ns,
            "end_ns": self._end_ns,
            "open": self._open,
            "high": high,
            "low": low,
            "close": self._close,
            "volume": self._volume,
            "delta": self._delta,
            "min_delta": self._min_delta,
            "max_delta": self._max_delta,
            "trades": self._trades,
            "unknown_volume": self._unknown,
            "poc": low + poc,
            "val": low + va_lo,
            "vah": low + va_hi,
            "cum_delta": cum,
            "session": self._bar_session,
        }
        return bar, rows

    def closes_soon(self, now_ns: int | None, within_ns: int) -> bool:
        """True when the open bar is about to close: a tick or volume bar that is full (the next trade
        opens another), a time bar whose end is at most ``within_ns`` after the feed's clock ``now_ns``
        (the last event of any kind)."""
        if self._levels is None or self._trades == 0:
            return False
        kind = self.spec.kind
        if kind is BarKind.TIME:
            return now_ns is not None and now_ns >= self._bar_end - within_ns
        return (self._trades if kind is BarKind.TICK else self._volume) >= self.spec.size

    def prepare_close(self) -> tuple[dict[str, int], list[Sequence[int]]] | None:
        """Freeze the open bar ahead of its close (call when the feed is idle and the bar ``closes_soon``).

        The close then reuses these very objects if no trade was added in between (the bar's number
        and print count are the check), so its cost leaves the closing event's path; otherwise the
        bar is frozen again at the close. Returns (fields, rows) as :meth:`last_closed` will."""
        if self._levels is None or self._trades == 0:
            return None
        key = (self._bars_closed, self._trades)
        if self._prepared is None or self._prepared[0] != key:
            self._prepared = (key, *self._freeze())
        return self._prepared[1], self._prepared[2]

    def _close_bar(self) -> None:
        if self._levels is None or self._trades == 0:
            return
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] == (self._bars_closed, self._trades):
            bar, rows = prepared[1], prepared[2]
        else:
            bar, rows = self._freeze()
        key = reset_key(self._bar_session, self._end_ns, self._bar_rth_open, self.cum_reset)
        self._cum = bar["cum_delta"]
        self._cum_key = key
        self._store.append(bar, rows)
        self._last_closed = (bar, rows)
        history = self._history
        history.append(bar)
        if len(history) > 2 * HISTORY:
            del history[:-HISTORY]
        self._levels = None
        self._bars_closed += 1

    def flush(self) -> None:
        """Write closed bars into the column blocks now (otherwise done by the next read)."""
        self._store.series()

    def recent_fields(self, count: int) -> list[dict[str, int]]:
        """Fields of the last ``count`` closed bars (at most ``HISTORY``), oldest first, as Python ints.
        Read-only: the live path reads bar history here rather than out of the arrays."""
        return self._history[-count:] if count > 0 else []

    def last_closed(self) -> tuple[dict[str, int], list[Sequence[int]]] | None:
        """The most recent closed bar as Python values: its fields, and per tick (low to high) its
        (bid, ask, unknown, count). Read-only; what the rule engine's bar-close checks read."""
        return self._last_closed

    # --- reading -------------------------------------------------------------------------
    @property
    def closed_count(self) -> int:
        return self._bars_closed

    def open_bar(self) -> tuple[dict[str, int], dict[str, np.ndarray]] | None:
        """Snapshot of the bar still forming (fields and per-tick level columns), or None."""
        if self._levels is None or self._trades == 0:
            return None
        return self._open_bar_fields()

    def recent(self, count: int) -> FootprintBars:
        """The last ``count`` closed bars as their own series (O(count), for per-batch rule checks)."""
        return self._store.recent(count)

    def bars(self, include_open: bool = True) -> FootprintBars:
        """All closed bars (and the open one, if asked) as an immutable columnar series.

        Closed bars are read-only views of append-only buffers, so this costs O(1) for them and
        a UI polling at frame rate pays only for the open bar.
        """
        closed = self._store.series()
        snap = self.open_bar() if include_open else None
        if snap is None:
            return closed
        bar, levels = snap
        return _append(closed, bar, levels)


class _ClosedBars:
    """Append-only, capacity-doubling column blocks of finished bars.

    Bar fields live in one (fields x capacity) block and level fields in another, so a close
    writes each with a single numpy call, and a series is a set of row views of the read-only
    views of the blocks (made once per reallocation). Rows already written never change, so
    views handed out earlier stay valid after later appends (a reallocation leaves old views on
    the old block, which keeps its contents).
    """

    def __init__(self, spec: BarSpec) -> None:
        self.spec = spec
        self.n = 0
        self.n_levels = 0
        self._bars = np.zeros((len(BAR_FIELDS), 64), np.int64)
        self._levels = np.zeros((len(LEVEL_FIELDS), 1024), np.int64)
        self._offsets = np.zeros(65, np.int64)
        self._views()
        self._series: FootprintBars | None = None  # cached until the next bar closes
        self._stale = False  # a bar closed since ``_series`` was made (dropped when next read, not at the close)
        self._pending: list[tuple[dict[str, int], Sequence[Sequence[int]]]] = []  # closed, not yet written

    def _views(self) -> None:
        self._ro_bars, self._ro_levels, self._ro_offsets = (
            sealed(a.view()) for a in (self._bars, self._levels, self._offsets)
        )

    def append(self, bar: dict[str, int], rows: Sequence[Sequence[int]]) -> None:
        """One closed bar: its fields and per tick (low to high) its level fields. Written into the
        blocks when a series is next read, so a bar close on the live path costs no numpy call."""
        self._pending.append((bar, rows))
        self._stale = True  # freeing the old series (tens of views) is left to the next read, off the close
        if len(self._pending) >= _MAX_PENDING:  # nobody reads (headless, no idle calls): bound the lists kept
            self._flush()

    def _flush(self) -> None:
        for bar, rows in self._pending:
            self._write(bar, np.array(rows, np.int64).T)
        self._pending.clear()

    def _write(self, bar: dict[str, int], levels: np.ndarray) -> None:
        k = levels.shape[1]
        grown = False
        if self.n >= self._bars.shape[1]:
            self._bars, grown = _grown(self._bars, 2 * self._bars.shape[1]), True
        if self.n + 1 >= len(self._offsets):
            self._offsets, grown = _grown(self._offsets, 2 * len(self._offsets)), True
        if self.n_levels + k > self._levels.shape[1]:
            size = max(2 * self._levels.shape[1], self.n_levels + k)
            self._levels, grown = _grown(self._levels, size), True
        if grown:
            self._views()
        self._bars[:, self.n] = [bar[f] for f in BAR_FIELDS]
        self._levels[:, self.n_levels : self.n_levels + k] = levels
        self.n += 1
        self.n_levels += k
        self._offsets[self.n] = self.n_levels

    def series(self) -> FootprintBars:
        if self._pending:
            self._flush()
        if self._series is None or self._stale:
            self._series = self._run(0, self.n)
            self._stale = False
        return self._series

    def recent(self, count: int) -> FootprintBars:
        """The last ``count`` bars (views; offsets rebased to 0)."""
        if self._pending:
            self._flush()
        a = max(0, self.n - count)
        return self.series() if a == 0 else self._run(a, self.n)

    def _run(self, a: int, b: int) -> FootprintBars:
        lo, hi = int(self._offsets[a]), int(self._offsets[b])
        offsets = self._ro_offsets[a : b + 1]
        if lo:
            offsets = offsets - lo
        kw = {f: row[a:b] for f, row in zip(BAR_FIELDS, self._ro_bars, strict=True)}
        kw.update({f: row[lo:hi] for f, row in zip(LEVEL_FIELDS, self._ro_levels, strict=True)})
        return FootprintBars.of_columns(self.spec, offsets, kw)


def _grown(a: np.ndarray, size: int) -> np.ndarray:
    """A copy of ``a`` with its last axis grown to ``size`` (zeros after the old contents)."""
    out = np.zeros((*a.shape[:-1], size), a.dtype)
    out[..., : a.shape[-1]] = a
    return out


def _append(closed: FootprintBars, bar: dict[str, int], levels: dict[str, np.ndarray]) -> FootprintBars:
    kw = {f: np.append(getattr(closed, f), np.int64(bar[f])) for f in BAR_FIELDS}
    kw.update({f: np.concatenate([getattr(closed, f), levels[f]]) for f in LEVEL_FIELDS})
    offsets = np.append(closed.level_offsets, closed.level_offsets[-1] + len(levels["bid"]))
    return FootprintBars(spec=closed.spec, level_offsets=offsets, **kw)
