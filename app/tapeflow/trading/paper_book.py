"""The paper broker's view of one instrument's book: what a simulated order could trade against.

The broker keeps its own copy, row by row in tape order, because it must see the book *at* each
row (the flow stage's DOM has already taken the whole batch by the time the broker walks it).
Three kinds of book rows feed it, whichever the tape has:

* depth slots (mbp-1, mbp-10, the simulator): ``LEVEL`` rows with a depth index;
* prices (a CSV's DOM columns): ``LEVEL`` rows with ``level == LEVEL_UNKNOWN``;
* orders (mbo, L3): ``ORDER`` rows, Databento's semantics (as in :mod:`tapeflow.flow.book`), kept
  per price in time priority so a resting paper order knows exactly which orders are ahead of it.
  A modify that keeps the price and does not grow the order keeps its place (CME); any other
  modify sends it to the back.

Prints (``TRADE`` rows) are remembered until the book shows their effect: in Databento data (and
the simulator) the book rows that follow a print, up to the end of the exchange event (the
``LAST`` flag), take out what it traded. :meth:`take_levels` subtracts the prints still pending so
nothing is ever taken from liquidity a print already consumed. Prices are ticks, sizes contracts.
"""

from __future__ import annotations

from collections.abc import Callable

from tapeflow.core.events import LEVEL_UNKNOWN, NO_PRICE, S_BUY, S_SELL

_ADD, _CANCEL, _MODIFY, _CLEAR = ord("A"), ord("C"), ord("M"), ord("R")
MAX_PRINTS = 256  # prints kept while an event is open; only a broken tape holds more

FILL_MODELS = {
    "mbo": "L3 book (mbo): market and stop orders walk the resting orders plus slippage; a resting limit "
    "waits behind exactly the orders placed before it at its price",
    "mbp": "L2 book (mbp-1, mbp-10, simulator, CSV DOM): market and stop orders walk the levels shown plus "
    "slippage; a resting limit waits behind the level's size when it went live (an estimate)",
    "trades": "no book (trades, CSV): market and stop orders fill at the last print plus slippage; a resting "
    "limit has no queue ahead (fills on the first print at its price)",
}
"""What each fill model means, for reports (keys: :attr:`PaperBook.fill_model`)."""

ReduceCallback = Callable[[int, int, int, int, bool], None]
"""``(side, price, order_id, contracts, gone)``: an order resting at a watched price shrank."""


