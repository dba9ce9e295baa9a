"""The order book (DOM) of one instrument, fed by normalized event batches.

Three kinds of rows change it:

- ``LEVEL`` with a depth index (MBP-1/MBP-10): the slot (side, level) now holds price/size/count;
  size 0 empties the slot. With ``level == LEVEL_UNKNOWN`` (a source that gives prices but no
  depth index, e.g. CSV DOM columns) the row sets the size resting *at that price*; size 0
  removes the price.
- ``ORDER`` (L3 / MBO), with Databento's semantics (docs.databento.com "Order tracking" and the
  ``Action`` enum of databento-dbn): **A**dd inserts an order; **C**ancel removes ``size``
  contracts from the order (partial or full); **M**odify sets the order's new price and size
  (an unknown order is treated as an add, as in Databento's limit-order-book example);
  **T**rade, **F**ill and **N**one do not change the book (every fill is followed by the C/M
  that reduces the resting order); clea**R** empties the book.
- ``CLEAR``: drop every level and order.

Prices are ticks. The book is a dense price ladder (numpy arrays indexed by ``price - base``), so
L3 deltas and price-keyed levels are applied with vectorized ``np.add.at``/assignment and the
DOM ladder reads out as slices. ``TRADE`` rows add to the per-price traded volume of the session
(at the bid = seller aggressor, at the ask = buyer aggressor) until ``reset_volume``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from tapeflow.core.arrays import sealed
from tapeflow.core.events import (
    K_CLEAR,
    K_LEVEL,
    K_ORDER,
    K_TRADE,
    LEVEL_UNKNOWN,
    NO_PRICE,
    S_BUY,
    S_SELL,
    select,
)

_BID_SZ, _BID_CT, _ASK_SZ, _ASK_CT, _VOL_BID, _VOL_ASK, _VOL_NONE = range(7)
_ROWS = 7
_N_SLOTS = 255
_PAD = 64  # ticks of headroom added when the ladder grows
_SMALL_BATCH = 64  # rows up to which depth-slot batches are applied row by row

_ADD, _CANCEL, _MODIFY, _CLEAR = ord("A"), ord("C"), ord("M"), ord("R")


def _frozen(a: np.ndarray) -> np.ndarray:
    return sealed(np.array(a, copy=True))


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """Top ``n`` levels per side, best first (immutable copies for the UI).

    Prices in ticks, sizes in contracts, counts in orders (0 where the source gives none).
    """

    bid_price: np.ndarray
    bid_size: np.ndarray
    bid_count: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray
    ask_count: np.ndarray


@dataclass(frozen=True, slots=True)
class LadderSnapshot:
    """One row per price from ``lo`` to ``hi`` ticks: resting size and session traded volume."""

    price: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    traded_at_bid: np.ndarray  # contracts sold by aggressors (hit the bid)
    traded_at_ask: np.ndarray  # contracts bought by aggressors (lifted the ask)


class OrderBook:
    """DOM state of one instrument (``instrument_id=None`` takes every row of a batch).

    ``max_span_ticks`` bounds the ladder (prices further than that from the first price seen are
    counted in ``stats['price out of range']`` and ignored) so a corrupt price cannot allocate
    gigabytes.
    """

    def __init__(self, instrument_id: int | None = None, *, max_span_ticks: int = 1 << 20) -> None:
        self.instrument_id = instrument_id
        self.max_span_ticks = max_span_ticks
        self.stats: Counter[str] = Counter()
        self._base = 0
        self._grid = np.zeros((_ROWS, 0), dtype=np.int64)
        self._slots = np.zeros((2, 3, _N_SLOTS), dtype=np.int64)  # side, (price,size,count), level
        self._slots[:, 0, :] = NO_PRICE
        self._orders: dict[int, tuple[int, int, int]] = {}  # order_id -> (side 0/1, price, size)

    # ---------------------------------------------------------------- applying events

    def apply(self, batch: np.ndarray) -> None:
        """Apply an event batch in order (book rows in runs of one kind; trades are additive)."""
        if len(batch) == 0:
            return
        if self.instrument_id is not None:
            batch = select(batch, batch["instrument_id"] == self.instrument_id)
        if len(batch) <= _SMALL_BATCH and self._apply_small(batch):
            return
        kind = batch["kind"]
        is_trade = kind == K_TRADE
        if is_trade.any():
            self._add_trades(select(batch, is_trade))
        rows = select(batch, (kind == K_LEVEL) | (kind == K_ORDER) | (kind == K_CLEAR))
        if not len(rows):
            return
        code = np.full(len(rows), 3, dtype=np.int8)  # 3 = ORDER
        code[rows["kind"] == K_CLEAR] = 0
        code[(rows["kind"] == K_ORDER) & (rows["action"] == _CLEAR)] = 0
        is_level = rows["kind"] == K_LEVEL
        code[is_level & (rows["level"] != LEVEL_UNKNOWN)] = 1
        code[is_level & (rows["level"] == LEVEL_UNKNOWN)] = 2
        starts = np.flatnonzero(np.diff(code)) + 1
        bounds = [0, *starts.tolist(), len(rows)]
        for a, b in pairwise(bounds):
            run = rows[a:b]
            c = int(code[a])
            if c == 0:
                self.clear()
            elif c == 1:
                self._set_slots(run)
            elif c == 2:
                self._set_prices(run)
            else:
                self._apply_orders(run)

    def clear(self) -> None:
        """Drop every level and order (traded volume is kept: it belongs to the session)."""
        self._grid[_BID_SZ : _ASK_CT + 1] = 0
        self._slots[:, 0, :] = NO_PRICE
        self._slots[:, 1:, :] = 0
        self._orders.clear()

    def reset_volume(self) -> None:
        """Start a new session's traded-volume ladder."""
        self._grid[_VOL_BID:] = 0

    def _side_index(self, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(0 for bid / 1 for ask, mask of rows with a usable side)."""
        ok = (side == S_BUY) | (side == S_SELL)
        if not ok.all():
            self.stats["book row without side"] += int((~ok).sum())
        return (side == S_SELL).astype(np.int64), ok

    def _set_slots(self, run: np.ndarray) -> None:
        s, ok = self._side_index(run["side"])
        run, s = run[ok], s[ok]
        key = s * 256 + run["level"].astype(np.int64)
        last = _last_occurrence(key)
        run, s = run[last], s[last]
        lvl = run["level"].astype(np.int64)
        size = run["size"].astype(np.int64)
        empty = size <= 0
        self._slots[s, 0, lvl] = np.where(empty, NO_PRICE, run["price"])
        self._slots[s, 1, lvl] = np.where(empty, 0, size)
        self._slots[s, 2, lvl] = np.where(empty, 0, run["count"])

    def _apply_small(self, batch: np.ndarray) -> bool:
        """Live-sized batches of trades and depth-slot rows, row by row (numpy's per-call overhead
        dominates there). Same result as the vectorized path; False (nothing applied) if the batch
        holds other rows."""
        kinds, levels = batch["kind"].tolist(), batch["level"].tolist()
        if any(k != K_TRADE and (k != K_LEVEL or lv == LEVEL_UNKNOWN) for k, lv in zip(kinds, levels, strict=True)):
            return False
        sides, prices, sizes, counts = (batch[f].tolist() for f in ("side", "price", "size", "count"))
        if K_TRADE in kinds:
            trades = [(d, p, q) for k, d, p, q in zip(kinds, sides, prices, sizes, strict=True) if k == K_TRADE]
            self._add_trades_small(batch, trades)
        slots = self._slots
        for k, lvl, side, price, size, count in zip(kinds, levels, sides, prices, sizes, counts, strict=True):
            if k == K_TRADE:
                continue
            if side != S_BUY and side != S_SELL:
                self.stats["book row without side"] += 1
                continue
            s = 1 if side == S_SELL else 0
            if size <= 0:
                slots[s, 0, lvl], slots[s, 1, lvl], slots[s, 2, lvl] = NO_PRICE, 0, 0
            else:
                slots[s, 0, lvl], slots[s, 1, lvl], slots[s, 2, lvl] = price, size, count
        return True

    def add_trades_few(self, batch: np.ndarray, sides: list[int], prices: list[int], sizes: list[int]) -> None:
        """``apply(batch)`` for a live batch of trades only, given as Python lists (the flow state has
        them already): traded volume per price, with no numpy call unless the ladder must grow."""
        if self.instrument_id is not None:
            self.apply(batch)
            return
        self._add_trades_small(batch, list(zip(sides, prices, sizes, strict=True)))

    def _add_trades_small(self, batch: np.ndarray, trades: list[tuple[int, int, int]]) -> None:
        """Traded volume of a few trades (side, price, size); the vectorized path when a price needs
        the ladder to grow."""
        grid, base, width = self._grid, self._base, self._grid.shape[1]
        anchor, half = base + width // 2, self.max_span_ticks // 2
        if not width or not all(base <= p < base + width and abs(p - anchor) <= half for _, p, _ in trades):
            self._add_trades(select(batch, batch["kind"] == K_TRADE))
            return
        for d, p, q in trades:
            grid[_VOL_ASK if d == S_BUY else _VOL_BID if d == S_SELL else _VOL_NONE, p - base] += q

    def _set_prices(self, run: np.ndarray) -> None:
        s, ok = self._side_index(run["side"])
        ok &= run["price"] != NO_PRICE
        run, s = run[ok], s[ok]
        idx, inside = self._index(run["price"])
        run, s, idx = run[inside], s[inside], idx[inside]
        key = s * (len(self._grid[0]) + 1) + idx
        last = _last_occurrence(key)
        s, idx, run = s[last], idx[last], run[last]
        size = np.maximum(run["size"].astype(np.int64), 0)
        self._grid[_BID_SZ + 2 * s, idx] = size
        self._grid[_BID_CT + 2 * s, idx] = np.where(size > 0, run["count"], 0)

    def _apply_orders(self, run: np.ndarray) -> None:
        """L3 messages, in order; the per-price totals are accumulated as deltas and added at once."""
        orders = self._orders
        d_side: list[int] = []
        d_price: list[int] = []
        d_size: list[int] = []
        d_count: list[int] = []

        def move(side: int, price: int, size: int, count: int) -> None:
            d_side.append(side)
            d_price.append(price)
            d_size.append(size)
            d_count.append(count)

        cols = (run[f].tolist() for f in ("order_id", "action", "side", "price", "size"))
        for oid, act, side, price, size in zip(*cols, strict=True):
            if act == _ADD:
                old = orders.pop(oid, None)
                if old is not None:
                    self.stats["add of an existing order"] += 1
                    move(old[0], old[1], -old[2], -1)
                if side == 0 or price == NO_PRICE:
                    self.stats["order without side or price"] += 1
                    continue
                s = 1 if side < 0 else 0
                orders[oid] = (s, price, size)
                move(s, price, size, 1)
            elif act == _CANCEL:
                old = orders.get(oid)
                if old is None:
                    self.stats["cancel of an unknown order"] += 1
                    continue
                s, p, q = old
                if size >= q:
                    del orders[oid]
                    move(s, p, -q, -1)
                else:
                    orders[oid] = (s, p, q - size)
                    move(s, p, -size, 0)
            elif act == _MODIFY:
                old = orders.pop(oid, None)
                if old is None:
                    self.stats["modify of an unknown order (added)"] += 1
                else:
                    move(old[0], old[1], -old[2], -1)
                s = (1 if side < 0 else 0) if side != 0 else (old[0] if old else -1)
                if size > 0 and s >= 0 and price != NO_PRICE:
                    orders[oid] = (s, price, size)
                    move(s, price, size, 1)
            # T, F, N: no change to the book
        if not d_side:
            return
        side_a = np.asarray(d_side, dtype=np.int64)
        idx, inside = self._index(np.asarray(d_price, dtype=np.int64))
        side_a, idx = side_a[inside], idx[inside]
        np.add.at(self._grid, (_BID_SZ + 2 * side_a, idx), np.asarray(d_size, dtype=np.int64)[inside])
        np.add.at(self._grid, (_BID_CT + 2 * side_a, idx), np.asarray(d_count, dtype=np.int64)[inside])

    def _add_trades(self, trades: np.ndarray) -> None:
        idx, inside = self._index(trades["price"])
        side = trades["side"][inside]
        row = np.where(side == S_BUY, _VOL_ASK, np.where(side == S_SELL, _VOL_BID, _VOL_NONE))
        np.add.at(self._grid, (row, idx[inside]), trades["size"][inside].astype(np.int64))

    def _index(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ladder indices of ``prices`` (growing the ladder) and the mask of prices it can hold."""
        prices = np.asarray(prices, dtype=np.int64)
        valid = prices != NO_PRICE
        if not valid.any():
            return np.zeros(len(prices), dtype=np.int64), valid
        width = self._grid.shape[1]
        if width == 0:
            first = int(prices[valid][0])
            self._base = first - _PAD
            self._grid = np.zeros((_ROWS, 2 * _PAD + 1), dtype=np.int64)
            width = self._grid.shape[1]
        anchor = self._base + width // 2
        valid &= np.abs(prices - anchor) <= self.max_span_ticks // 2
        if (~valid & (prices != NO_PRICE)).any():
            self.stats["price out of range"] += int((~valid & (prices != NO_PRICE)).sum())
        if valid.any():
            lo, hi = int(prices[valid].min()), int(prices[valid].max())
            if lo < self._base or hi >= self._base + width:
                self._grow(lo, hi)
        idx = np.where(valid, prices - self._base, 0)
        return idx, valid

    def _grow(self, lo: int, hi: int) -> None:
        width = self._grid.shape[1]
        new_lo = min(lo - _PAD, self._base)
        new_hi = max(hi + _PAD, self._base + width - 1)
        grid = np.zeros((_ROWS, new_hi - new_lo + 1), dtype=np.int64)
        off = self._base - new_lo
        grid[:, off : off + width] = self._grid
        self._grid, self._base = grid, new_lo

    # ---------------------------------------------------------------- reading

    @property
    def order_count(self) -> int:
        """Resting orders tracked from L3 messages."""
        return len(self._orders)

    def _slot_mode(self) -> bool:
        return bool((self._slots[:, 1, :] > 0).any())

    def best_bid(self) -> tuple[int, int] | None:
        """(price ticks, size contracts) of the best bid, or None when the bid side is empty."""
        d = self.depth(1)
        return (int(d.bid_price[0]), int(d.bid_size[0])) if len(d.bid_price) else None

    def best_ask(self) -> tuple[int, int] | None:
        """(price ticks, size contracts) of the best ask, or None when the ask side is empty."""
        d = self.depth(1)
        return (int(d.ask_price[0]), int(d.ask_size[0])) if len(d.ask_price) else None

    def depth(self, n: int = 10) -> DepthSnapshot:
        """The ``n`` best levels per side (bids high to low, asks low to high)."""
        if self._slot_mode():
            bid, ask = self._slot_side(0, n, descending=True), self._slot_side(1, n, descending=False)
        else:
            bid, ask = self._ladder_side(0, n, descending=True), self._ladder_side(1, n, descending=False)
        return DepthSnapshot(*(sealed(a) for a in (*bid, *ask)))  # fresh arrays (fancy indexing): not copied again

    def _slot_side(self, s: int, n: int, *, descending: bool) -> tuple[np.ndarray, ...]:
        px, sz, ct = self._slots[s]
        live = np.flatnonzero(sz > 0)
        order = np.argsort(px[live], kind="stable")
        if descending:
            order = order[::-1]
        pick = live[order[:n]]
        return px[pick], sz[pick], ct[pick]

    def _ladder_side(self, s: int, n: int, *, descending: bool) -> tuple[np.ndarray, ...]:
        sz, ct = self._grid[_BID_SZ + 2 * s], self._grid[_BID_CT + 2 * s]
        live = np.flatnonzero(sz > 0)
        pick = live[::-1][:n] if descending else live[:n]
        return pick + self._base, sz[pick], ct[pick]

    def ladder(self, lo: int, hi: int) -> LadderSnapshot:
        """Rows for every price ``lo..hi`` ticks (inclusive), as the DOM ladder draws them."""
        price = np.arange(lo, hi + 1, dtype=np.int64)
        out = np.zeros((_ROWS, len(price)), dtype=np.int64)
        width = self._grid.shape[1]
        a, b = max(lo, self._base), min(hi, self._base + width - 1)
        if a <= b:
            out[:, a - lo : b - lo + 1] = self._grid[:, a - self._base : b - self._base + 1]
        if self._slot_mode():
            out[[_BID_SZ, _ASK_SZ]] = 0
            for s, row in ((0, _BID_SZ), (1, _ASK_SZ)):
                px, sz, _ = self._slots[s]
                live = (sz > 0) & (px >= lo) & (px <= hi)
                out[row, px[live] - lo] = sz[live]
        return LadderSnapshot(
            _frozen(price),
            _frozen(out[_BID_SZ]),
            _frozen(out[_ASK_SZ]),
            _frozen(out[_VOL_BID]),
            _frozen(out[_VOL_ASK]),
        )

    def traded_volume(self) -> LadderSnapshot:
        """Session traded volume at every price that traded (resting sizes included for context)."""
        vol = self._grid[_VOL_BID] + self._grid[_VOL_ASK] + self._grid[_VOL_NONE]
        live = np.flatnonzero(vol > 0)
        if not len(live):
            empty = _frozen(np.zeros(0, dtype=np.int64))
            return LadderSnapshot(empty, empty, empty, empty, empty)
        full = self.ladder(int(live[0]) + self._base, int(live[-1]) + self._base)
        keep = np.flatnonzero((full.traded_at_bid + full.traded_at_ask) > 0)
        return LadderSnapshot(*(_frozen(getattr(full, f)[keep]) for f in LadderSnapshot.__slots__))


def _last_occurrence(key: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the last row for each distinct key: last write wins."""
    rev = key[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    return np.sort(len(key) - 1 - first_in_rev)
