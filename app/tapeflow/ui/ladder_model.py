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
        new_prices = ladder.price[::-1].copy()
        reset = len(new_prices) != len(self.prices)
        if reset:
            self.beginResetModel()
        self.ladder = ladder
        self.prices = new_prices
        for side, sizes in ((0, ladder.bid_size), (1, ladder.ask_size)):
            for price, size in zip(ladder.price.tolist(), sizes.tolist(), strict=True):
                key = (side, price)
                prev = self._prev_size.get(key)
                if prev is not None and prev != size:
                    self._changes[key] = (size - prev, now)
                self._prev_size[key] = size
        self._changes = {k: v for k, v in self._changes.items() if now - v[1] <= CHANGE_HOLD_S}
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
        if reset:
            self.endResetModel()
        elif len(self.prices):
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.prices) - 1, len(Col) - 1))

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

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), Col(index.column())
        role_ = QtCore.Qt.ItemDataRole
        price = int(self.prices[row])
        th = self.theme
        if role == role_.DisplayRole:
            if col is Col.PRICE:
                return self.instrument.format_price(price)
            v = self.value(row, col)
            if not v:
                return ""
            if col in (Col.BID_CHANGE, Col.ASK_CHANGE):
                return f"{v:+d}"
            return compact(v)
        if role == role_.TextAlignmentRole:
            if col in (Col.BID, Col.BID_CHANGE, Col.BUY_ORDERS, Col.SOLD):
                return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            if col is Col.PRICE:
                return int(QtCore.Qt.AlignmentFlag.AlignCenter)
            return int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter)
        if role == role_.BackgroundRole:
            return self._background(row, col, price)
        if role == role_.ForegroundRole:
            if col in (Col.BID_CHANGE, Col.ASK_CHANGE):
                v = self.value(row, col)
                return QtGui.QBrush(th.color("ask_strong" if v > 0 else "bid_strong"))
            if col is Col.PRICE and price == self.position_price:
                return QtGui.QBrush(QtGui.QColor("#ffffff"))
            if col is Col.LAST and self.value(row, col) >= self.large_lot:
                return QtGui.QBrush(th.color("warning"))
            return QtGui.QBrush(th.color("text"))
        bold_row = price in (self.last_price, self.position_price)
        if role == role_.FontRole and col in (Col.PRICE, Col.LAST) and bold_row:
            f = QtGui.QFont()
            f.setBold(True)
            return f
        if role == role_.ToolTipRole and col is Col.PRICE and price == self.position_price:
            return f"position {self.position_qty:+d} around {self.instrument.format_price(price)}"
        return None

    def _background(self, row: int, col: Col, price: int) -> QtGui.QBrush | None:
        th = self.theme
        if col is Col.PRICE:
            if price == self.position_price:
                return QtGui.QBrush(th.color("position", 200))
            if price == self.last_price:
                return QtGui.QBrush(th.color("last", 150))
            return QtGui.QBrush(th.color("panel"))
        if col is Col.BID and self.value(row, col):
            return QtGui.QBrush(th.color("bid", 150 if price == self.best_bid else 70))
        if col is Col.ASK and self.value(row, col):
            return QtGui.QBrush(th.color("ask", 150 if price == self.best_ask else 70))
        if col in (Col.BUY_ORDERS, Col.SELL_ORDERS) and self.value(row, col):
            return QtGui.QBrush(th.color("position", 120))
        if col is Col.LAST and price == self.last_price and self.wall() - self.last_at <= FLASH_S:
            return QtGui.QBrush(th.color("last", 200))
        if col is Col.SOLD and self.value(row, col):
            return QtGui.QBrush(th.color("bid", 35))
        if col is Col.BOUGHT and self.value(row, col):
            return QtGui.QBrush(th.color("ask", 35))
        return None
