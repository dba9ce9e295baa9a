"""Rithmic market depth (depth by order) -> the DOM's depth levels.

Rithmic sends the book order by order: a snapshot (ResponseDepthByOrderSnapshot, template 116:
one row per price and side, ``depth_side`` 1 buy / 2 sell, ``depth_price`` in points, and for
each resting order its ``depth_size``/``exchange_order_id``, plus the ``sequence_number`` the
updates continue from), then updates (DepthByOrder, template 160: parallel repeated fields, one
entry per order: ``update_type`` 1 NEW / 2 CHANGE / 3 DELETE, ``transaction_type`` 1 buy /
2 sell, ``depth_price``, ``depth_size``, ``exchange_order_id``, and the message's
``sequence_number``). Updates numbered at or below the snapshot's are already in it.

:class:`DepthBook` keeps the orders, aggregates them per price (size and order count) and hands
out LEVEL rows for the best ``levels`` prices per side at their depth index (0 = best), the way
an MBP-10 file feeds the DOM (``flow.book``: slot (side, level) holds price/size/count, size 0
empties it). After the snapshot: a CLEAR row and every level flagged SNAPSHOT; after an update:
only the slots that changed. Prices convert to ticks exactly; a price off the tick grid, a
non-positive one, an unknown side or update type, or entries whose repeated fields disagree in
length are counted in ``FeedStats.malformed`` and skipped, never rounded.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from tapeflow.core.events import NO_PRICE, Flag, Kind, Side
from tapeflow.core.instruments import Instrument
from tapeflow.feeds.base import FeedStats
from tapeflow.feeds.prices import MAX_PRICE_POINTS, NON_POSITIVE, TOO_LARGE

NEW, CHANGE, DELETE = 1, 2, 3
_SIDE = {1: 0, 2: 1}  # transaction type -> 0 bid / 1 ask
_ROW_SIDE = (int(Side.BUY), int(Side.SELL))
_NS = 1_000_000_000

Row = tuple[int, int, int, int, int, int, int, int, int, int]
"""ts_event, ts_recv, kind, side, price, size, count, flags, action, level (see ``live_rithmic``)."""


def one_event(rows: list[Row]) -> list[Row]:
    """The rows of one Rithmic message (a tick, a depth update, a snapshot) as one exchange event:
    the last carries ``Flag.LAST``, so a signal fired on one of them acts after all of them."""
    if rows:
        r = rows[-1]
        rows[-1] = (*r[:7], r[7] | int(Flag.LAST), *r[8:])
    return rows


def points_to_ticks(price: float, inst: Instrument, stats: FeedStats) -> int | None:
    """Points (float) to ticks, exactly: a price more than 1e-6 points off the grid, not positive
    or implausibly large is malformed (counted), never rounded."""
    if not price > 0:
        stats.skip(NON_POSITIVE)
        return None
    if price > MAX_PRICE_POINTS:
        stats.skip(TOO_LARGE)
        return None
    ticks = round(price / float(inst.tick_size))
    if abs(ticks * float(inst.tick_size) - price) > 1e-6:
        stats.skip("off-tick price")
        return None
    return ticks


def message_times(msg: Any) -> tuple[int, int]:
    """(exchange time, gateway time) in UTC ns of a protobuf market-data message; 0 fields are absent."""
    recv = int(msg.ssboe) * _NS + int(msg.usecs) * 1000
    if not msg.source_ssboe:
        return recv, recv
    sub = int(msg.source_nsecs) if msg.source_nsecs else int(msg.source_usecs) * 1000
    return int(msg.source_ssboe) * _NS + sub, recv


class DepthBook:
    """The depth-by-order book of one symbol, read out as its best ``levels`` prices per side."""

    def __init__(self, inst: Instrument, levels: int = 10, stats: FeedStats | None = None) -> None:
        if not 1 <= levels <= 254:
            raise ValueError(f"depth levels: expected 1..254, got {levels}")
        self.inst = inst
        self.levels = levels
        self.stats = stats if stats is not None else FeedStats()
        self.sequence: int | None = None  # of the snapshot; None until one is loaded
        self.stale_updates = 0  # updates already in the snapshot (skipped, not malformed)
        self._orders: dict[tuple[int, str], tuple[int, int]] = {}  # (side, order id) -> (price, size)
        self._prices: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})  # price -> [size, count]
        self._top: list[list[tuple[int, int, int]]] = [[], []]  # last emitted (price, size, count), best first

    @property
    def ready(self) -> bool:
        return self.sequence is not None

    def top(self, side: int) -> list[tuple[int, int, int]]:
        """Best ``levels`` (price ticks, size, orders) of side 0 (bids, high first) or 1 (asks, low first)."""
        prices = self._prices[side]
        best = heapq.nlargest(self.levels, prices) if side == 0 else heapq.nsmallest(self.levels, prices)
        return [(p, prices[p][0], prices[p][1]) for p in best]

    @property
    def shows_levels(self) -> bool:
        """Some price is shown on either side (the DOM is this book's, not the BBO's)."""
        return bool(self._top[0] or self._top[1])

    def restate(self, ts_event: int, ts_recv: int) -> list[Row]:
        """A CLEAR row, then every shown level: the DOM taken over from another source (the BBO)."""
        self._top = [[], []]
        out: list[Row] = [(ts_event, ts_recv, int(Kind.CLEAR), 0, NO_PRICE, 0, 0, 0, ord("R"), 0)]
        for side in (0, 1):
            out.extend(self._diff(side, ts_event, ts_recv, 0))
        return out

    # ------------------------------------------------------------------ snapshot

    def load_snapshot(self, rows: Iterable[Any], ts_ns: int) -> list[Row]:
        """Replace the book with a snapshot (ResponseDepthByOrderSnapshot rows): a CLEAR row, then
        every level flagged SNAPSHOT, all stamped ``ts_ns`` (the snapshot carries no time)."""
        self._orders.clear()
        for p in self._prices:
            p.clear()
        seq = 0
        for row in rows:
            self.stats.records += 1
            seq = max(seq, int(row.sequence_number))
            side = _SIDE.get(int(row.depth_side))
            if side is None:
                self.stats.skip("depth snapshot row without side")
                continue
            ids, sizes = list(row.exchange_order_id), list(row.depth_size)
            if len(ids) != len(sizes):
                self.stats.skip("depth snapshot row with mismatched order fields")
                continue
            price = points_to_ticks(float(row.depth_price), self.inst, self.stats)
            if price is None:
                continue
            for oid, size in zip(ids, sizes, strict=True):
                if size > 0:
                    self._add(side, oid, price, int(size))
        self.sequence = seq
        self._top = [[], []]
        snap = int(Flag.SNAPSHOT)
        out: list[Row] = [(ts_ns, ts_ns, int(Kind.CLEAR), 0, NO_PRICE, 0, 0, snap, ord("R"), 0)]
        for side in (0, 1):
            out.extend(self._diff(side, ts_ns, ts_ns, snap))
        return out

    # ------------------------------------------------------------------ updates

    def apply(self, msg: Any) -> list[Row]:
        """One DepthByOrder message -> LEVEL rows for the depth slots it changed (none before the
        snapshot is loaded or when the message is already in it)."""
        self.stats.records += 1
        if self.sequence is None or int(msg.sequence_number) <= self.sequence:
            self.stale_updates += 1
            return []
        fields = (msg.update_type, msg.transaction_type, msg.depth_price, msg.depth_size, msg.exchange_order_id)
        n = len(msg.update_type)
        if any(len(f) != n for f in fields):
            self.stats.skip("depth update with mismatched order fields")
            return []
        touched = [False, False]  # a side changed at a price it shows (or could show)
        for kind, tx, px, size, oid in zip(*fields, strict=True):
            side = _SIDE.get(int(tx))
            if side is None:
                self.stats.skip("depth update without side")
                continue
            if kind == DELETE:
                old = self._remove(side, oid)
                if old is None:
                    self.stats.skip("depth delete of an unknown order")
                    continue
                touched[side] = touched[side] or self._visible(side, old[0])
            elif kind in (NEW, CHANGE):
                price = points_to_ticks(float(px), self.inst, self.stats)
                if price is None:
                    continue
                old = self._remove(side, oid)
                if old is None and kind == CHANGE:
                    self.stats.skip("depth change of an unknown order (added)")
                if size > 0:
                    self._add(side, oid, price, int(size))
                touched[side] = (touched[side] or self._visible(side, price)
                                 or (old is not None and self._visible(side, old[0])))
            else:
                self.stats.skip(f"depth update type {kind} not known")
        ts_event, ts_recv = message_times(msg)
        out: list[Row] = []
        for side in (0, 1):
            if touched[side]:
                out.extend(self._diff(side, ts_event, ts_recv, 0))
        return out

    def _visible(self, side: int, price: int) -> bool:
        """``price`` is at or better than the worst level shown on ``side`` (or the side shows fewer
        than ``levels`` prices): a change there can change the slots; one further out cannot."""
        shown = self._top[side]
        if len(shown) < self.levels:
            return True
        worst = shown[-1][0]
        return price >= worst if side == 0 else price <= worst

    def _add(self, side: int, oid: str, price: int, size: int) -> None:
        self._orders[(side, oid)] = (price, size)
        level = self._prices[side].setdefault(price, [0, 0])
        level[0] += size
        level[1] += 1

    def _remove(self, side: int, oid: str) -> tuple[int, int] | None:
        old = self._orders.pop((side, oid), None)
        if old is None:
            return None
        price, size = old
        level = self._prices[side][price]
        level[0] -= size
        level[1] -= 1
        if level[1] <= 0 or level[0] <= 0:
            del self._prices[side][price]
        return old

    def _diff(self, side: int, ts_event: int, ts_recv: int, flags: int) -> list[Row]:
        """LEVEL rows for the slots of ``side`` whose (price, size, count) changed since last time."""
        new, old = self.top(side), self._top[side]
        self._top[side] = new
        out: list[Row] = []
        row_side = _ROW_SIDE[side]
        for level in range(max(len(new), len(old))):
            now = new[level] if level < len(new) else None
            if now is not None and level < len(old) and old[level] == now:
                continue
            price, size, count = now if now is not None else (NO_PRICE, 0, 0)
            out.append((ts_event, ts_recv, int(Kind.LEVEL), row_side, price, size, count, flags, ord("M"), level))
        return out
