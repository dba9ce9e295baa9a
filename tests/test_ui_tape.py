"""Time and sales and signal log panes."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui
from test_ui_support import feed_all, make_session, shot

from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument
from tapeflow.ui.signal_log_pane import SignalLogPane
from tapeflow.ui.tape_pane import MAX_ROWS, TapePane
from tapeflow.ui.theme import DARK, LIGHT, apply_theme


def _tape_pane(qtbot, tmp_path) -> tuple:
    """A session fed to its end (no engine) and a dark tape pane for it, not yet updated."""
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    pane = TapePane(s.instrument, DARK)
    qtbot.addWidget(pane)
    return s, pane


def test_tape_rows_are_the_last_trades_newest_first(qtbot, qapp, tmp_path):
    apply_theme(qapp, DARK)
    s, pane = _tape_pane(qtbot, tmp_path)
    pane.resize(340, 600)
    pane.update_from(s.pipeline.snapshot())
    last = s.pipeline.flow.tape(500)[::-1]
    m = pane.model
    assert m.rowCount() == 500
    for row in (0, 1, 250, 499):
        t = last[row]
        _, price, size, side = m.row_values(row)
        assert price == s.instrument.format_price(int(t["price"])) and size == int(t["size"])
        assert side == ("BUY" if t["side"] == Side.BUY else "SELL")
    shot(pane, "tape", tmp_path)


def test_min_size_filter_hides_small_prints_and_large_lots_are_bold(qtbot, tmp_path):
    s, pane = _tape_pane(qtbot, tmp_path)
    pane.update_from(s.pipeline.snapshot())
    pane.min_box.setValue(5)
    pane.large_box.setValue(10)
    m = pane.model
    assert m.rowCount() > 0 and all(m.row_values(r)[2] >= 5 for r in range(m.rowCount()))
    big = next(r for r in range(m.rowCount()) if m.row_values(r)[2] >= 10)
    assert m.data(m.index(big, 2), QtCore.Qt.ItemDataRole.FontRole).bold()
    shot(pane, "tape_filtered", tmp_path)


def test_signal_log_lists_signals_newest_first_and_a_click_asks_to_jump_to_the_bar(qtbot, tmp_path):
    s = make_session(tmp_path, engine=True)
    feed_all(s)
    snap = s.pipeline.snapshot()
    assert snap.signals, s.engine_note or "the example rules fired nothing"
    pane = SignalLogPane(s.instrument, DARK, engine_note=s.engine_note)
    qtbot.addWidget(pane)
    pane.resize(560, 300)
    pane.update_from(snap)
    newest = snap.signals[-1]
    assert pane.model.rowCount() == len(snap.signals)
    assert pane.model.row_values(0)[1] == newest.rule
    with qtbot.waitSignal(pane.jump_to_bar) as got:
        pane.table.clicked.emit(pane.model.index(0, 0))
    assert got.args == [newest.bar_start_ns]
    shot(pane, "signal_log", tmp_path)


def test_signal_log_cells_carry_the_row_texts_in_the_side_colour_and_a_selected_row_is_highlighted(qtbot, qapp,
                                                                                                     tmp_path):
    apply_theme(qapp, DARK)
    s = make_session(tmp_path, engine=True)
    feed_all(s)
    snap = s.pipeline.snapshot()
    pane = SignalLogPane(s.instrument, DARK, engine_note=s.engine_note)
    qtbot.addWidget(pane)
    pane.resize(560, 300)
    pane.show()
    pane.update_from(snap)
    m = pane.model
    newest = snap.signals[-1]
    texts = [m.cell(0, c)[0] for c in range(m.columnCount())]
    assert texts == list(m.row_values(0)) and texts[1] == newest.rule
    want = DARK.color("ask" if newest.side == Side.BUY else "bid" if newest.side == Side.SELL else "text")
    assert m.cell(0, 0)[2].color() == want
    pane.table.selectRow(1)
    img = pane.table.viewport().grab().toImage()
    y = pane.table.rowViewportPosition(1) + 2
    x = img.width() - 3  # the stretched last column's right end: background only
    assert img.pixelColor(x, y) == pane.table.palette().color(pane.table.palette().ColorRole.Highlight)
    assert img.pixelColor(x, pane.table.rowViewportPosition(0) + 2) != img.pixelColor(x, y)
    shot(pane, "signal_log_selected", tmp_path)


def test_a_full_tape_takes_new_prints_as_changed_rows_and_its_view_repaints_them(qtbot, qapp, tmp_path):
    apply_theme(qapp, DARK)
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    tape = s.pipeline.snapshot().flow.tape
    assert len(tape) > MAX_ROWS + 40
    pane = TapePane(s.instrument, DARK)
    qtbot.addWidget(pane)
    pane.resize(340, 300)
    pane.show()
    qtbot.waitExposed(pane)
    m = pane.model
    m.set_tape(tape[:-40])
    assert m.rowCount() == MAX_ROWS
    QtCore.QCoreApplication.sendPostedEvents()
    QtCore.QCoreApplication.processEvents()
    resets, changed = [], []
    m.modelReset.connect(lambda: resets.append(1))
    m.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), a.column(), b.row(), b.column())))
    m.set_tape(tape[:-25])  # 15 new prints on a full tape
    assert resets == [] and changed == [(0, 0, MAX_ROWS - 1, len(m.columns) - 1)]
    assert m.rowCount() == MAX_ROWS and m.row_values(0)[1] == s.instrument.format_price(int(tape[-26]["price"]))
    assert m.row_cells(0) == tuple(m.cell(0, c) for c in range(m.columnCount()))
    # what the view shows after its incremental repaint is the tape now (it used to stay as it was)
    QtCore.QCoreApplication.sendPostedEvents()
    QtCore.QCoreApplication.processEvents()
    shown = qapp.primaryScreen().grabWindow(pane.winId()).toImage()
    fresh = pane.grab().toImage().convertToFormat(shown.format())
    assert shown == fresh


def test_tape_cells_follow_the_theme_and_the_large_lot_size(qtbot, qapp, tmp_path):
    s, pane = _tape_pane(qtbot, tmp_path)
    pane.update_from(s.pipeline.snapshot())
    m = pane.model
    _, _, size, side = m.row_values(0)
    name = "ask" if side == "BUY" else "bid"
    assert m.row_cells(0)[0][2].color() == DARK.color(name + ("_strong" if size >= m.large_lot else ""))
    assert m.row_cells(0) == tuple(m.cell(0, c) for c in range(m.columnCount()))
    m.theme = LIGHT
    assert m.cell(0, 0)[2].color() == LIGHT.color(name + ("_strong" if size >= m.large_lot else ""))
    assert m.row_cells(0)[0][2].color() == LIGHT.color(name + ("_strong" if size >= m.large_lot else ""))
    m.large_lot = size  # this print is a large lot now: bold, strong colour and a background
    text, bg, fg, bold, _ = m.row_cells(0)[2]
    assert text == str(size) and bold and bg is not None and fg.color() == LIGHT.color(name + "_strong")


def test_signal_log_cells_follow_the_theme(qtbot, tmp_path):
    s = make_session(tmp_path, engine=True)
    feed_all(s)
    snap = s.pipeline.snapshot()
    pane = SignalLogPane(s.instrument, DARK, engine_note=s.engine_note)
    qtbot.addWidget(pane)
    pane.update_from(snap)
    m = pane.model
    newest = snap.signals[-1]
    name = "ask" if newest.side == Side.BUY else "bid" if newest.side == Side.SELL else "text"
    assert m.row_cells(0) == tuple(m.cell(0, c) for c in range(m.columnCount()))
    assert m.row_cells(0)[0][2].color() == DARK.color(name)
    m.theme = LIGHT
    assert m.cell(0, 1)[2].color() == LIGHT.color(name)
    assert m.row_cells(0)[0][2].color() == LIGHT.color(name)


def test_an_empty_tape_after_an_empty_tape_announces_nothing(qtbot, qapp):
    pane = TapePane(instrument("ES"), DARK)
    qtbot.addWidget(pane)
    m = pane.model
    got = []
    m.dataChanged.connect(lambda *a: got.append("changed"))
    m.modelReset.connect(lambda: got.append("reset"))
    m.set_tape(np.zeros(0, m.rows.dtype))
    m.set_tape(np.zeros(0, m.rows.dtype))
    assert got == [] and m.rowCount() == 0


def test_signal_log_paints_from_its_atlas_as_the_delegate_paints_cell_by_cell(qtbot, qapp, tmp_path):
    apply_theme(qapp, DARK)
    s = make_session(tmp_path, engine=True)
    feed_all(s)
    pane = SignalLogPane(s.instrument, DARK, engine_note=s.engine_note)
    qtbot.addWidget(pane)
    pane.resize(360, 300)  # narrow: the rule and kind columns are cut with an ellipsis
    pane.show()
    qtbot.waitExposed(pane)
    pane.update_from(s.pipeline.snapshot())
    QtCore.QCoreApplication.processEvents()  # the rows laid out: a scroll bar, the columns fitted again
    QtCore.QCoreApplication.sendPostedEvents()
    view, m = pane.table, pane.model
    assert view.sprites
    vp = view.viewport()
    fmt = QtGui.QImage.Format.Format_ARGB32_Premultiplied
    want = QtGui.QImage(vp.size(), fmt)
    want.fill(vp.palette().color(vp.backgroundRole()))
    p = QtGui.QPainter(want)
    for r in range(m.rowCount()):
        for c in range(m.columnCount()):
            if view.isColumnHidden(c):
                continue
            rect = QtCore.QRect(view.columnViewportPosition(c), view.rowViewportPosition(r),
                                view.columnWidth(c), view.rowHeight(r))
            cell = m.cell(r, c)
            if c in view.elide_columns:
                cell = view._elide(cell, rect.width(), view.font())
            view.cells.paint_cell(p, rect, cell, view.font())
    p.end()
    view.atlas.env = None
    first = vp.grab().toImage().convertToFormat(fmt)  # cells drawn into the atlas, then copied
    assert sum(len(pool) for pool in view.atlas.slots.values()) > 10
    second = vp.grab().toImage().convertToFormat(fmt)  # copies only
    assert first == want and second == want
