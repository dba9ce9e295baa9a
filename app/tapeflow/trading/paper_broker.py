"""Reference broker: simulated fills against the same tape everything else sees.

Fill model (deterministic; prices in ticks, sizes in contracts, time is the tape's ``ts_event``):

* Latency: an order sent when the tape is at ``t`` goes live at the first event with
  ``ts_event >= t + latency_ns`` (immediately when the latency is 0). Cancels and modifies take
  effect at once (a conservative choice for the trader: nothing fills after a cancel).
* Market: at the touch (best ask to buy, best bid to sell, from book LEVEL rows when the tape has
  them, else the last trade) plus ``slippage_ticks`` against us.
* Limit: a marketable limit fills at once at the touch (never worse than the limit). A resting
  limit fills completely when a trade prints *through* its price; a trade *at* its price (hitting
  our side, or of unknown aggressor) first eats the queue ahead, estimated as the book size at that
  price when the order went live (0 without a book), and only the excess fills us.
* Stop: triggers on a trade at or through the stop, then fills like a market order. A stop-limit
  becomes a limit at its limit price (joining the back of the queue).
* Costs: ``(commission + exchange fee) * qty`` cents on every fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec
import numpy as np

from tapeflow.core.events import Kind, Side
from tapeflow.trading.broker import EventCallback
from tapeflow.trading.orders import EventKind, Fill, Order, OrderEvent, OrderStatus, OrderType
from tapeflow.trading.settings import PaperSettings

_replace = msgspec.structs.replace
_SMALL = 16  # rows: below this a batch is walked row by row


@dataclass(slots=True)
class _Book:
    """Aggregated book of one instrument: depth slot -> (price, size), plus last trade."""

    bids: dict[int, tuple[int, int]] = field(default_factory=dict)
    asks: dict[int, tuple[int, int]] = field(default_factory=dict)
    last: int | None = None

    def level(self, side: int, depth: int, price: int, size: int) -> None:
        book = self.bids if side == Side.BUY else self.asks
        if size <= 0:
            book.pop(depth, None)
        else:
            book[depth] = (price, size)

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def touch(self, side: Side) -> int | None:
        """Price a market order of ``side`` takes: best ask to buy, best bid to sell."""
        book = self.asks if side == Side.BUY else self.bids
        if book:
            prices = [p for p, _ in book.values()]
            return min(prices) if side == Side.BUY else max(prices)
        return self.last

    def size_at(self, side: Side, price: int) -> int:
        """Resting size on our side of the book at ``price`` (queue ahead of a new order)."""
        book = self.bids if side == Side.BUY else self.asks
        return sum(s for p, s in book.values() if p == price)


@dataclass(slots=True)
class _Working:
    order: Order
    active_at: int
    live: bool = False
    queue_ahead: int = 0


class PaperBroker:
    """Simulated execution; implements :class:`tapeflow.trading.broker.Broker`."""

    def __init__(
        self, settings: PaperSettings | None = None, instrument_ids: Mapping[int, str] | None = None
    ) -> None:
        """``instrument_ids`` maps the tape's ``instrument_id`` to a root (default ``{0: "ES"}``)."""
        self.settings = settings or PaperSettings()
        self.instrument_ids: dict[int, str] = {}
        self._ids_by_root: dict[str, int] = {}
        self.books: dict[str, _Book] = {}
        self._root_ids: dict[str, np.ndarray] = {}  # root -> every tape id read as that root
        self.clock_ns = 0
        self._open: dict[int, _Working] = {}
        self._next_activation: int | None = None
        self._fill_id = 0
        self._version = 0  # bumped on every order change: invalidates the interesting-row set
        self._listener: EventCallback = lambda e: None
        self.map_tape(instrument_ids or {0: "ES"})

    def tape_id(self, root: str) -> int:
        """The ``instrument_id`` this broker reads ``root``'s tape under (added if unknown)."""
        iid = self._ids_by_root.get(root)
        if iid is None:
            iid = max(self.instrument_ids, default=-1) + 1
            self.map_tape({iid: root})
        return iid

    def map_tape(self, instrument_ids: Mapping[int, str]) -> None:
        """Read the tape's ``instrument_id`` keys as these roots (ids a feed announces late, such as
        a live feed's symbol mappings, are added as they come; see :mod:`tapeflow.trading.tape_ids`)."""
        for iid, root in instrument_ids.items():
            self.instrument_ids[int(iid)] = root
            self._ids_by_root.setdefault(root, int(iid))
            self.books.setdefault(root, _Book())
        self._root_ids = {
            root: np.array([i for i, r in self.instrument_ids.items() if r == root])
            for root in set(self.instrument_ids.values())
        }
        self._version += 1

    def resume_fill_ids(self, last_id: int) -> None:
        """Number the next fills after ``last_id`` (a restored journal's last): fill ids stay
        unique within a journal across restarts, as a venue's fill ids are."""
        self._fill_id = max(self._fill_id, last_id)

    # -- Broker protocol --------------------------------------------------------------------
    def set_listener(self, callback: EventCallback) -> None:
        self._listener = callback

    def submit(self, order: Order) -> None:
        w = _Working(order, self.clock_ns + self.settings.latency_ns)
        self._open[order.id] = w
        self._emit(w, EventKind.ACCEPTED, OrderStatus.ACCEPTED)
        if w.active_at <= self.clock_ns:
            self._activate(w)
        elif self._next_activation is None or w.active_at < self._next_activation:
            self._next_activation = w.active_at

    def cancel(self, order_id: int, reason: str = "") -> None:
        w = self._open.get(order_id)
        if w is not None:
            self._emit(w, EventKind.CANCELLED, OrderStatus.CANCELLED, reason=reason)

    def modify(
        self,
        order_id: int,
        *,
        qty: int | None = None,
        limit_price: int | None = None,
        stop_price: int | None = None,
    ) -> None:
        w = self._open.get(order_id)
        if w is None:
            return
        o = w.order
        new = _replace(
            o,
            qty=o.qty if qty is None else max(qty, o.filled_qty + 1),
            limit_price=o.limit_price if limit_price is None else limit_price,
            stop_price=o.stop_price if stop_price is None else stop_price,
        )
        w.order = new
        self._version += 1
        self._listener(OrderEvent(ts_ns=self.clock_ns, kind=EventKind.MODIFIED, order=new))
        if not w.live or order_id not in self._open:
            return
        typ, last = o.request.type, self._book(o).last
        is_limit = typ == OrderType.LIMIT or (typ == OrderType.STOP_LIMIT and new.triggered)
        if is_limit and new.limit_price != o.limit_price:
            self._rest_or_take(w)  # a new price joins the back of that price's queue
        elif (
            typ in (OrderType.STOP, OrderType.STOP_LIMIT)
            and not new.triggered
            and last is not None
            and self._stop_hit(new, last)
        ):
            self._trigger(w)

    def open_orders(self) -> list[Order]:
        return [w.order for w in self._open.values()]

    # -- market data ------------------------------------------------------------------------
    def on_events(self, batch: np.ndarray) -> None:
        """Advance the simulation over one event batch (rows in source order).

        Rows that cannot touch any order (no activation due, no price at or through an order's
        trigger) are absorbed in bulk with numpy; only the others run through Python. The set of
        interesting rows is recomputed whenever an order changes.
        """
        n = len(batch)
        i = 0
        while i < n:
            if not self._open:
                self._absorb(batch[i:])
                return
            if n - i <= _SMALL:  # numpy set-up costs more than it saves on a few rows
                self._process_row(batch, i)
                i += 1
                continue
            version = self._version
            rows = self._interesting(batch, i).tolist()
            for j in rows:
                if j > i:
                    self._absorb(batch[i:j])
                self._process_row(batch, j)
                i = j + 1
                if self._version != version:
                    break
            else:
                self._absorb(batch[i:])
                return

    def _interesting(self, batch: np.ndarray, start: int) -> np.ndarray:
        """Absolute indices (>= start) of rows that may activate, trigger or fill an open order."""
        sub = batch[start:]
        mask = np.zeros(len(sub), dtype=bool)
        if self._next_activation is not None:
            due = np.flatnonzero(sub["ts_event"] >= self._next_activation)
            if len(due):
                mask[due[0]] = True
        kinds, prices, iids = sub["kind"], sub["price"], sub["instrument_id"]
        is_trade = kinds == Kind.TRADE
        trade_masks: dict[str, np.ndarray] = {}
        for w in self._open.values():
            o = w.order
            if not w.live:
                continue
            ids = self._root_ids.get(o.instrument)
            if ids is None:
                continue
            m = trade_masks.get(o.instrument)
            if m is None:
                mine = (iids == ids[0]) if len(ids) == 1 else np.isin(iids, ids)  # one id: the usual case, cheaper
                m = trade_masks[o.instrument] = is_trade & mine
            typ, buy = o.request.type, o.side == Side.BUY
            if typ == OrderType.MARKET:
                mask |= m
            elif typ in (OrderType.STOP, OrderType.STOP_LIMIT) and not o.triggered:
                assert o.stop_price is not None
                mask |= m & ((prices >= o.stop_price) if buy else (prices <= o.stop_price))
            else:
                assert o.limit_price is not None
                mask |= m & ((prices <= o.limit_price) if buy else (prices >= o.limit_price))
        return np.flatnonzero(mask) + start

    def _process_row(self, batch: np.ndarray, i: int) -> None:
        row = batch[i]
        ts = int(row["ts_event"])
        if ts > self.clock_ns:
            self.clock_ns = ts
        if self._next_activation is not None and self._next_activation <= ts:
            self._activate_due(ts)
        root = self.instrument_ids.get(int(row["instrument_id"]))
        if root is None:
            return
        book = self.books[root]
        kind = int(row["kind"])
        if kind == Kind.TRADE:
            book.last = int(row["price"])
            self._on_trade(root, book.last, int(row["size"]), int(row["side"]))
        elif kind == Kind.LEVEL:
            book.level(int(row["side"]), int(row["level"]), int(row["price"]), int(row["size"]))
        elif kind == Kind.CLEAR:
            book.clear()

    def _absorb(self, batch: np.ndarray) -> None:
        """Fast path with no open orders: keep only the final book and last trade (vectorized)."""
        if len(batch) == 0:
            return
        self.clock_ns = max(self.clock_ns, int(batch["ts_event"].max()))
        kinds = batch["kind"]
        for iid, root in self.instrument_ids.items():
            mine = batch["instrument_id"] == iid
            book = self.books[root]
            trades = np.flatnonzero(mine & (kinds == Kind.TRADE))
            if len(trades):
                book.last = int(batch["price"][trades[-1]])
            clears = np.flatnonzero(mine & (kinds == Kind.CLEAR))
            start = 0
            if len(clears):
                book.clear()
                start = int(clears[-1]) + 1
            lv = np.flatnonzero(mine[start:] & (kinds[start:] == Kind.LEVEL)) + start
            if len(lv) == 0:
                continue
            rows = batch[lv]
            key = (rows["side"].astype(np.int64) + 1) * 256 + rows["level"].astype(np.int64)
            _, last_rev = np.unique(key[::-1], return_index=True)
            for j in np.sort(len(rows) - 1 - last_rev).tolist():
                r = rows[j]
                book.level(int(r["side"]), int(r["level"]), int(r["price"]), int(r["size"]))

    # -- simulation -------------------------------------------------------------------------
    def _book(self, order: Order) -> _Book:
        book = self.books.get(order.instrument)
        if book is None:
            book = self.books[order.instrument] = _Book()
        return book

    def _activate_due(self, ts: int) -> None:
        for w in list(self._open.values()):
            if not w.live and w.order.id in self._open and w.active_at <= ts:
                self._activate(w)
        # Recomputed after the loop: activating an entry can submit its bracket children, whose
        # activation times must not be lost.
        pending = [w.active_at for w in self._open.values() if not w.live]
        self._next_activation = min(pending) if pending else None

    def _activate(self, w: _Working) -> None:
        w.live = True
        self._emit(w, EventKind.WORKING, OrderStatus.WORKING)
        o = w.order
        book = self._book(o)
        if o.request.type == OrderType.MARKET:
            self._fill_at_touch(w)
        elif o.request.type == OrderType.LIMIT:
            self._rest_or_take(w)
        elif book.last is not None and self._stop_through(o, book.last):
            self._trigger(w)

    def _stop_through(self, o: Order, price: int) -> bool:
        """At activation: the market already traded beyond the stop (a print *at* the stop before
        the order existed does not trigger it; the next print at or through it does)."""
        assert o.stop_price is not None
        return price > o.stop_price if o.side == Side.BUY else price < o.stop_price

    def _stop_hit(self, o: Order, price: int) -> bool:
        assert o.stop_price is not None
        return price >= o.stop_price if o.side == Side.BUY else price <= o.stop_price

    def _trigger(self, w: _Working) -> None:
        self._version += 1
        w.order = _replace(w.order, triggered=True)
        self._emit(w, EventKind.TRIGGERED, w.order.status)
        if w.order.request.type == OrderType.STOP:
            self._fill_at_touch(w)
        else:
            self._rest_or_take(w)

    def _fill_at_touch(self, w: _Working) -> None:
        o = w.order
        touch = self._book(o).touch(o.side)
        if touch is not None:
            self._fill(w, o.remaining, touch + int(o.side) * self.settings.slippage_ticks)

    def _rest_or_take(self, w: _Working) -> None:
        o = w.order
        assert o.limit_price is not None
        book = self._book(o)
        touch = book.touch(o.side)
        has_book = bool(book.asks if o.side == Side.BUY else book.bids)
        worse = 0 if touch is None else (touch - o.limit_price) * int(o.side)  # < 0: better than limit
        if touch is not None and (worse <= 0 if has_book else worse < 0):
            self._fill(w, o.remaining, touch)
        else:
            w.queue_ahead = book.size_at(o.side, o.limit_price)

    def _on_trade(self, root: str, price: int, size: int, aggressor: int) -> None:
        for w in list(self._open.values()):
            o = w.order
            if not w.live or o.instrument != root or o.id not in self._open:
                continue
            typ = o.request.type
            if typ == OrderType.MARKET:
                self._fill_at_touch(w)
            elif typ in (OrderType.STOP, OrderType.STOP_LIMIT) and not o.triggered:
                if self._stop_hit(o, price):
                    self._trigger(w)
            else:
                self._limit_on_trade(w, price, size, aggressor)

    def _limit_on_trade(self, w: _Working, price: int, size: int, aggressor: int) -> None:
        o = w.order
        assert o.limit_price is not None
        beyond = (o.limit_price - price) * int(o.side)  # > 0: traded through our price
        if beyond > 0:
            self._fill(w, o.remaining, o.limit_price)
        elif beyond == 0 and aggressor != int(o.side):
            eaten = min(size, w.queue_ahead)
            w.queue_ahead -= eaten
            left = size - eaten
            if left > 0:
                self._fill(w, min(left, o.remaining), o.limit_price)

    def _fill(self, w: _Working, qty: int, price: int) -> None:
        o = w.order
        self._fill_id += 1
        fill = Fill(
            id=self._fill_id,
            order_id=o.id,
            ts_ns=self.clock_ns,
            instrument=o.instrument,
            side=o.side,
            qty=qty,
            price=price,
            commission_cents=qty * self.settings.cost_per_contract_cents,
            source=o.request.source,
        )
        w.order = _replace(
            o, filled_qty=o.filled_qty + qty, fill_value_ticks=o.fill_value_ticks + qty * price
        )
        done = w.order.filled_qty >= w.order.qty
        kind = EventKind.FILLED if done else EventKind.PARTIALLY_FILLED
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        self._emit(w, kind, status, fill=fill)

    def _emit(
        self, w: _Working, kind: EventKind, status: OrderStatus, *, fill: Fill | None = None, reason: str = ""
    ) -> None:
        self._version += 1
        w.order = _replace(w.order, status=status, reason=reason or w.order.reason)
        if status.is_terminal:
            self._open.pop(w.order.id, None)
        self._listener(OrderEvent(ts_ns=self.clock_ns, kind=kind, order=w.order, fill=fill, reason=reason))
