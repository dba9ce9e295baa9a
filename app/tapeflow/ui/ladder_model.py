"""Table model of the DOM ladder: one row per price, highest first, centred on the last trade.

Why a model apart from the pane: the rows are plain numbers computed from the book ladder, our
working orders and the last trades, which the tests compare with the book one to one; the pane
only adds the click-to-trade behaviour around it. Resting-size changes between frames are kept
per price for a short while so pulled (size dropped) and stacked (size added) levels stand out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from enum import IntEnum

import numpy as np
from PySide6 import QtCore, QtGui

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument
from tapeflow.flow.book import LadderSnapshot
from tapeflow.trading.orders import Order
from tapeflow.ui.text import compact
from tapeflow.ui.theme import Theme

CHANGE_HOLD_S = 2.0  # how long a pulled/stacked change stays on the ladder (wall seconds)
FLASH_S = 0.8  # how long the last trade's size flashes


class Col(IntEnum):
    BUY_ORDERS = 0
    BID_CHANGE = 1
    BID = 2
    PRICE = 3
    ASK = 4
    ASK_CHANGE = 5
    SELL_ORDERS = 6
    SOLD = 7  # session volume traded at the bid (sellers hit it)
    BOUGHT = 8  # session volume traded at the ask
    LAST = 9


HEADERS = {
    Col.BUY_ORDERS: "Buy",
    Col.BID_CHANGE: "±",
    Col.BID: "Bid",
    Col.PRICE: "Price",
    Col.ASK: "Ask",
    Col.ASK_CHANGE: "±",
    Col.SELL_ORDERS: "Sell",
    Col.SOLD: "Sold",
    Col.BOUGHT: "Bought",
    Col.LAST: "Last",
}


_RIGHT = int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter)
_ALIGN = tuple(
    _RIGHT if c in (Col.BID, Col.BID_CHANGE, Col.BUY_ORDERS, Col.SOLD)
    else int(QtCore.Qt.AlignmentFlag.AlignCenter) if c is Col.PRICE else _LEFT
    for c in Col
)


class LadderModel(QtCore.QAbstractTableModel):
    """Rows of the ladder for prices ``hi..lo`` (ticks), refreshed once per frame."""

    def __init__(self, instrument: Instrument, theme: Theme, rows: int = 41,
                 wall: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.instrument = instrument
        self.theme = theme
        self.n_rows = rows
        self.wall = wall
        self.large_lot = 20
        self.center: int | None = None
        self.ladder: LadderSnapshot | None = None
        self.prices = np.zeros(0, np.int64)  # row -> price, highest first
        self.buy_orders: dict[int, int] = {}  # price -> working contracts
        self.sell_orders: dict[int, int] = {}
        self.position_price: int | None = None  # average price rounded to a tick, for the marker
        self.position_qty = 0
        self.last_price: int | None = None
        self.last_size = 0
        self.last_at = 0.0
        self.best_bid: int | None = None
        self.best_ask: int | None = None
        self._changes: dict[tuple[int, int], tuple[int, float]] = {}  # (side, price) -> (change, when)
        self._prev_size: dict[tuple[int, int], int] = {}
        self._last_ts: int | None = None
        self._cells: list[tuple[tuple, ...]] = []
        self._rows: list[tuple | None] = []  # row -> its cells with brushes (row_cells), made when painted
        self._texts: dict[int, str] = {}  # size -> compact text
        self._price_texts: dict[int, str] = {}  # price -> text, for self._price_inst
        self._price_inst: Instrument | None = None
        self.dirty_cells: list[tuple[int, int]] | None = None  # (row, col) the last update changed; None: all
        self.shift_rows = 0
        """Rows the last update moved every price down by (re-centred; negative: up): ``dirty_cells``
        are then the cells unlike the cell ``shift_rows`` rows above them before the update."""
        self._brushes: dict[tuple[str, int], QtGui.QBrush] = {}
        self._brush_theme: Theme | None = None
        self._bold = QtGui.QFont()
        self._bold.setBold(True)

    # ---------------------------------------------------------------- update

    def rows_for(self, last_price: int | None) -> tuple[int, int] | None:
        """Re-centre only when the last trade leaves the middle half, so the ladder does not jump."""
        if last_price is None:
            return None
        half = self.n_rows // 2
        if self.center is None or abs(last_price - self.center) > half // 2:
            self.center = last_price
        return self.center - half, self.center + half

    def recenter(self) -> None:
        self.center = None

    def set_state(
        self,
        ladder: LadderSnapshot,
        *,
        last_price: int | None,
        last_size: int,
        last_ts: int | None,
        orders: Iterable[Order],
        position_qty: int = 0,
        position_avg: float | None = None,
        best: tuple[int | None, int | None] = (None, None),
    ) -> None:
        now = self.wall()
        old_prices = self.prices
        new_prices = ladder.price[::-1].copy()
        reset = len(new_prices) != len(self.prices)
        if reset:
            self.beginResetModel()
        self.ladder = ladder
        self.prices = new_prices
        changes, prev_size = self._changes, self._prev_size
        for side, sizes in ((0, ladder.bid_size), (1, ladder.ask_size)):
            for price, size in zip(ladder.price.tolist(), sizes.tolist(), strict=True):
                key = (side, price)
                prev = prev_size.get(key)
                if prev is not None and prev != size:
                    changes.pop(key, None)  # to the end: the dict runs oldest change first
                    changes[key] = (size - prev, now)
                prev_size[key] = size
        # changes older than the hold are at the front (a re-centred ladder leaves many behind)
        for key, (_, when) in list(changes.items()):
            if now - when <= CHANGE_HOLD_S:
                break
            del changes[key]
        if len(self._prev_size) > 20 * self.n_rows:  # forget prices far from the ladder
            lo, hi = int(ladder.price[0]), int(ladder.price[-1])
            self._prev_size = {k: v for k, v in self._prev_size.items() if lo <= k[1] <= hi}
        if last_ts != self._last_ts and last_price is not None:
            self.last_at = now
            self._last_ts = last_ts
        self.last_price, self.last_size = last_price, last_size
        self.buy_orders, self.sell_orders = {}, {}
        for o in orders:
            px = o.limit_price if o.limit_price is not None else o.stop_price
            if px is None:
                continue
            book = self.buy_orders if o.side == Side.BUY else self.sell_orders
            book[px] = book.get(px, 0) + o.remaining
        self.position_qty = position_qty
        self.position_price = round(position_avg) if position_avg is not None and position_qty else None
        self.best_bid, self.best_ask = best
        cells = self._build_cells()
        old = self._cells
        self._cells = cells
        self.dirty_cells = None
        rows = self._rows
        if len(rows) != len(cells):
            self._rows = [None] * len(cells)
        else:
            for r, (a, b) in enumerate(zip(cells, old, strict=True)):
                if a != b:
                    rows[r] = None
        self.shift_rows = 0
        if reset:
            self.endResetModel()
        elif len(old) == len(cells):
            shift = self._shift(old_prices, new_prices)
            if shift:
                # re-centred: a price's row moved by ``shift``; a view that moves its pixels as much
                # repaints only the cells unlike the ones moved onto them (at max speed the ladder
                # re-centres most updates, and every row then shows another price)
                n = len(cells)
                blank = (None,) * len(Col)
                moved = [old[r - shift] if 0 <= r - shift < n else blank for r in range(n)]
                self.dirty_cells = _changed_cells(cells, moved)
                self.shift_rows = shift
                self.dataChanged.emit(self.index(0, 0), self.index(n - 1, len(Col) - 1))
                return
            # one signal for the block of cells that changed (a signal per cell cost ~20 us each); the
            # cells themselves are in ``dirty_cells``, and the DOM's view repaints only those: at max
            # speed the block is most of the ladder, while a tenth of a second changes ~70 of its cells
            dirty = self.dirty_cells = _changed_cells(cells, old)
            if dirty:
                cols = [c for _, c in dirty]
                self.dataChanged.emit(self.index(dirty[0][0], min(cols)), self.index(dirty[-1][0], max(cols)))
        elif len(cells):
            self.dataChanged.emit(self.index(0, 0), self.index(len(cells) - 1, len(Col) - 1))

    @staticmethod
    def _shift(old: np.ndarray, new: np.ndarray) -> int:
        """Rows a price moved down between two ladders of consecutive ticks (0: same rows, or not comparable)."""
        n = len(new)
        if n < 2 or len(old) != n:
            return 0
        hi_old, hi_new = int(old[0]), int(new[0])
        if hi_old - int(old[-1]) != n - 1 or hi_new - int(new[-1]) != n - 1:
            return 0
        shift = hi_new - hi_old
        return shift if abs(shift) < n else 0

    def _build_cells(self) -> list[tuple[tuple, ...]]:
        """Every cell as ``(text, background key, foreground key, bold)``, computed once per update.

        Qt asks ``data()`` for about eight roles per cell at each repaint; answering from this table
        (and repainting only the cells that differ from the previous update) is what keeps a ladder
        repaint cheap. Colour keys are ``(theme colour name, alpha)`` or None.
        """
        lad = self.ladder
        if lad is None or not len(self.prices):
            return []
        prices = self.prices.tolist()
        bid = lad.bid_size[::-1].tolist()
        ask = lad.ask_size[::-1].tolist()
        sold = lad.traded_at_bid[::-1].tolist()
        bought = lad.traded_at_ask[::-1].tolist()
        changes = self._changes
        flash = self.wall() - self.last_at <= FLASH_S
        if self._price_inst is not self.instrument or len(self._price_texts) > 4096:
            self._price_texts.clear()
            self._price_inst = self.instrument
        if len(self._texts) > 4096:
            self._texts.clear()
        fmt = self.instrument.format_price
        price_texts, texts = self._price_texts, self._texts

        def size(n: int) -> str:
            t = texts.get(n)
            if t is None:
                t = texts[n] = compact(n) if n else ""
            return t

        def price_text(price: int) -> str:
            t = price_texts.get(price)
            if t is None:
                t = price_texts[price] = fmt(price)
            return t

        text = ("text", 255)
        rows = []
        for k, price in enumerate(prices):
            is_last = price == self.last_price
            is_pos = price == self.position_price
            bold = is_last or is_pos
            b, a, so, bo = bid[k], ask[k], sold[k], bought[k]
            bo_n = self.buy_orders.get(price, 0)
            so_n = self.sell_orders.get(price, 0)
            bc = changes.get((0, price), (0, 0.0))[0]
            ac = changes.get((1, price), (0, 0.0))[0]
            last = self.last_size if is_last else 0
            price_bg = ("position", 200) if is_pos else ("last", 150) if is_last else ("panel", 255)
            rows.append((
                (size(bo_n), ("position", 120) if bo_n else None, text, False),
                (f"{bc:+d}" if bc else "", None, ("ask_strong" if bc > 0 else "bid_strong", 255), False),
                (size(b), ("bid", 150 if price == self.best_bid else 70) if b else None, text, False),
                (price_text(price), price_bg, ("#ffffff", 255) if is_pos else text, bold),
                (size(a), ("ask", 150 if price == self.best_ask else 70) if a else None, text, False),
                (f"{ac:+d}" if ac else "", None, ("ask_strong" if ac > 0 else "bid_strong", 255), False),
                (size(so_n), ("position", 120) if so_n else None, text, False),
                (size(so), ("bid", 35) if so else None, text, False),
                (size(bo), ("ask", 35) if bo else None, text, False),
                (size(last), ("last", 200) if is_last and flash else None,
                 ("warning", 255) if last >= self.large_lot else text, bold),
            ))
        return rows

    def _follow_theme(self) -> None:
        """Drop the brushes and the rows made with them when the theme changed."""
        if self._brush_theme is not self.theme:
            self._brushes.clear()
            self._rows = [None] * len(self._cells)
            self._brush_theme = self.theme

    def brush(self, key: tuple[str, int]) -> QtGui.QBrush:
        """One brush per (colour, alpha) and theme, made once."""
        self._follow_theme()
        b = self._brushes.get(key)
        if b is None:
            name, alpha = key
            c = QtGui.QColor(name) if name.startswith("#") else self.theme.color(name, alpha)
            b = self._brushes[key] = QtGui.QBrush(c)
        return b

    # ---------------------------------------------------------------- model API

    def rowCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return len(self.prices)

    def columnCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return len(Col)

    def headerData(self, section: int, orientation, role: int = QtCore.Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == QtCore.Qt.ItemDataRole.DisplayRole and orientation == QtCore.Qt.Orientation.Horizontal:
            return HEADERS[Col(section)]
        return None

    def price_at(self, row: int) -> int:
        return int(self.prices[row])

    def row_of(self, price: int) -> int | None:
        hit = np.flatnonzero(self.prices == price)
        return int(hit[0]) if len(hit) else None

    def value(self, row: int, col: Col) -> int:
        """The number shown in a cell (0 = blank), for the pane and the tests."""
        lad = self.ladder
        if lad is None:
            return 0
        k = len(self.prices) - 1 - row  # ladder arrays run low to high
        price = int(self.prices[row])
        if col is Col.BID:
            return int(lad.bid_size[k])
        if col is Col.ASK:
            return int(lad.ask_size[k])
        if col is Col.SOLD:
            return int(lad.traded_at_bid[k])
        if col is Col.BOUGHT:
            return int(lad.traded_at_ask[k])
        if col is Col.BUY_ORDERS:
            return self.buy_orders.get(price, 0)
        if col is Col.SELL_ORDERS:
            return self.sell_orders.get(price, 0)
        if col is Col.BID_CHANGE:
            return self._changes.get((0, price), (0, 0.0))[0]
        if col is Col.ASK_CHANGE:
            return self._changes.get((1, price), (0, 0.0))[0]
        if col is Col.LAST:
            return self.last_size if price == self.last_price else 0
        return price

    def cell(self, row: int, col: int) -> tuple:
        """What :class:`~tapeflow.ui.cell_delegate.CellDelegate` paints: text, background, foreground, bold, align."""
        text, bg, fg, bold = self._cells[row][col]
        return (text, None if bg is None else self.brush(bg), self.brush(fg),
                bold and col in (Col.PRICE, Col.LAST), _ALIGN[col])

    def row_keys(self, row: int) -> tuple:
        """Per column what its cell looks like (text, colour keys, bold), for the view's atlas of cells."""
        return self._cells[row]

    @property
    def look(self) -> Theme:
        """What the cells' look depends on besides :meth:`row_keys`."""
        return self.theme

    def row_cells(self, row: int) -> tuple:
        """Every :meth:`cell` of ``row``, made once per change of the row (and of the theme): a
        repaint of the ladder asks for ~200 cells, and building each at every paint cost ~5 us."""
        self._follow_theme()
        got = self._rows[row]
        if got is None:
            got = self._rows[row] = tuple(self.cell(row, c) for c in range(len(Col)))
        return got

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if row >= len(self._cells):
            return None
        text, bg, fg, bold = self._cells[row][col]
        role_ = QtCore.Qt.ItemDataRole
        if role == role_.DisplayRole:
            return text
        if role == role_.BackgroundRole:
            return None if bg is None else self.brush(bg)
        if role == role_.ForegroundRole:
            return self.brush(fg)
        if role == role_.TextAlignmentRole:
            return _ALIGN[col]
        if role == role_.FontRole and bold and col in (Col.PRICE, Col.LAST):
            return self._bold
        if role == role_.ToolTipRole and col == Col.PRICE and self.position_price is not None \
                and int(self.prices[row]) == self.position_price:
            return f"position {self.position_qty:+d} around {self.instrument.format_price(self.position_price)}"
        return None


def _changed_cells(cells: list[tuple[tuple, ...]], before: list[tuple[tuple, ...]]) -> list[tuple[int, int]]:
    """``(row, col)`` of the cells unlike the cell at the same place ``before``, row-major."""
    return [(r, c) for r, (a, b) in enumerate(zip(cells, before, strict=True)) if a != b
            for c, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
