"""Reference broker: simulated fills against the same tape everything else sees.

Fill model (deterministic; prices in ticks, sizes in contracts, time is the tape's ``ts_event``):

* Latency: an order sent when the tape is at ``t`` (SUBMITTED) goes live, ACCEPTED, at the first
  event with ``ts_event >= t + latency_ns`` (immediately when the latency is 0). Cancels and modifies take
  effect at once (a conservative choice for the trader: nothing fills after a cancel).
* The book is whatever the tape carries (:mod:`tapeflow.trading.paper_book`): L3 orders (mbo),
  L2 levels (mbp-1, mbp-10, the simulator, a CSV's DOM), or none (trades, CSV without DOM), in
  which case the last trade stands in for it. ``fill_model(root)`` names which one ran.
* Market: walks the book side it takes (asks to buy, bids to sell), best level first, for its
  size; what the visible book cannot fill takes one tick past its worst level. Each level's price
  plus ``slippage_ticks`` against us. Without a book: the last trade plus slippage.
* Taking happens on a consistent book: on a tape whose book rows mark the end of each exchange
  event (``LAST`` flag: Databento mbo, mbp-1, mbp-10, the simulator) an order that would take
  liquidity while a print's event is still open (the book rows that show what it traded have not
  arrived) waits for the end of the event; on a tape that does not (tbbo, CSV DOM), the prints
  since the last book row are taken out of the book.
* Limit: a marketable limit takes the book up to its price (no slippage) and rests the rest. A
  resting limit fills completely when a trade prints *through* its price; a trade *at* its price
  (hitting our side, or of unknown aggressor) first eats the queue ahead, and only the excess
  fills us. The queue ahead is, on L3, exactly the orders at our price placed before ours: their
  cancels and shrinking modifies advance us, orders joining later never count, and the book rows
  that follow a print (the exchange taking out what it traded) do not advance us a second time.
  On L2 it is the level's size when the order went live, eaten by prints only; without a book, 0.
* Stop: triggers on a trade at or through the stop, then fills like a market order against the
  book *after* the triggering print. A stop-limit becomes a limit at its limit price.
* Instruments: each order fills on its own instrument's tape. A micro whose tape the broker does
  not read (no MES feed open) fills on its E-mini's (``Instrument.tape_of``: MES on ES, MNQ on
  NQ): the same book, queue and prices; the fill carries the micro's root, so the ledger books
  it at the micro's tick value ($1.25 an MES tick).
* Costs: ``(commission + exchange fee) * qty`` cents on every fill, at the rates of the order's own
  instrument (``PaperSettings.cost_per_contract_cents_for``): an MES filled on the ES tape pays MES fees.
* Batching: rows absorbed in bulk leave the book, last print and open prints exactly as row by row,
  and the account marks and checks its P&L limits after each row that could matter (a fill, a print
  outside its band: :mod:`tapeflow.trading.mark_bands`), so fills never depend on the batch size.
* Our own fills never change the simulated book (a second order sees the same levels): on thin
  books and large sizes that errs in the trader's favour, which is why the report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec
import numpy as np

from tapeflow.core.events import K_CLEAR, K_LEVEL, K_ORDER, K_TRADE, LEVEL_UNKNOWN, NO_PRICE, Flag, Side, select
from tapeflow.core.instruments import INSTRUMENTS
from tapeflow.trading.broker import EventCallback
from tapeflow.trading.orders import EventKind, Fill, Order, OrderEvent, OrderStatus, OrderType
from tapeflow.trading.paper_book import MAX_PRINTS, PaperBook, walk
from tapeflow.trading.settings import PaperSettings

_replace = msgspec.structs.replace
_SMALL = 16  # rows: below this a batch is walked row by row
_LAST = int(Flag.LAST)
_BOOK_ACTIONS = frozenset(map(ord, "ACMR"))  # ORDER actions that change the book (not F, T, N)


@dataclass(slots=True)
class _Working:
    order: Order
    active_at: int
    live: bool = False
    queue_ahead: int = 0  # contracts resting ahead of us at our price (book sizes)
    pending: int = 0  # of those, what prints already ate but the book has not shown gone (L3)
    ahead: set[int] | None = None  # L3: ids of the orders ahead of us; None on L2 / no book
    key: tuple[str, int, int] | None = None  # (root, side, price) whose L3 queue we watch
    waiting: bool = False  # waits for the end of the exchange event to take liquidity
    tape: str = ""  # root of the tape it fills on (its own, or its E-mini's: ``tape_root``)


class PaperBroker:
    """Simulated execution; implements :class:`tapeflow.trading.broker.Broker`."""

    def __init__(
        self, settings: PaperSettings | None = None, instrument_ids: Mapping[int, str] | None = None
    ) -> None:
        """``instrument_ids`` maps the tape's ``instrument_id`` to a root (default ``{0: "ES"}``)."""
        self.settings = settings or PaperSettings()
        self.instrument_ids: dict[int, str] = {}
        self._ids_by_root: dict[str, int] = {}
        self.books: dict[str, PaperBook] = {}
        self._root_ids: dict[str, np.ndarray] = {}  # root -> every tape id read as that root
        self.clock_ns = 0
        self._open: dict[int, _Working] = {}
        self._next_activation: int | None = None
        self._fill_id = 0
        self._version = 0  # bumped on every order change: invalidates the interesting-row set
        self._listener: EventCallback = lambda e: None
        self._waiting: list[_Working] = []
        self._watchers: dict[tuple[str, int, int], list[_Working]] = {}
        self.mark_bands: dict[str, tuple[int, int]] = {}  # tape root -> prints at/below lo or at/above hi ...
        self.on_row: Callable[[], None] | None = None  # ... and rows with a fill call this (``set_mark_bands``)
        self.map_tape(instrument_ids or {0: "ES"})

    def _new_book(self, root: str) -> PaperBook:
        book = self.books[root] = PaperBook()
        book.on_reduce = lambda side, price, oid, by, gone: self._on_reduce(root, side, price, oid, by, gone)
        return book

    def new_tape(self, root: str) -> None:
        """A new recording of ``root`` starts (the next file of a backtest): forget the old book.

        Working orders stay; a limit that queued behind L3 orders keeps its count as an L2-style
        estimate, and an order waiting for the end of an event takes the next book or print."""
        self._new_book(root)
        self._waiting = [w for w in self._waiting if w.tape != root]
        for w in self._open.values():
            if w.tape == root:
                w.waiting = False
                if w.ahead is not None:
                    w.queue_ahead, w.pending, w.ahead, w.key = w.queue_ahead - w.pending, 0, None, None
        self._version += 1

    def fill_model(self, root: str) -> str:
        """What the tape let the fills use for ``root``: ``"mbo"``, ``"mbp"`` or ``"trades"``."""
        book = self.books.get(self.tape_root(root))
        return book.fill_model if book is not None else "trades"

    def tape_root(self, root: str) -> str:
        """The root whose tape ``root``'s orders fill on: its own when this broker reads a tape of
        it, else its E-mini's when that one is read (MES on the ES tape), else its own."""
        if root in self._root_ids:
            return root
        inst = INSTRUMENTS.get(root)
        parent = inst.tape_of if inst is not None else None
        return parent if parent is not None and parent in self._root_ids else root

    def last_price(self, root: str) -> int | None:
        """Last trade (ticks) on the tape ``root`` fills on: what its position is marked to."""
        book = self.books.get(self.tape_root(root))
        return None if book is None else book.last

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
            if root not in self.books:
                self._new_book(root)
        self._root_ids = {
            root: np.array([i for i, r in self.instrument_ids.items() if r == root])
            for root in set(self.instrument_ids.values())
        }
        for w in self._open.values():  # a micro's own feed opened: its orders move to its tape
            w.tape = self.tape_root(w.order.instrument)
        self._version += 1

    def set_mark_bands(self, bands: dict[str, tuple[int, int]]) -> None:
        """After a row with a fill, and after a print of a tape root at or below ``lo`` or at or above
        ``hi``, the broker calls ``on_row()``: the account marks and checks its P&L limits there, as
        if the batch had ended on that row (:mod:`tapeflow.trading.mark_bands`). Other prints need no
        Python and are absorbed in bulk."""
        if bands != self.mark_bands:
            self.mark_bands = bands
            self._version += 1

    def resume_fill_ids(self, last_id: int) -> None:
        """Number the next fills after ``last_id`` (a restored journal's last): fill ids stay
        unique within a journal across restarts, as a venue's fill ids are."""
        self._fill_id = max(self._fill_id, last_id)

    # -- Broker protocol --------------------------------------------------------------------
    def set_listener(self, callback: EventCallback) -> None:
        self._listener = callback

    def submit(self, order: Order) -> None:
        w = _Working(order, self.clock_ns + self.settings.latency_ns, tape=self.tape_root(order.instrument))
        self._open[order.id] = w
        self._emit(w, EventKind.SUBMITTED, OrderStatus.SUBMITTED)
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
            if not self._open and not self.mark_bands:
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
        is_trade = kinds == K_TRADE
        if self._waiting:  # rows that may end an event some order waits for
            mask |= ~is_trade & ((sub["flags"] & _LAST) != 0)
        trade_masks: dict[str, np.ndarray] = {}
        for root, (lo, hi) in self.mark_bands.items():
            ids = self._root_ids.get(root)
            if ids is not None:
                m = trade_masks[root] = is_trade & ((iids == ids[0]) if len(ids) == 1 else np.isin(iids, ids))
                mask |= m & ((prices <= lo) | (prices >= hi))
        for w in self._open.values():
            o = w.order
            if not w.live or w.waiting:
                continue
            ids = self._root_ids.get(w.tape)
            if ids is None:
                continue
            m = trade_masks.get(w.tape)
            if m is None:
                mine = (iids == ids[0]) if len(ids) == 1 else np.isin(iids, ids)  # one id: the usual case, cheaper
                m = trade_masks[w.tape] = is_trade & mine
            typ, buy = o.request.type, o.side == Side.BUY
            if typ == OrderType.MARKET or (typ == OrderType.STOP and o.triggered):
                mask |= m
            elif typ in (OrderType.STOP, OrderType.STOP_LIMIT) and not o.triggered:
                assert o.stop_price is not None
                mask |= m & ((prices >= o.stop_price) if buy else (prices <= o.stop_price))
            else:
                assert o.limit_price is not None
                mask |= m & ((prices <= o.limit_price) if buy else (prices >= o.limit_price))
        return np.flatnonzero(mask) + start

    def _process_row(self, batch: np.ndarray, i: int) -> None:
        fills = self._fill_id
        self._apply_row(batch, i)
        if self.on_row is not None and (self._fill_id != fills or self._marks(batch, i)):
            self.on_row()

    def _marks(self, batch: np.ndarray, i: int) -> bool:
        """Whether row ``i`` is a print outside its tape's mark band."""
        if not self.mark_bands or batch["kind"][i] != K_TRADE:
            return False
        band = self.mark_bands.get(self.instrument_ids.get(int(batch["instrument_id"][i]), ""))
        price = int(batch["price"][i])
        return band is not None and (price <= band[0] or price >= band[1])

    def _apply_row(self, batch: np.ndarray, i: int) -> None:
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
        kind, side, price, size = int(row["kind"]), int(row["side"]), int(row["price"]), int(row["size"])
        if kind == K_TRADE:
            book.trade(price, size, side)
            self._on_trade(root, price, size, side)
        elif self._apply(book, kind, side, int(row["level"]), price, size, int(row["action"]),
                         int(row["order_id"]), int(row["flags"])) and self._waiting:
            self._resolve_waiting(root)

    @staticmethod
    def _apply(book: PaperBook, kind: int, side: int, level: int, price: int, size: int, action: int,
               oid: int, flags: int) -> bool:
        """One book row; True when it ends the event of the prints before it (they are in the book now)."""
        if flags & _LAST:
            book.packets = True
        if kind == K_LEVEL:
            book.level(side, level, price, size)
        elif kind == K_ORDER:
            book.order(action, oid, side, price, size)
            if action not in _BOOK_ACTIONS:
                return False
        elif kind == K_CLEAR:
            book.clear()
        else:
            return False
        if flags & _LAST or not book.packets:
            book.prints.clear()
            return True
        return False

    def _absorb(self, batch: np.ndarray) -> None:
        """Rows that touch no order: leave the book, last trade and open prints exactly as
        :meth:`_process_row` row by row would (vectorized for trades and levels; L3 orders are
        applied row by row, in order), so results never depend on how the tape was batched."""
        if len(batch) == 0:
            return
        self.clock_ns = max(self.clock_ns, int(batch["ts_event"].max()))
        kinds = batch["kind"]
        is_trade = kinds == K_TRADE
        book_rows = None if is_trade.all() else ~is_trade
        ordered = book_rows is not None and bool(np.any(kinds == K_ORDER))
        iids = batch["instrument_id"]
        for root, ids in self._root_ids.items():
            mine = (iids == ids[0]) if len(ids) == 1 else np.isin(iids, ids)
            if not mine.any():
                continue
            book = self.books[root]
            if ordered and np.any(mine & (kinds == K_ORDER)):
                self._absorb_rows(book, select(batch, mine))
                continue
            trades = np.flatnonzero(mine & is_trade)
            seen = book.seen
            if len(trades):
                book.last = int(batch["price"][trades[-1]])
                book.seen = max(book.seen, 1)
            ends = None
            if book_rows is not None:
                ends = self._event_ends(book, batch, mine & book_rows)
                self._absorb_levels(book, batch, mine & book_rows)
            if len(trades) or (ends is not None and len(ends)):
                self._open_prints(book, batch, trades, ends, seen, mine)

    @staticmethod
    def _event_ends(book: PaperBook, batch: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Indices of the book rows after which no print is open (:meth:`_apply`): clears, and
        rows that end an exchange event (``LAST``); every book row until the tape first shows a
        ``LAST`` (tbbo, CSV DOM). Sets ``book.packets`` as the rows do."""
        last = rows & ((batch["flags"] & _LAST) != 0)
        ends = last | (rows & (batch["kind"] == K_CLEAR))
        if not book.packets:
            first = np.flatnonzero(last)
            upto = int(first[0]) + 1 if len(first) else len(rows)
            ends[:upto] |= rows[:upto]
            book.packets = bool(len(first))
        return np.flatnonzero(ends)

    @staticmethod
    def _absorb_levels(book: PaperBook, batch: np.ndarray, mine: np.ndarray) -> None:
        """Level rows: the last clear, then the last write of each (side, depth) slot, or of each
        (side, price) for price-keyed rows."""
        kinds = batch["kind"]
        clears = np.flatnonzero(mine & (kinds == K_CLEAR))
        start = 0
        if len(clears):
            book.clear()
            start = int(clears[-1]) + 1
        lv = np.flatnonzero(mine[start:] & (kinds[start:] == K_LEVEL)) + start
        if not len(lv):
            return
        rows = select(batch, lv)
        side, depth, price = rows["side"], rows["level"], rows["price"]
        keyed = depth == LEVEL_UNKNOWN  # by price: one key per price instead of per depth
        if keyed.any():
            rows = select(rows, ~keyed | (price != NO_PRICE))
            side, depth, price = rows["side"], rows["level"], rows["price"]
            keyed = depth == LEVEL_UNKNOWN
            lowest = int(price[keyed].min()) if keyed.any() else 0
            slot = np.where(keyed, 256 + price - lowest, depth)
        else:
            slot = depth.astype(np.int64)
        key = (side.astype(np.int64) + 1) * (1 << 40) + slot
        _, last_rev = np.unique(key[::-1], return_index=True)
        pick = np.sort(len(key) - 1 - last_rev)
        cols = (side[pick].tolist(), depth[pick].tolist(), price[pick].tolist(), rows["size"][pick].tolist())
        level = book.level
        for s, d, p, q in zip(*cols, strict=True):
            level(s, d, p, q)

    @staticmethod
    def _open_prints(
        book: PaperBook, batch: np.ndarray, trades: np.ndarray, ends: np.ndarray | None, seen: int,
        mine: np.ndarray,
    ) -> None:
        """The prints after the last row that ended an event: what the book does not show yet.
        ``seen``: the book's kind before the batch; prints before its first level are not kept
        (:meth:`PaperBook.trade` keeps none until the tape has shown a book)."""
        if ends is not None and len(ends):
            book.prints.clear()
            trades = trades[trades > ends[-1]]
        if seen < 2 and len(trades):
            levels = mine & (batch["kind"] == K_LEVEL) & np.isin(batch["side"], (int(Side.BUY), int(Side.SELL)))
            levels &= (batch["price"] != NO_PRICE) | (batch["size"] <= 0)
            first = np.flatnonzero(levels)
            trades = trades[trades > first[0]] if len(first) else trades[:0]
        rows = trades[-MAX_PRINTS:]
        for p, q, a in zip(*(batch[f][rows].tolist() for f in ("price", "size", "side")), strict=True):
            book.trade(p, q, a)

    def _absorb_rows(self, book: PaperBook, rows: np.ndarray) -> None:
        """L3 rows in order (a watched queue hears of every order ahead that shrinks).
        The L3 case is :meth:`_apply` inlined: it runs once per order message of the tape."""
        packets, prints, order, apply = book.packets, book.prints, book.order, self._apply
        cols = (rows[f].tolist() for f in ("kind", "side", "level", "price", "size", "action", "order_id", "flags"))
        for kind, side, level, price, size, action, oid, flags in zip(*cols, strict=True):
            if kind == K_ORDER:
                if flags & _LAST and not packets:  # the tape marks its events from here on
                    packets = book.packets = True
                order(action, oid, side, price, size)
                if prints and action in _BOOK_ACTIONS and (flags & _LAST or not packets):
                    prints.clear()
            elif kind == K_TRADE:
                book.trade(price, size, side)
            else:
                apply(book, kind, side, level, price, size, action, oid, flags)
                packets = book.packets

    # -- simulation -------------------------------------------------------------------------
    def _book(self, order: Order) -> PaperBook:
        root = self.tape_root(order.instrument)
        book = self.books.get(root)
        if book is None:
            book = self._new_book(root)
        return book

    def _activate_due(self, ts: int) -> None:
        for w in list(self._open.values()):
            if not w.live and w.order.id in self._open and w.active_at <= ts:
                self._activate(w)
        # Recomputed after the loop: activating an entry can submit its bracket children, whose
        # activation times must not be lost.
        pending = [w.active_at for w in self._open.values() if not w.live]
        nxt = min(pending) if pending else None
        if nxt != self._next_activation:
            # The interesting-row set marks only the first row due at the old time. The old time can
            # be stale (its order was cancelled, or a later submit did not lower it), so this row may
            # have activated nothing: without a new set the rows due at ``nxt`` would be absorbed.
            self._next_activation = nxt
            self._version += 1

    def _activate(self, w: _Working) -> None:
        w.live = True
        w.order = _replace(w.order, venue_id=f"paper-{w.order.id}")
        self._emit(w, EventKind.ACCEPTED, OrderStatus.ACCEPTED)
        o = w.order
        book = self._book(o)
        if o.request.type == OrderType.MARKET:
            self._take(w)
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
            self._take(w)
        else:
            self._rest_or_take(w)

    def _must_wait(self, w: _Working, book: PaperBook) -> bool:
        """An order about to take liquidity while a print's event is open waits for its end."""
        if not (book.packets and book.prints):
            return False
        if not w.waiting:
            w.waiting = True
            self._waiting.append(w)
            self._version += 1
        return True

    def _resolve_waiting(self, root: str) -> None:
        """The event closed: the orders that waited take the book as it is now."""
        now = [w for w in self._waiting if w.tape == root]
        if not now:
            return
        self._waiting = [w for w in self._waiting if w.tape != root]
        self._version += 1  # they watch prints again: the interesting rows skipped them while waiting
        for w in now:
            w.waiting = False
            if w.order.id not in self._open:
                continue
            typ = w.order.request.type
            if typ == OrderType.MARKET or typ == OrderType.STOP:
                self._take(w)
            else:
                self._rest_or_take(w)

    def _take(self, w: _Working) -> None:
        """Market (or triggered stop): walk the book for the size, each level plus slippage."""
        o = w.order
        book = self._book(o)
        side = int(o.side)
        plan: list[tuple[int, int]] = []
        if book.seen >= 2:
            if self._must_wait(w, book):
                return
            worst = book.deepest(side)
            plan = walk(book.take_levels(side), o.remaining, side, None if worst is None else worst + side, None)
        if not plan:
            if book.last is None:
                return  # no price yet: the next print fills it
            plan = [(o.remaining, book.last)]
        self._fill_plan(w, plan, side * self.settings.slippage_ticks)

    def _fill_plan(self, w: _Working, plan: list[tuple[int, int]], slip: int) -> None:
        for qty, price in plan:
            if w.order.id not in self._open or w.order.remaining <= 0:
                return
            self._fill(w, min(qty, w.order.remaining), price + slip)

    def _rest_or_take(self, w: _Working) -> None:
        o = w.order
        assert o.limit_price is not None
        book = self._book(o)
        side = int(o.side)
        if book.has_book(side):
            plan = walk(book.take_levels(side), o.remaining, side, None, o.limit_price)
            if plan:
                if self._must_wait(w, book):
                    return
                self._fill_plan(w, plan, 0)
                if w.order.id not in self._open:
                    return
        elif book.last is not None and (book.last - o.limit_price) * side < 0:
            self._fill(w, o.remaining, book.last)  # no book: a print better than the limit
            return
        self._join_queue(w, book)

    def _join_queue(self, w: _Working, book: PaperBook) -> None:
        """Rest at the limit, at the back of its price's queue."""
        o = w.order
        assert o.limit_price is not None
        side, root = int(o.side), w.tape
        ahead, total = book.queue(side, o.limit_price)
        w.queue_ahead, w.pending = total, 0
        w.ahead = None if ahead is None else set(ahead)
        w.key = None
        if ahead is None:
            return
        w.key = (root, side, o.limit_price)
        live = [x for x in self._watchers.get(w.key, ()) if x.key == w.key and x.order.id in self._open]
        self._watchers[w.key] = [*live, w]
        book.watched.add((side, o.limit_price))

    def _on_reduce(self, root: str, side: int, price: int, oid: int, by: int, gone: bool) -> None:
        """An L3 order at a watched price shrank: if it was ahead of one of ours, we move up, unless
        the shrink is the book catching up with a print that already ate that much of the queue."""
        key = (root, side, price)
        live = [w for w in self._watchers.get(key, ()) if w.key == key and w.order.id in self._open]
        if not live:
            self._watchers.pop(key, None)
            self.books[root].watched.discard((side, price))
            return
        self._watchers[key] = live
        for w in live:
            if w.ahead is None or oid not in w.ahead:
                continue
            w.queue_ahead -= by
            w.pending -= min(by, w.pending)
            if gone:
                w.ahead.discard(oid)

    def _on_trade(self, root: str, price: int, size: int, aggressor: int) -> None:
        for w in list(self._open.values()):
            o = w.order
            if not w.live or w.waiting or w.tape != root or o.id not in self._open:
                continue
            typ = o.request.type
            if typ == OrderType.MARKET or (typ == OrderType.STOP and o.triggered):
                self._take(w)
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
            eaten = min(size, max(w.queue_ahead - w.pending, 0))
            if w.ahead is None:
                w.queue_ahead -= eaten  # L2: the estimate only ever shrinks by prints
            else:
                w.pending += eaten  # L3: the book rows that follow take those orders out
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
            commission_cents=qty * self.settings.cost_per_contract_cents_for(w.order.instrument),
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
