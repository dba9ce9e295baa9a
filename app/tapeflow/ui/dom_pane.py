"""DOM pane: the price ladder with click-to-trade, size selector and position markers.

One-click trading is off every time the pane is created and has to be switched on by hand; the
switch shows its state in colour. Clicks: on the Bid column buy a limit at that price, on the Ask
column sell a limit at that price, on our own orders (Buy/Sell columns) cancel them. Every order
goes through ``Account.submit`` (kill switch and risk checks); a refusal is shown in the pane.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument
from tapeflow.flow.book import LadderSnapshot
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.trading.account import Account, SubmitResult
from tapeflow.trading.orders import OrderRequest, OrderType, Source
from tapeflow.ui.cell_delegate import CellTableView
from tapeflow.ui.ladder_model import HEADERS, Col, LadderModel
from tapeflow.ui.text import usd, widest_price_text
from tapeflow.ui.theme import Theme

COLUMN_MIN_PX = {
    Col.BUY_ORDERS: 34, Col.BID_CHANGE: 40, Col.BID: 46, Col.PRICE: 66, Col.ASK: 46,
    Col.ASK_CHANGE: 40, Col.SELL_ORDERS: 34, Col.SOLD: 44, Col.BOUGHT: 44, Col.LAST: 36,
}
COLUMN_SAMPLE = {  # the widest text a column usually shows (``compact`` sizes, signed changes)
    Col.BUY_ORDERS: "999", Col.BID_CHANGE: "+999", Col.BID: "999k", Col.ASK: "999k",
    Col.ASK_CHANGE: "+999", Col.SELL_ORDERS: "999", Col.SOLD: "999k", Col.BOUGHT: "999k", Col.LAST: "999",
}

LadderSource = Callable[[int, int], LadderSnapshot]
"""``book.ladder(lo, hi)``: resting size and session traded volume per price (ticks)."""


class DomPane(QtWidgets.QWidget):
    """Price ladder dock content."""

    order_result = QtCore.Signal(str)  # message for the status bar

    def __init__(self, instrument: Instrument, theme: Theme, account: Account | None,
                 ladder_source: LadderSource, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dom")
        self.instrument = instrument
        self.theme = theme
        self.account = account
        self.ladder_source = ladder_source
        self.model = LadderModel(instrument, theme)
        self._frame_key: tuple | None = None

        self.one_click = QtWidgets.QPushButton()
        self.one_click.setCheckable(True)
        self.one_click.setChecked(False)  # safe default, every start
        self.one_click.toggled.connect(self._one_click_changed)
        self.size_box = QtWidgets.QSpinBox()
        self.size_box.setRange(1, 100)
        self.size_box.setPrefix("qty ")
        self.size_buttons = []
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(self.one_click, 1)
        top.addWidget(self.size_box)
        for q in (1, 2, 5):
            b = QtWidgets.QToolButton()
            b.setText(str(q))
            b.clicked.connect(lambda _=False, q=q: self.size_box.setValue(q))
            self.size_buttons.append(b)
            top.addWidget(b)

        self.position_label = QtWidgets.QLabel("flat")
        self.position_label.setObjectName("domPosition")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)

        self.table = CellTableView()
        self.table.sprites = True  # ladder cells repeat: copied from an atlas once painted twice
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(18)
        self.table.horizontalHeader().setMinimumSectionSize(24)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.table.clicked.connect(self.click_cell)
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.size_columns()

        buttons = QtWidgets.QHBoxLayout()
        buttons.setContentsMargins(4, 2, 4, 2)
        self.buy_market = QtWidgets.QPushButton("Buy Mkt")
        self.sell_market = QtWidgets.QPushButton("Sell Mkt")
        self.flatten_button = QtWidgets.QPushButton("Flatten")
        self.cancel_button = QtWidgets.QPushButton("Cancel all")
        self.center_button = QtWidgets.QPushButton("Centre")
        for b in (self.buy_market, self.sell_market, self.flatten_button, self.cancel_button, self.center_button):
            buttons.addWidget(b)
        self.buy_market.clicked.connect(lambda: self.market(Side.BUY))
        self.sell_market.clicked.connect(lambda: self.market(Side.SELL))
        self.flatten_button.clicked.connect(self.flatten)
        self.cancel_button.clicked.connect(self.cancel_all)
        self.center_button.clicked.connect(self.model.recenter)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.position_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self.apply_theme(theme)
        self._one_click_changed(False)

    # ---------------------------------------------------------------- geometry

    def column_width(self, col: Col) -> int:
        """Pixels column ``col`` needs: its header and its widest usual value (bold where the ladder
        bolds it) in the view's fonts, and never less than the column's minimum."""
        # bold is the wider of the two
        return max(COLUMN_MIN_PX[col], self.table.column_px(HEADERS[col], (self._sample(col),), bold=True))

    def _sample(self, col: Col) -> str:
        if col is Col.PRICE:
            return widest_price_text(self.instrument)
        return COLUMN_SAMPLE[col]

    def size_columns(self) -> None:
        """Every column as wide as its header and usual values need (fonts differ between systems)."""
        for col in Col:
            self.table.setColumnWidth(int(col), self.column_width(col))

    def ladder_width(self) -> int:
        """Width the pane needs to show every ladder column without a horizontal scroll bar."""
        t = self.table
        columns = sum(t.columnWidth(int(c)) for c in Col)
        scroll = t.verticalScrollBar().sizeHint().width()
        return columns + scroll + 2 * t.frameWidth()

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        return QtCore.QSize(max(hint.width(), self.ladder_width()), hint.height())

    # ---------------------------------------------------------------- state

    @property
    def one_click_enabled(self) -> bool:
        return self.one_click.isChecked()

    def _one_click_changed(self, on: bool) -> None:
        th = self.theme
        self.one_click.setText("ONE-CLICK TRADING: ON" if on else "One-click trading: OFF (click to arm)")
        color = th.ask if on else th.panel
        text = "#ffffff" if on else th.text_dim
        border = th.ask_strong if on else th.grid
        self.one_click.setStyleSheet(
            f"QPushButton {{ background: {color}; color: {text}; font-weight: bold; border: 2px solid {border};"
            " padding: 4px; }"
        )
        for b in (self.buy_market, self.sell_market):
            b.setEnabled(on and self.account is not None)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.model.theme = theme
        self._one_click_changed(self.one_click_enabled)
        self.position_label.setStyleSheet(f"color: {theme.position}; font-weight: bold; padding: 2px 4px;")
        self.message.setStyleSheet(f"color: {theme.warning}; padding: 2px 4px;")

    def set_instrument(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.model.instrument = instrument
        self.model.recenter()
        self._frame_key = None  # the next frame is another book's: draw it whatever it holds

    # ---------------------------------------------------------------- frames

    def update_from(self, snap: PipelineSnapshot) -> bool:
        """One frame; the ladder is read for the visible prices only."""
        flow = snap.flow
        acct = snap.account
        key = (flow.events_seen, acct.working_orders if acct else 0, acct.positions if acct else ())
        if key == self._frame_key and not self.model._changes:
            return False
        self._frame_key = key
        span = self.model.rows_for(flow.last_price)
        if span is None:
            return False
        ladder = self.ladder_source(*span)
        tape = flow.tape
        last_size = int(tape["size"][-1]) if len(tape) else 0
        pos_qty, pos_avg, pnl = 0, None, 0
        if acct is not None:
            for p in acct.positions:
                if p.instrument == self.instrument.root and p.qty:
                    pos_qty, pnl = p.qty, p.unrealized_cents
                    pos_avg = float(p.avg_price_ticks) if p.avg_price_ticks is not None else None
        orders = self.account.open_orders() if self.account is not None else []
        depth = flow.depth
        best = (int(depth.bid_price[0]) if len(depth.bid_price) else None,
                int(depth.ask_price[0]) if len(depth.ask_price) else None)
        self.model.set_state(ladder, last_price=flow.last_price, last_size=last_size, last_ts=flow.last_ts,
                             orders=orders, position_qty=pos_qty, position_avg=pos_avg, best=best)
        if pos_qty and pos_avg is not None:
            avg = self.instrument.format_price(round(pos_avg)) if pos_avg == round(pos_avg) else \
                f"{float(self.instrument.tick_size) * pos_avg:.{self.instrument.price_decimals + 2}f}"
            self.position_label.setText(f"position {pos_qty:+d} @ {avg}   open P&L {usd(pnl)}")
        else:
            self.position_label.setText("flat")
        return True

    # ---------------------------------------------------------------- trading

    def click_cell(self, index: QtCore.QModelIndex) -> SubmitResult | None:
        """Click-to-trade; nothing happens (but a hint) while one-click trading is off."""
        if not index.isValid():
            return None
        col = Col(index.column())
        if col not in (Col.BID, Col.ASK, Col.BUY_ORDERS, Col.SELL_ORDERS):
            return None
        if not self.one_click_enabled:
            self._say("One-click trading is off: switch it on at the top of the ladder to trade here.")
            return None
        price = self.model.price_at(index.row())
        if col in (Col.BUY_ORDERS, Col.SELL_ORDERS):
            self.cancel_at(price, Side.BUY if col is Col.BUY_ORDERS else Side.SELL)
            return None
        side = Side.BUY if col is Col.BID else Side.SELL
        return self.limit(side, price)

    def limit(self, side: Side, price: int) -> SubmitResult | None:
        return self._submit(OrderRequest(instrument=self.instrument.root, side=side, qty=self.size_box.value(),
                                         type=OrderType.LIMIT, limit_price=price, source=Source.MANUAL, tag="dom"))

    def market(self, side: Side) -> SubmitResult | None:
        if not self.one_click_enabled:
            self._say("One-click trading is off.")
            return None
        return self._submit(OrderRequest(instrument=self.instrument.root, side=side, qty=self.size_box.value(),
                                         type=OrderType.MARKET, source=Source.MANUAL, tag="dom"))

    def cancel_at(self, price: int, side: Side) -> int:
        """Cancel our working orders of one side at one price; returns how many."""
        if self.account is None:
            return 0
        n = 0
        for o in self.account.open_orders():
            px = o.limit_price if o.limit_price is not None else o.stop_price
            if px == price and o.side == side and o.instrument == self.instrument.root:
                self.account.cancel(o.id, "cancelled from the DOM")
                n += 1
        self._say(f"cancelled {n} order(s) at {self.instrument.format_price(price)}")
        self._frame_key = None
        return n

    def cancel_all(self) -> None:
        if self.account is not None:
            self.account.cancel_all(self.instrument.root, "cancel all (DOM)")
            self._say("cancelled all working orders")
            self._frame_key = None

    def flatten(self) -> None:
        if self.account is not None:
            self.account.flatten(self.instrument.root, "flatten (DOM)")
            self._say("flatten sent")
            self._frame_key = None

    def _submit(self, req: OrderRequest) -> SubmitResult | None:
        if self.account is None:
            self._say("no trading account in this session")
            return None
        res = self.account.submit(req)
        what = f"{'BUY' if req.side == Side.BUY else 'SELL'} {req.qty} {req.type}"
        if req.limit_price is not None:
            what += f" @ {self.instrument.format_price(req.limit_price)}"
        self._say(f"{what}: {'sent' if res.ok else 'REFUSED: ' + res.reason}")
        self._frame_key = None
        return res

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.order_result.emit(text)