class PaperBook:
    """Book of one instrument as the paper broker reads it (see the module doc)."""

    __slots__ = ("last", "on_reduce", "orders", "packets", "prices", "prints", "queues", "seen", "slots", "watched")

    def __init__(self) -> None:
        self.slots: dict[tuple[int, int], tuple[int, int]] = {}  # (side, depth) -> (price, size)
        self.prices: dict[int, dict[int, int]] = {S_BUY: {}, S_SELL: {}}  # side -> price -> size
        self.orders: dict[int, tuple[int, int]] = {}  # order id -> (side, price)
        self.queues: dict[tuple[int, int], dict[int, int]] = {}  # (side, price) -> {order id: size}, time priority
        self.prints: list[tuple[int, int, int]] = []  # (price, size, aggressor) not yet in the book
        self.last: int | None = None
        self.packets = False  # book rows carry the end of their exchange events (LAST): not tbbo
        self.seen = 0  # 0 nothing, 1 prints, 2 L2 levels, 3 L3 orders: the richest kind the tape had
        self.watched: set[tuple[int, int]] = set()
        self.on_reduce: ReduceCallback | None = None

    # -- applying rows ------------------------------------------------------------------------
    def level(self, side: int, depth: int, price: int, size: int) -> None:
        if side not in (S_BUY, S_SELL) or (price == NO_PRICE and size > 0):
            return
        self.seen = max(self.seen, 2)
        if depth == LEVEL_UNKNOWN:
            book = self.prices[side]
            if size <= 0:
                book.pop(price, None)
            else:
                book[price] = size
        elif size <= 0:
            self.slots.pop((side, depth), None)
        else:
            self.slots[(side, depth)] = (price, size)

    def order(self, action: int, oid: int, side: int, price: int, size: int) -> None:
        """One L3 message; F, T and N change nothing (the C or M that follows a fill does)."""
        self.seen = 3
        if action == _ADD:
            if oid in self.orders:
                self._remove(oid)
            if side in (S_BUY, S_SELL) and price != NO_PRICE:  # _insert, inlined: adds are most of a tape
                key = (side, price)
                self.orders[oid] = key
                q = self.queues.get(key)
                if q is None:
                    self.queues[key] = {oid: size}
                else:
                    q[oid] = size
        elif action == _CANCEL:
            at = self.orders.get(oid)
            if at is not None:
                q = self.queues[at][oid]
                self._shrink(oid, at, q if size >= q else size)
        elif action == _MODIFY:
            at = self.orders.get(oid)
            s = side if side in (S_BUY, S_SELL) else (at[0] if at else 0)
            if at is not None and at == (s, price) and 0 < size <= self.queues[at][oid]:
                self._shrink(oid, at, self.queues[at][oid] - size)  # keeps its place in the queue
                return
            if at is not None:
                self._remove(oid)
            if size > 0 and s and price != NO_PRICE:
                self._insert(oid, s, price, size)
        elif action == _CLEAR:
            self.clear()

    def _insert(self, oid: int, side: int, price: int, size: int) -> None:
        key = (side, price)
        self.orders[oid] = key
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = {}
        q[oid] = size

    def _remove(self, oid: int) -> None:
        key = self.orders[oid]
        self._shrink(oid, key, self.queues[key][oid])

    def _shrink(self, oid: int, key: tuple[int, int], by: int) -> None:
        q = self.queues[key]
        left = q[oid] - by
        gone = left <= 0
        if gone:
            del q[oid]
            del self.orders[oid]
            if not q:
                del self.queues[key]
        else:
            q[oid] = left
        if key in self.watched and self.on_reduce is not None and by > 0:
            self.on_reduce(key[0], key[1], oid, by, gone)

    def trade(self, price: int, size: int, aggressor: int) -> None:
        self.last = price
        if self.seen < 2:
            self.seen = 1
            return
        if len(self.prints) >= MAX_PRINTS:
            del self.prints[0]
        self.prints.append((price, size, aggressor))

    def clear(self) -> None:
        """Drop every level and order (a snapshot follows); queues ahead are not advanced by it."""
        self.slots.clear()
        self.prices[S_BUY].clear()
        self.prices[S_SELL].clear()
        self.orders.clear()
        self.queues.clear()
        self.prints.clear()

    # -- reading ------------------------------------------------------------------------------
    @property
    def fill_model(self) -> str:
        """``"mbo"`` (L3 queue), ``"mbp"`` (L2 touch and queue estimate) or ``"trades"`` (last price)."""
        return ("trades", "trades", "mbp", "mbo")[self.seen]

    def side_levels(self, side: int) -> list[tuple[int, int]]:
        """(price, size) of one side of the book (BUY = bids), best first."""
        if self.queues:
            lv = [(p, sum(q.values())) for (s, p), q in self.queues.items() if s == side]
        elif self.slots:
            lv = [ps for (s, _), ps in self.slots.items() if s == side]
        else:
            lv = list(self.prices[side].items())
        lv.sort(reverse=side == S_BUY)
        return lv

    def has_book(self, side: int) -> bool:
        """Whether the book side an order of ``side`` takes from (asks to buy) is known."""
        other = -side
        if self.queues:
            return any(s == other for s, _ in self.queues)
        if self.slots:
            return any(s == other for s, _ in self.slots)
        return bool(self.prices[other])

    def take_levels(self, side: int) -> list[tuple[int, int]]:
        """What an order of ``side`` can take (asks to buy, bids to sell), best first, with the
        prints the book has not shown yet taken out: a print at ``p`` by an aggressor on our side
        (or of unknown side) took its size at ``p`` and left nothing better than ``p``."""
        lv = self.side_levels(-side)
        for price, size, aggr in self.prints:
            if aggr == -side:
                continue
            kept = []
            for p, q in lv:
                if (p - price) * side < 0:  # better for us than the print: gone
                    continue
                if p == price:
                    q, size = q - size, max(size - q, 0)
                    if q <= 0:
                        continue
                kept.append((p, q))
            lv = kept
        return lv

    def deepest(self, side: int) -> int | None:
        """The worst price an order of ``side`` could see on the book side it takes, prints included."""
        lv = self.side_levels(-side)
        prices = [p for p, _ in lv] + [p for p, _, a in self.prints if a != -side]
        if not prices:
            return None
        return max(prices) if side == S_BUY else min(prices)

    def queue(self, side: int, price: int) -> tuple[dict[int, int] | None, int]:
        """Who rests at ``price`` on ``side`` now: (L3 order id -> size, or None on L2), total size."""
        if self.queues:
            q = self.queues.get((side, price))
            return (dict(q) if q else {}), (sum(q.values()) if q else 0)
        if self.slots:
            return None, sum(sz for (s, _), (p, sz) in self.slots.items() if s == side and p == price)
        return None, self.prices[side].get(price, 0)


def walk(
    levels: list[tuple[int, int]], qty: int, side: int, beyond: int | None, limit: int | None
) -> list[tuple[int, int]]:
    """(contracts, price) an order of ``qty`` takes from ``levels`` (best first), never past ``limit``;
    what the visible book cannot fill takes ``beyond`` (one tick past its worst price) when given."""
    out: list[tuple[int, int]] = []
    for price, size in levels:
        if qty <= 0 or (limit is not None and (price - limit) * side > 0):
            break
        n = min(qty, size)
        out.append((n, price))
        qty -= n
    if qty > 0 and beyond is not None and (limit is None or (beyond - limit) * side <= 0):
        if out and out[-1][1] == beyond:
            out[-1] = (out[-1][0] + qty, beyond)
        else:
            out.append((qty, beyond))
    return out
