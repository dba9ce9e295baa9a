"""The main window: opens on the simulator, panes update during replay, kill switch hotkey, re-arm,
layout and settings persist, screenshots of the window and each pane, the gui command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from test_ui_support import SIM, feed_all, make_session, shot

from tapeflow.core.events import Side
from tapeflow.trading.orders import OrderRequest, OrderType, Source
from tapeflow.trading.settings import TradingState
from tapeflow.ui.main_window import MainWindow
from tapeflow.ui.settings_store import UiSettingsStore


@pytest.fixture
def window(qtbot, tmp_path):
    s = make_session(tmp_path, engine=True)
    store = UiSettingsStore(tmp_path / "config" / "ui.ini")
    answers: list[bool] = []
    w = MainWindow(s, store, user="tester", confirm=lambda *_: answers.pop(0) if answers else False)
    w.answers = answers
    qtbot.addWidget(w)
    w.resize(1600, 960)
    w.show()
    return w


def test_panes_update_while_the_replay_runs_on_the_shared_qasync_loop(window, qapp):
    qasync = pytest.importorskip("qasync")
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    try:
        window.start()

        async def until_finished() -> None:
            for _ in range(400):
                await asyncio.sleep(0.02)
                if window.session.runner.state.value == "finished" and window.frames > 2:
                    return

        window.session.runner.set_speed(None)
        loop.run_until_complete(until_finished())
    finally:
        window.frame_timer.stop()
        window.status_timer.stop()
        asyncio.set_event_loop(None)
    assert window.frames > 0 and window.last_snapshot is not None
    assert window.session.runner.state.value == "finished"
    window.refresh()  # the frame timer may have last fired just before the final batch
    assert len(window.footprint.item.bars) == len(window.session.pipeline.flow.bars()) >= 10
    assert window.tape.model.rowCount() > 0 and window.dom.model.rowCount() == 41


def _place_resting_order(s) -> None:
    bid = int(s.pipeline.snapshot().flow.depth.bid_price[0]) - 4
    res = s.account.submit(OrderRequest(instrument=s.instrument.root, side=Side.BUY, qty=1, type=OrderType.LIMIT,
                                        limit_price=bid, source=Source.MANUAL))
    assert res.ok and s.account.open_orders()


def test_ctrl_shift_k_latches_the_kill_switch_and_cancels_every_order(window, qtbot, tmp_path):
    s = window.session
    feed_all(s)
    _place_resting_order(s)
    window.activateWindow()
    qtbot.keyClick(window.dom.table, QtCore.Qt.Key.Key_K,
                   QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert s.account.kill_switch.latched
    assert s.account.open_orders() == []
    assert not any(s.account.snapshot().automation.values())
    window.refresh()
    assert "LATCHED" in window.risk.latch_label.text() and window.risk.rearm_button.isEnabled()
    # the state reads as the switch, never a green ACTIVE beside a latched kill switch
    assert window.risk.state_label.text() == "KILLED: NO NEW ORDERS"
    assert window.theme.danger in window.risk.state_label.styleSheet()
    shot(window.risk, "risk_pane_killed", tmp_path)
    # latched: a new order is refused
    res = s.account.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, source=Source.MANUAL))
    assert not res.ok and res.rule == "kill_switch"


def test_rearm_needs_a_confirmation_and_leaves_automation_off(window):
    s = window.session
    feed_all(s)
    window.risk.kill_button.click()
    assert s.account.kill_switch.latched
    window.answers.append(False)
    assert not window.risk.rearm()
    assert s.account.kill_switch.latched
    window.answers.append(True)
    assert window.risk.rearm()
    assert not s.account.kill_switch.latched
    assert s.account.kill_switch.state.by == "tester"
    assert not any(s.account.snapshot().automation.values())
    assert "armed" in window.risk.latch_label.text()
    window.refresh()
    assert window.risk.state_label.text().startswith(TradingState.ACTIVE.value.upper())


def test_automation_cannot_be_switched_on_while_latched(window):
    s = window.session
    window.risk.kill("test")
    window.risk.set_automation(Source.RULE, True)
    assert not s.account.snapshot().automation["rule"]
    assert "re-arm" in window.risk.notice.text()


def test_risk_panel_shows_the_trading_state_and_the_limits(window, tmp_path):
    window.refresh()
    assert window.risk.state_label.text().startswith(TradingState.ACTIVE.value.upper())
    gauges = window.session.account.snapshot().limits
    assert set(window.risk.gauges) == {g.rule for g in gauges}
    assert window.risk.mode_label.text() == "PAPER" and window.status.labels["mode"].text() == "PAPER"


def test_risk_panel_shows_a_live_account_in_red_with_the_brokers_pnl_beside_ours(window):
    import msgspec

    snap = msgspec.structs.replace(window.session.account.snapshot(), account="LIVE projectx:50KTC",
                                   venue_realized_today_cents=-15280)
    window.risk.show_account(snap)
    assert window.risk.mode_label.text() == "LIVE projectx:50KTC"
    assert window.theme.danger in window.risk.mode_label.styleSheet()
    assert "realized today (broker)" in window.risk.figures.text() and "152.80" in window.risk.figures.text()
    window.status.show_mode("LIVE projectx:50KTC")
    assert window.status.labels["mode"].text() == "LIVE projectx:50KTC"
    assert window.theme.danger in window.status.labels["mode"].styleSheet()


def test_layout_theme_and_pane_settings_persist_per_user(window, qtbot, tmp_path):
    window.footprint.set_mode(window.footprint.item.mode.__class__("delta"))
    window.footprint.set_ticks_per_row(2)
    window.tape.min_box.setValue(3)
    window.apply_theme("light")
    window.docks["signals"].hide()
    window.save_settings()
    window.session.close()  # the next start: one terminal per journal at a time
    store = UiSettingsStore(tmp_path / "config" / "ui.ini")
    w2 = MainWindow(make_session(tmp_path, engine=False), store)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.footprint.item.mode.value == "delta" and w2.footprint.item.ticks_per_row == 2
    assert w2.tape.min_box.value() == 3
    assert w2.theme.name == "light"
    assert not w2.docks["signals"].isVisible() and w2.docks["dom"].isVisible()
    assert not w2.dom.one_click_enabled  # never restored: off at every start
    w2.apply_theme("dark")


def _assert_every_dom_column_readable(w: MainWindow) -> None:
    from tapeflow.ui.ladder_model import HEADERS, Col

    QtWidgets.QApplication.processEvents()
    table, model = w.dom.table, w.dom.model
    widths = [table.columnWidth(int(c)) for c in Col]
    assert sum(widths) <= table.viewport().width(), (widths, table.viewport().width())
    assert table.horizontalScrollBar().maximum() == 0  # nothing scrolled out of view
    header_fm = table.horizontalHeader().fontMetrics()
    bold = QtGui.QFont(table.font())
    bold.setBold(True)
    cell_fm = QtGui.QFontMetrics(bold)
    for c in Col:
        assert header_fm.horizontalAdvance(HEADERS[c]) + 4 <= widths[c], c.name
        texts = [model.cell(r, int(c))[0] for r in range(model.rowCount())]
        widest = max((cell_fm.horizontalAdvance(t) for t in texts), default=0)
        assert widest + 6 <= widths[c], (c.name, max(texts, key=len))


def test_every_dom_column_is_readable_at_the_default_window_size(window):
    feed_all(window.session)
    window.refresh()
    assert window.width() == 1600
    _assert_every_dom_column_readable(window)
    window.reset_layout()
    _assert_every_dom_column_readable(window)


def _assert_table_columns_readable(table, model, *, bold: bool, elided: frozenset[int] = frozenset(),
                                   least: dict[int, str] | None = None) -> list[int]:
    """Every shown column's header and values fit (``bold``: as large prints are), or for an
    ``elided`` column at least its ``least`` text; no horizontal scroll; returns the shown columns."""
    QtWidgets.QApplication.processEvents()
    shown = [c for c in range(model.columnCount()) if not table.isColumnHidden(c)]
    widths = {c: table.columnWidth(c) for c in shown}
    assert sum(widths.values()) <= table.viewport().width(), (widths, table.viewport().width())
    assert table.horizontalScrollBar().maximum() == 0 and not table.horizontalScrollBar().isVisible()
    header_fm = table.horizontalHeader().fontMetrics()
    font = QtGui.QFont(table.font())
    font.setBold(bold)
    cell_fm = QtGui.QFontMetrics(font)
    for c in shown:
        name = model.headerData(c, QtCore.Qt.Orientation.Horizontal)
        assert header_fm.horizontalAdvance(name) + 4 <= widths[c], name
        texts = [str(model.cell(r, c)[0]) for r in range(model.rowCount())]
        if c in elided:
            texts = [(least or {})[c]]
        widest = max((cell_fm.horizontalAdvance(t) for t in texts), default=0)
        assert widest + 6 <= widths[c], (name, max(texts, key=len, default=""))
    return shown


def test_tape_and_signal_log_columns_fit_their_panes_at_the_default_window_size(window):
    feed_all(window.session)
    window.refresh()
    assert window.width() == 1600 and window.tape.model.rowCount() and window.signals.model.rowCount()
    for _ in range(2):  # as opened, and after a layout reset
        tape = _assert_table_columns_readable(window.tape.table, window.tape.model, bold=True)
        assert tape == [0, 1, 2, 3]  # time, price, size and side
        log = _assert_table_columns_readable(window.signals.table, window.signals.model, bold=False,
                                             elided=frozenset({1, 2}), least={1: "bar volume 2000"})
        assert {0, 1, 3, 4} <= set(log)  # time, rule (cut with an ellipsis when long), side and price
        window.reset_layout()


def test_screenshots_of_the_window_and_every_pane(window, tmp_path):
    s = window.session
    feed_all(s)
    window.dom.one_click.setChecked(True)
    _place_resting_order(s)
    window.refresh()
    window.refresh()
    QtWidgets.QApplication.processEvents()
    shot(window, "window", tmp_path)
    for name, pane in (("pane_footprint", window.footprint), ("pane_dom", window.dom), ("pane_delta", window.delta),
                       ("pane_tape", window.tape), ("pane_signals", window.signals), ("pane_risk", window.risk)):
        shot(pane, name, tmp_path)
    window.risk.kill("screenshot test")
    window.refresh()
    shot(window.risk, "pane_risk_latched", tmp_path)


def test_gui_command_saves_a_screenshot_and_exits_0(tmp_path):
    out = tmp_path / "cli.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TAPEFLOW_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "tapeflow.cli", "gui", SIM, "--speed", "max", "--screenshot", str(out),
                        "--after", "0.5"], env=env, capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 10_000


def test_gui_command_without_the_gui_extra_prints_a_one_line_hint(monkeypatch, capsys):
    from tapeflow import cli

    monkeypatch.setitem(sys.modules, "tapeflow.ui.app", None)  # import fails as if PySide6 were missing
    assert cli.main(["gui", SIM]) == 2
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tapeflow:")]
    assert len(ours) == 1 and "[gui]" in ours[0]


def test_chart_scenes_keep_no_item_index_and_still_find_items_under_the_mouse(window):
    from PySide6 import QtWidgets

    window.refresh()
    no_index = QtWidgets.QGraphicsScene.ItemIndexMethod.NoIndex
    for scene in (window.footprint.graphics.scene(), window.delta.plot.scene()):
        assert scene.itemIndexMethod() == no_index  # a scroll moves every item: re-indexing them all was waste
    fp = window.footprint
    centre = fp.plot.getViewBox().sceneBoundingRect().center()
    assert fp.item in fp.graphics.scene().items(centre)  # hover and clicks look items up by position


def test_risk_panel_shows_the_rithmic_accounts_balance_beside_its_pnl(window):
    import msgspec

    snap = msgspec.structs.replace(window.session.account.snapshot(), account="LIVE rithmic:TF-001",
                                   venue_realized_today_cents=-15000, venue_balance_cents=4_985_000)
    window.risk.show_account(snap)
    text = window.risk.figures.text()
    assert "balance (broker)" in text and "49,850.00" in text and "150.00" in text
