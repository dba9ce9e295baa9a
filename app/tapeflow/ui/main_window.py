"""The main window: dockable panes, menus, replay toolbar, status bar, hotkeys and the frame timer.

Once per frame (about 30 Hz) the window takes one ``Pipeline.snapshot()`` and hands it to the
panes; each pane redraws only what changed since its previous frame. The charts' bars
(footprint, cumulative delta) take every frame; the table panes (DOM, time and sales, signal log,
risk), the footprint's session profile and signal overlay, and a new bar (which scrolls the charts)
take one frame in three (about 10 Hz, what professional terminals refresh a ladder and a tape at),
in turn: their repaint is the costly part of a frame. Nothing here runs per event, so a burst of events
only makes the next snapshot bigger, never the window slower to react.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.appdirs import app_paths
from tapeflow.errors import TapeflowError
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.trading.account import Account
from tapeflow.trading.snapshot import is_live_account
from tapeflow.ui.delta_pane import DeltaPane
from tapeflow.ui.dom_pane import DomPane
from tapeflow.ui.footprint_pane import FootprintPane
from tapeflow.ui.replay_bar import ReplayBar
from tapeflow.ui.risk_pane import Confirm, RiskPane, ask_confirmation
from tapeflow.ui.session import TerminalSession
from tapeflow.ui.settings_store import UiSettingsStore
from tapeflow.ui.signal_log_pane import SignalLogPane
from tapeflow.ui.status import StatusLine
from tapeflow.ui.tape_pane import TapePane
from tapeflow.ui.theme import apply_theme, theme_named
from tapeflow.ui.webhook_control import WebhookControl

FRAME_MS = 33
KILL_HOTKEY = "Ctrl+Shift+K"
LAYOUT_VERSION = 1

SessionFactory = Callable[[str], TerminalSession]


class MainWindow(QtWidgets.QMainWindow):
    """The terminal window over one :class:`TerminalSession` (replaced when another file is opened)."""

    def __init__(
        self,
        session: TerminalSession,
        store: UiSettingsStore,
        *,
        session_factory: SessionFactory | None = None,
        user: str | None = None,
        confirm: Confirm = ask_confirmation,
        frame_ms: int = FRAME_MS,
    ) -> None:
        super().__init__()
        self.setObjectName("tapeflowMain")
        self.session = session
        self.store = store
        self.session_factory = session_factory
        self.theme = theme_named(str(store.get("theme", "dark")))
        self.frame_times: deque[float] = deque(maxlen=600)  # ms per frame, for the status bar and benchmarks
        self.frames = 0
        self.last_snapshot: PipelineSnapshot | None = None
        self._phase = 0  # which group of slow panes the next timer frame refreshes
        inst = session.instrument
        self.setWindowTitle(f"Tapeflow — {session.spec}")
        self.setDockNestingEnabled(True)

        self.footprint = FootprintPane(inst, self.theme)
        self.dom = DomPane(inst, self.theme, session.account, session.pipeline.flow.book.ladder)
        self.delta = DeltaPane(self.theme)
        self.delta.link_x(self.footprint.plot)
        self.tape = TapePane(inst, self.theme)
        self.signals = SignalLogPane(inst, self.theme, engine_note=session.engine_note)
        self.risk = RiskPane(inst, self.theme, session.account, user=user, confirm=confirm)
        self.signals.jump_to_bar.connect(self.footprint.jump_to_bar)
        self.dom.order_result.connect(lambda text: self.statusBar().showMessage(text, 5000))

        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for name, title, pane in (
            ("footprint", "Footprint", self.footprint),
            ("dom", "DOM", self.dom),
            ("delta", "Cumulative delta", self.delta),
            ("tape", "Time and sales", self.tape),
            ("signals", "Signal log", self.signals),
            ("risk", "Risk", self.risk),
        ):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(pane)  # the risk pane scrolls itself rather than squeeze its rows
            self.docks[name] = dock
        self._default_layout()

        self.replay_bar = ReplayBar(lambda: self.session.runner, self)
        self.addToolBar(self.replay_bar)
        self.webhook = WebhookControl(session.account, app_paths().settings_file, {inst.root},
                                      feed_symbols=session.source.info.symbols)
        self.status = StatusLine(self.theme)
        self.status.show_mode(session.account.name if session.account is not None else None)
        self.statusBar().addPermanentWidget(self.status, 1)
        if session.restore_notes:  # e.g. a position restored from the journal with no working stop
            self.statusBar().showMessage("restored from the journal: " + "; ".join(session.restore_notes), 120_000)
        self.kill_shortcut = QtGui.QShortcut(QtGui.QKeySequence(str(store.get("kill_hotkey", KILL_HOTKEY))), self)
        self.kill_shortcut.setContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        self.kill_shortcut.activated.connect(lambda: self.risk.kill(f"hotkey {self.kill_shortcut.key().toString()}"))
        self._menus()
        self.apply_theme(self.theme.name)
        self.restore_settings()

        self.frame_timer = QtCore.QTimer(self)
        self.frame_timer.setInterval(frame_ms)
        self.frame_timer.timeout.connect(self.tick)
        self.status_timer = QtCore.QTimer(self)
        self.status_timer.setInterval(1000)
        self.status_timer.timeout.connect(self._status_tick)

    # ---------------------------------------------------------------- layout

    def _default_layout(self) -> None:
        d = self.docks
        area = QtCore.Qt.DockWidgetArea
        horizontal, vertical = QtCore.Qt.Orientation.Horizontal, QtCore.Qt.Orientation.Vertical
        self.addDockWidget(area.LeftDockWidgetArea, d["dom"])
        self.splitDockWidget(d["dom"], d["footprint"], horizontal)
        self.splitDockWidget(d["footprint"], d["risk"], horizontal)
        self.splitDockWidget(d["risk"], d["tape"], vertical)
        self.splitDockWidget(d["tape"], d["signals"], vertical)
        self.splitDockWidget(d["footprint"], d["delta"], vertical)
        self._default_sizes()

    def _default_sizes(self) -> None:
        """Dock sizes of the default layout for the window's current width (called again once the
        window has its size). Qt scales the sizes given to fit the window, so they are taken as
        shares of its width: the DOM gets the width its ladder columns need, the right column a
        fixed share, the footprint the rest."""
        d = self.docks
        horizontal, vertical = QtCore.Qt.Orientation.Horizontal, QtCore.Qt.Orientation.Vertical
        dom_px = max(420, d["dom"].sizeHint().width())  # every ladder column readable (the pane's hint)
        right_px = 320
        seps = 2 * self.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_DockWidgetSeparatorExtent, None, self)
        chart_px = max(400, self.width() - dom_px - right_px - seps)
        self.resizeDocks([d["dom"], d["footprint"], d["risk"]], [dom_px, chart_px, right_px], horizontal)
        self.resizeDocks([d["footprint"], d["delta"]], [640, 200], vertical)
        self.resizeDocks([d["risk"], d["tape"], d["signals"]], [340, 330, 200], vertical)

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
            self.removeDockWidget(dock)
        self._default_layout()
        for dock in self.docks.values():
            dock.show()
        self._default_sizes()  # again, with the docks back in the layout

    def _menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        open_action = file_menu.addAction("&Open file…")
        open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._open_dialog)
        sim_action = file_menu.addAction("Open &simulator")
        sim_action.triggered.connect(lambda: self.open_spec("sim://"))
        self.recent_menu = file_menu.addMenu("Recent")
        self._fill_recent()
        file_menu.addSeparator()
        shot = file_menu.addAction("Save screenshot…")
        shot.triggered.connect(self._screenshot_dialog)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        view = bar.addMenu("&View")
        for name in ("dark", "light"):
            act = view.addAction(f"{name.title()} theme")
            act.triggered.connect(lambda _=False, n=name: self.apply_theme(n))
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction("Reset layout").triggered.connect(self.reset_layout)
        trading = self.trading_menu = bar.addMenu("&Trading")
        kill = trading.addAction(f"Kill switch ({KILL_HOTKEY})")
        kill.triggered.connect(lambda: self.risk.kill("menu"))
        trading.addAction("Re-arm kill switch…").triggered.connect(self.risk.rearm)
        trading.addSeparator()
        self.webhook_action = trading.addAction("TradingView webhook server")
        self.webhook_action.setCheckable(True)
        self.webhook_action.toggled.connect(self.set_webhook)

    def set_webhook(self, on: bool) -> None:
        """Start or stop the webhook receiver for this session's account (on the shared loop)."""
        import asyncio

        async def switch() -> None:
            ctl = self.webhook
            if on:
                await ctl.start()
            else:
                await ctl.stop()
            self.webhook_action.blockSignals(True)
            self.webhook_action.setChecked(ctl.running)
            self.webhook_action.blockSignals(False)
            self.statusBar().showMessage(ctl.status, 15_000)

        self._webhook_task = asyncio.get_event_loop().create_task(switch())

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for spec in self.store.recent_files():
            act = self.recent_menu.addAction(spec)
            act.triggered.connect(lambda _=False, s=spec: self.open_spec(s))
        self.recent_menu.setEnabled(bool(self.store.recent_files()))

    def _open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open market data", str(Path.home()), "Market data (*.dbn *.zst *.csv *.txt);;All files (*)"
        )
        if path:
            self.open_spec(path)

    def _screenshot_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save screenshot", "tapeflow.png", "PNG (*.png)")
        if path:
            self.grab().save(path)

    # ---------------------------------------------------------------- sessions

    def start(self) -> None:
        """Start the feed and the timers (the asyncio loop must be running or about to run)."""
        self.session.runner.start()
        self.frame_timer.start()
        self.status_timer.start()

    def use_account(self, account: Account) -> None:
        """Trade ``account`` from now on (going live): the pipeline, DOM, risk panel, webhook, status bar."""
        self.session.account = account
        self.session.pipeline.use_account(account)
        self.dom.account = account
        self.risk.account = account
        self.webhook.account = account
        self.status.show_mode(account.name)
        self.risk.refresh()

    def open_spec(self, spec: str) -> bool:
        """Replace the session with another source; an unreadable file is reported, not fatal."""
        if self.session_factory is None:
            return False
        if is_live_account(self.session.account.name):
            self.statusBar().showMessage("not opened: a LIVE account trades this feed (restart the terminal to "
                                         "trade on another one)", 30_000)
            return False
        try:
            new = self.session_factory(spec)
        except TapeflowError as e:
            QtWidgets.QMessageBox.warning(self, "Cannot open", str(e))
            return False
        old = self.session
        old.runner.pause()
        old.runner.cancel()
        self.session = new
        inst = new.instrument
        self.footprint.instrument = inst
        self.footprint.price_axis.instrument = inst
        self.footprint.item.invalidate()
        self.dom.account = new.account
        self.dom.ladder_source = new.pipeline.flow.book.ladder
        self.dom.set_instrument(inst)
        self.tape.set_instrument(inst)
        self.signals.set_instrument(inst)
        self.risk.account = new.account
        self.risk.instrument = inst
        self.setWindowTitle(f"Tapeflow — {spec}")
        if not spec.startswith("sim:"):
            self.store.add_recent(spec)
            self._fill_recent()
        new.runner.start()
        return True

    # ---------------------------------------------------------------- frames

    def refresh(self) -> PipelineSnapshot:
        """One frame: one snapshot, every pane updated from it (user actions and tests call this)."""
        return self._frame(phases=(0, 1, 2))

    def tick(self) -> PipelineSnapshot:
        """What the frame timer runs: the charts' bars every frame; the slower parts in turn, one
        group a frame, so each refreshes every third frame (10 Hz) and no frame pays for all:
        the DOM; the tape, signal log, risk and the footprint's session profile; the charts in full
        (a new bar scrolls both) and the footprint's overlay."""
        self._phase = (self._phase + 1) % 3
        return self._frame(phases=(self._phase,))

    def _frame(self, *, phases: tuple[int, ...]) -> PipelineSnapshot:
        t0 = time.perf_counter()
        s = self.session
        snap = s.pipeline.snapshot()
        self.last_snapshot = snap
        self.footprint.update_from(snap, s.bands(), full=2 in phases, profile=1 in phases)
        self.delta.update_from(snap, full=2 in phases)
        if 0 in phases:
            # the DOM reads the live book: keep it pointing at the current flow state (a backward jump replaces it)
            self.dom.ladder_source = s.pipeline.flow.book.ladder
            self.dom.update_from(snap)
        if 1 in phases:
            self.tape.update_from(snap)
            self.signals.update_from(snap)
            self.risk.update_from(snap)
        self.frames += 1
        self.frame_times.append((time.perf_counter() - t0) * 1000.0)
        return snap

    def _status_tick(self) -> None:
        r = self.session.runner
        r.sample_rate()
        self.replay_bar.sync()
        now = r.time_ns() or self.session.pipeline.flow.last_ts
        self.replay_bar.show_time(now)
        self.status.show_figures(r, now, self.frame_times)

    # ---------------------------------------------------------------- theme and settings

    def apply_theme(self, name: str) -> None:
        self.theme = theme_named(name)
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication):
            apply_theme(app, self.theme)
        for pane in (self.footprint, self.dom, self.delta, self.tape, self.signals, self.risk, self.status):
            pane.apply_theme(self.theme)
        self.store.set("theme", self.theme.name)

    def save_settings(self) -> None:
        st = self.store
        st.set("layout_version", LAYOUT_VERSION)
        st.set("geometry", self.saveGeometry())
        st.set("window_state", self.saveState(LAYOUT_VERSION))
        st.set("theme", self.theme.name)
        st.set_json("footprint", self.footprint.settings())
        st.set_json("tape", self.tape.settings())
        st.set("dom_size", self.dom.size_box.value())
        st.sync()

    def restore_settings(self) -> None:
        st = self.store
        geometry = st.bytes("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 960)
        state = st.bytes("window_state")
        if state is not None and int(st.get("layout_version", 0)) == LAYOUT_VERSION:
            self.restoreState(state, LAYOUT_VERSION)
        else:
            self._default_sizes()
        self.footprint.restore(st.get_json("footprint", {}))  # type: ignore[arg-type]
        self.tape.restore(st.get_json("tape", {}))  # type: ignore[arg-type]
        self.dom.size_box.setValue(int(st.get("dom_size", 1)))
        # one-click trading is deliberately not restored: it is off at every start

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.save_settings()
        self.frame_timer.stop()
        self.status_timer.stop()
        self.session.runner.cancel()
        if self.webhook.running:
            self.set_webhook(False)
        super().closeEvent(event)
