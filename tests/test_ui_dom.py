"""DOM pane: rows equal the book ladder, one-click trading off by default, click-to-trade via Account."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui
from test_ui_support import feed_all, make_session, shot

from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument
from tapeflow.flow.book import LadderSnapshot
from tapeflow.ui.cell_delegate import CellAtlas, CellTableView
from tapeflow.ui.dom_pane import DomPane
from tapeflow.ui.ladder_model import Col, LadderModel
from tapeflow.ui.theme import DARK, LIGHT, apply_theme


@pytest.fixture
def dom(qtbot, qapp, tmp_path):
    apply_theme(qapp, DARK)
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    pane = DomPane(s.instrument, DARK, s.account, s.pipeline.flow.book.ladder)
    pane.resize(480, 820)
    qtbot.addWidget(pane)
    pane.show()
    pane.update_from(s.pipeline.snapshot())
    return pane, s


def _index(pane: DomPane, price: int, col: Col) -> QtCore.QModelIndex:
    row = pane.model.row_of(price)
    assert row is not None, f"price {price} not on the ladder"
    return pane.model.index(row, int(col))


def test_rows_equal_the_book_ladder_price_by_price(dom):
    pane, s = dom
    m = pane.model
    lo, hi = int(m.prices[-1]), int(m.prices[0])
    ladder = s.pipeline.flow.book.ladder(lo, hi)
    assert m.rowCount() == hi - lo + 1 == 41
    for row in range(m.rowCount()):
        k = len(ladder.price) - 1 - row  # ladder arrays run low to high, rows high to low
        assert m.price_at(row) == int(ladder.price[k])
        assert m.value(row, Col.BID) == int(ladder.bid_size[k])
        assert m.value(row, Col.ASK) == int(ladder.ask_size[k])
        assert m.value(row, Col.SOLD) == int(ladder.traded_at_bid[k])
        assert m.value(row, Col.BOUGHT) == int(ladder.traded_at_ask[k])


def test_ladder_is_centred_on_the_last_trade_and_shows_its_size(dom):
    pane, s = dom
    last = s.pipeline.flow.last_price
    assert pane.model.price_at(20) == last
    assert pane.model.value(20, Col.LAST) == int(s.pipeline.flow.tape()["size"][-1])


def test_one_click_trading_is_off_at_start_and_a_click_sends_nothing(dom):
    pane, s = dom
    assert not pane.one_click_enabled
    assert "OFF" in pane.one_click.text()
    bid = int(s.pipeline.snapshot().flow.depth.bid_price[0])
    assert pane.click_cell(_index(pane, bid, Col.BID)) is None
    assert s.account.orders == {}
    assert "off" in pane.message.text()


def test_click_on_bid_buys_at_that_price_through_the_account_and_a_click_on_the_order_cancels(dom):
    pane, s = dom
    pane.one_click.setChecked(True)
    pane.size_box.setValue(2)
    bid = int(s.pipeline.snapshot().flow.depth.bid_price[0]) - 3  # a resting price below the market
    res = pane.click_cell(_index(pane, bid, Col.BID))
    assert res is not None and res.ok
    (order,) = s.account.open_orders()
    assert order.side == Side.BUY and order.limit_price == bid and order.qty == 2
    pane.update_from(s.pipeline.snapshot())
    assert pane.model.value(pane.model.row_of(bid), Col.BUY_ORDERS) == 2
    pane.click_cell(_index(pane, bid, Col.BUY_ORDERS))
    assert s.account.open_orders() == []


def test_click_on_ask_sells_and_a_refusal_by_risk_is_shown(tmp_path, qtbot):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "trading.toml").write_text("[risk]\nmax_order_qty = 1\n")
    s = make_session(home, engine=False)
    feed_all(s)
    pane = DomPane(s.instrument, DARK, s.account, s.pipeline.flow.book.ladder)
    qtbot.addWidget(pane)
    pane.update_from(s.pipeline.snapshot())
    pane.one_click.setChecked(True)
    ask = int(s.pipeline.snapshot().flow.depth.ask_price[0]) + 2
    pane.size_box.setValue(3)
    res = pane.click_cell(_index(pane, ask, Col.ASK))
    assert res is not None and not res.ok and res.rule == "max_order_qty"
    assert "REFUSED" in pane.message.text()
    pane.size_box.setValue(1)
    assert pane.click_cell(_index(pane, ask, Col.ASK)).ok
    assert s.account.open_orders()[0].side == Side.SELL


def test_screenshot_of_the_ladder_with_a_working_order(dom, tmp_path):
    pane, s = dom
    pane.one_click.setChecked(True)
    bid = int(s.pipeline.snapshot().flow.depth.bid_price[0]) - 2
    pane.click_cell(_index(pane, bid, Col.BID))
    pane.update_from(s.pipeline.snapshot())
    shot(pane, "dom", tmp_path)


def test_a_ladder_update_announces_one_block_spanning_exactly_the_cells_that_changed(qapp):
    prices = np.arange(22_000, 22_011, dtype=np.int64)  # 11 rows, highest (22010) on row 0
    zeros = np.zeros(11, np.int64)

    def ladder(bid: np.ndarray, ask: np.ndarray) -> LadderSnapshot:
        return LadderSnapshot(price=prices, bid_size=bid, ask_size=ask, traded_at_bid=zeros, traded_at_ask=zeros)

    m = LadderModel(instrument("ES"), DARK, rows=11, wall=lambda: 100.0)
    bid, ask = np.full(11, 5, np.int64), np.full(11, 7, np.int64)
    m.set_state(ladder(bid, ask), last_price=None, last_size=0, last_ts=None, orders=[])
    got: list[tuple[int, int, int, int]] = []
    m.dataChanged.connect(lambda a, b, *_: got.append((a.row(), a.column(), b.row(), b.column())))
    bid2, ask2 = bid.copy(), ask.copy()
    bid2[2] = 9  # price 22002: row 8
    ask2[7] = 1  # price 22007: row 3
    m.set_state(ladder(bid2, ask2), last_price=None, last_size=0, last_ts=None, orders=[])
    # rows 3..8; columns from the bid change (±) and bid to the ask and its change (±)
    assert got == [(3, int(Col.BID_CHANGE), 8, int(Col.ASK_CHANGE))]
    # and the cells themselves, which the DOM's view repaints (not the block between them)
    assert m.dirty_cells == [(3, int(Col.ASK)), (3, int(Col.ASK_CHANGE)), (8, int(Col.BID_CHANGE)), (8, int(Col.BID))]
    assert m.value(8, Col.BID) == 9 and m.value(3, Col.ASK) == 1
    got.clear()
    m.set_state(ladder(bid2, ask2), last_price=None, last_size=0, last_ts=None, orders=[])
    assert got == [] and m.dirty_cells == []  # nothing changed, nothing to repaint


def test_the_dom_view_repaints_the_changed_cells_not_the_block_spanning_them(qapp):
    prices = np.arange(22_000, 22_011, dtype=np.int64)
    zeros = np.zeros(11, np.int64)

    def ladder(bid: np.ndarray) -> LadderSnapshot:
        return LadderSnapshot(price=prices, bid_size=bid, ask_size=np.full(11, 7, np.int64),
                              traded_at_bid=zeros, traded_at_ask=zeros)

    m = LadderModel(instrument("ES"), DARK, rows=11, wall=lambda: 100.0)
    view = CellTableView()
    view.setModel(m)
    bid = np.full(11, 5, np.int64)
    m.set_state(ladder(bid), last_price=None, last_size=0, last_ts=None, orders=[])
    bid[2], bid[8] = 9, 1  # rows 8 and 2
    m.set_state(ladder(bid), last_price=None, last_size=0, last_ts=None, orders=[])
    assert m.dirty_cells == [(2, int(Col.BID_CHANGE)), (2, int(Col.BID)), (8, int(Col.BID_CHANGE)), (8, int(Col.BID))]

    def cells(r: int, c0: int, c1: int) -> QtCore.QRect:
        x0 = view.columnViewportPosition(c0)
        return QtCore.QRect(x0, view.rowViewportPosition(r),
                            view.columnViewportPosition(c1) + view.columnWidth(c1) - x0, view.rowHeight(r))

    # one run of two cells per row; rows 3..7 between them are not repainted
    expected = QtGui.QRegion(cells(2, int(Col.BID_CHANGE), int(Col.BID))) + cells(8, int(Col.BID_CHANGE), int(Col.BID))
    assert view.cells_region(m.dirty_cells) == expected


def _cells_by_hand(view: CellTableView) -> QtGui.QImage:
    """The view's viewport as the delegate paints it cell by cell (``paint_cell``, static texts): the
    reference the one-pass paint of the view must match pixel for pixel."""
    vp = view.viewport()
    img = QtGui.QImage(vp.size(), QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(vp.palette().color(vp.backgroundRole()))
    model = view.model()
    p = QtGui.QPainter(img)
    try:
        for r in range(model.rowCount()):
            for c in range(model.columnCount()):
                rect = QtCore.QRect(view.columnViewportPosition(c), view.rowViewportPosition(r),
                                    view.columnWidth(c), view.rowHeight(r))
                view.cells.paint_cell(p, rect, model.cell(r, c), view.font())
    finally:
        p.end()
    return img


def test_the_one_pass_paint_draws_the_ladder_as_the_delegate_does_cell_by_cell(dom):
    pane, s = dom
    pane.one_click.setChecked(True)
    bid = int(s.pipeline.snapshot().flow.depth.bid_price[0]) - 2
    pane.click_cell(_index(pane, bid, Col.BID))  # a working order: the Buy column has a cell too
    pane.update_from(s.pipeline.snapshot())
    view = pane.table
    fmt = QtGui.QImage.Format.Format_ARGB32_Premultiplied
    view.cells._texts.clear()
    view.cells._seen.clear()
    view.atlas.env = None  # empty
    assert view.sprites

    def shot() -> QtGui.QImage:
        return view.viewport().grab().toImage().convertToFormat(fmt)

    want = _cells_by_hand(view)
    # drawn in place: first every text is new (drawn as text), then kept as static texts
    view.sprites = False
    assert shot() == want
    assert shot() == want
    # from the atlas: first the cells are drawn into it and copied, then only copied
    view.sprites = True
    assert shot() == want
    assert sum(len(pool) for pool in view.atlas.slots.values()) > 20
    assert shot() == want


def test_ladder_row_cells_are_its_cells_and_follow_a_changed_row_and_the_theme(qapp):
    prices = np.arange(22_000, 22_011, dtype=np.int64)
    zeros = np.zeros(11, np.int64)
    m = LadderModel(instrument("ES"), DARK, rows=11, wall=lambda: 100.0)
    bid = np.full(11, 5, np.int64)
    snap = LadderSnapshot(price=prices, bid_size=bid, ask_size=zeros, traded_at_bid=zeros, traded_at_ask=zeros)
    m.set_state(snap, last_price=None, last_size=0, last_ts=None, orders=[])
    assert all(m.row_cells(r) == tuple(m.cell(r, c) for c in range(len(Col))) for r in range(11))
    before = m.row_cells(8)
    assert m.row_cells(8) is before  # kept while the row stays
    bid2 = bid.copy()
    bid2[2] = 9  # row 8
    m.set_state(LadderSnapshot(price=prices, bid_size=bid2, ask_size=zeros, traded_at_bid=zeros, traded_at_ask=zeros),
                last_price=None, last_size=0, last_ts=None, orders=[])
    assert m.row_cells(8)[int(Col.BID)][0] == "9" and m.row_cells(8) == tuple(m.cell(8, c) for c in range(len(Col)))
    m.theme = LIGHT
    assert m.row_cells(0)[int(Col.PRICE)][1].color() == LIGHT.color("panel", 255)


def test_the_cell_atlas_takes_over_the_oldest_slot_of_a_size_and_never_one_still_to_be_copied():
    atlas = CellAtlas()
    atlas.SIZE = 100  # two shelves of 40 x 50: four slots of that size
    atlas.reset(("env",), QtGui.QImage.Format.Format_RGB32, 1)
    got = [atlas.place(("k", i), 40, 50, set()) for i in range(4)]
    assert got == [(0, 0), (40, 0), (0, 50), (40, 50)]
    assert atlas.place(("k", 4), 40, 50, set()) == (0, 0)  # the oldest, k0, taken over
    assert ("k", 0) not in atlas.slots[(40, 50)]
    busy = set(atlas.slots[(40, 50)].values())
    assert atlas.place(("k", 5), 40, 50, busy) is None  # all in use by the paint under way
    assert atlas.place(("k", 6), 30, 10, busy) is None  # full, and no slot of that size
    assert atlas.place(("k", 6), 30, 10, set()) == (0, 0)  # full of other sizes: emptied
    assert list(atlas.slots[(30, 10)]) == [("k", 6)] and not atlas.slots.get((40, 50))
    atlas.reset(("other env",), QtGui.QImage.Format.Format_RGB32, 1)
    assert not any(atlas.slots.values())


def test_a_recentred_ladder_moves_its_pixels_and_shows_what_a_full_repaint_shows(qtbot, qapp):
    apply_theme(qapp, DARK)
    m = LadderModel(instrument("ES"), DARK, rows=21, wall=lambda: 100.0)
    view = CellTableView()
    view.sprites = True
    view.setModel(m)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(18)
    view.resize(480, 21 * 18 + 40)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(5)

    def state(top: int, last: int) -> None:
        prices = np.arange(top - 20, top + 1, dtype=np.int64)  # low to high, as the book gives them
        sizes = rng.integers(0, 4, (4, 21)) * rng.integers(1, 30, (4, 21))
        lad = LadderSnapshot(price=prices, bid_size=np.where(prices <= last, sizes[0], 0),
                             ask_size=np.where(prices > last, sizes[1], 0),
                             traded_at_bid=sizes[2], traded_at_ask=sizes[3])
        m.set_state(lad, last_price=last, last_size=3, last_ts=last, orders=[], best=(last, last + 1))

    def shown_is_fresh() -> bool:
        QtCore.QCoreApplication.sendPostedEvents()
        QtCore.QCoreApplication.processEvents()
        shown = qapp.primaryScreen().grabWindow(view.winId()).toImage()
        return shown == view.grab().toImage().convertToFormat(shown.format())

    state(22_020, 22_010)
    assert shown_is_fresh()
    shifts = []
    for top, flush in ((22_025, True), (22_022, True), (22_010, True), (22_014, False), (22_030, False),
                       (22_031, True), (22_100, True), (22_095, False), (22_093, True)):
        state(top, top - 10)
        shifts.append(m.shift_rows)
        if flush:  # and when not, the next update moves rows whose repaint is still pending
            assert shown_is_fresh(), (top, m.shift_rows)
    assert shifts == [5, -3, -12, 4, 16, 1, 0, -5, -2]
    assert shown_is_fresh()


def test_a_recentred_ladder_lists_as_changed_only_the_uncovered_rows_and_the_cells_unlike_the_moved_ones(qapp):
    m = LadderModel(instrument("ES"), DARK, rows=11, wall=lambda: 100.0)

    def state(top: int, extra: int = 0) -> None:
        prices = np.arange(top - 10, top + 1, dtype=np.int64)
        bid = prices % 7 + 1  # a function of the price: the same wherever its row is
        bid[prices == 22_005] += extra
        zeros = np.zeros(11, np.int64)
        m.set_state(LadderSnapshot(price=prices, bid_size=bid, ask_size=zeros, traded_at_bid=zeros,
                                   traded_at_ask=zeros), last_price=None, last_size=0, last_ts=None, orders=[])

    state(22_010)
    state(22_013, extra=2)  # three rows up top are new; 22005 (row 8 now) got 2 more
    assert m.shift_rows == 3
    new_rows = {(r, c) for r in range(3) for c in range(len(Col))}
    assert set(m.dirty_cells) == new_rows | {(8, int(Col.BID_CHANGE)), (8, int(Col.BID))}
    assert m.value(8, Col.BID) == 22_005 % 7 + 3


def test_a_ladder_grabbed_before_it_was_ever_shown_is_drawn_in_full(qtbot, qapp, tmp_path):
    apply_theme(qapp, DARK)
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    pane = DomPane(s.instrument, DARK, s.account, s.pipeline.flow.book.ladder)
    qtbot.addWidget(pane)
    pane.resize(480, 820)
    pane.update_from(s.pipeline.snapshot())  # never shown: no backing store to match the atlas to
    fmt = QtGui.QImage.Format.Format_ARGB32_Premultiplied
    got = pane.table.viewport().grab().toImage().convertToFormat(fmt)
    assert sum(len(pool) for pool in pane.table.atlas.slots.values()) > 20
    assert got == _cells_by_hand(pane.table)
