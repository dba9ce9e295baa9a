"""The main window: dockable panes, menus, replay toolbar, status bar, hotkeys and the frame timer.

Once per frame (about 30 Hz) the window takes one ``Pipeline.snapshot()`` and hands it to the
panes; each pane redraws only what changed since its previous frame. The charts' bars
(footprint, cumulative delta) take every frame; the table panes (DOM, time and sales, signal log,
risk), the footprint's session profile and signal overlay, and a new bar (which scrolls the charts)
take one frame in three (about 10 Hz, what professional terminals refresh a ladder and a tape at),
in turn: their repaint is the costly part of a frame. Nothing here runs per event, so a burst of events
only makes the next snapshot bigger, never the window slower to react.

Several instruments (``tapeflow gui ES_FILE NQ_FILE``): a footprint dock per instrument, side by
side, with a linked crosshair time; the DOM, tape, cumulative delta and signal log show the
*selected* instrument (click its chart or pick it in the Instruments bar) and DOM clicks trade it.
The risk panel shows every position and the account. The sources and their layout are saved
apart from the one-source layout, and a start without sources reopens them.
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
WORKSPACE = "workspace"
"""Settings group of a window of several instruments: its sources, dock layout and selection (a
one-source window keeps the keys it always had, so its layout and start are unchanged)."""

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
        self.selected = 0  # index of the instrument (session.feeds) the DOM, tape, delta and log show
        inst = session.instrument
        self.setWindowTitle(f"Tapeflow — {' + '.join(session.specs)}")
        self.setDockNestingEnabled(True)

        self.footprint = FootprintPane(inst, self.theme)
        self.footprints = [self.footprint] + [FootprintPane(f.instrument, self.theme) for f in session.feeds[1:]]
        self.dom = DomPane(inst, self.theme, session.account, session.pipeline.flow.book.ladder)
        self.delta = DeltaPane(self.theme)
        self.delta.link_x(self.footprint.plot)
        self.tape = TapePane(inst, self.theme)
        self.signals = SignalLogPane(inst, self.theme, engine_note=session.engine_note)
        self.risk = RiskPane(inst, self.theme, session.account, user=user, confirm=confirm)
        self.signals.jump_to_bar.connect(lambda ts: self.footprints[self.selected].jump_to_bar(ts))
        self.dom.order_result.connect(lambda text: self.statusBar().showMessage(text, 5000))

        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for name, title, pane in (
            ("footprint", "Footprint", self.footprint),
            *((f"footprint_{k}", "Footprint", fp) for k, fp in enumerate(self.footprints[1:], 1)),
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
        for k, fp in enumerate(self.footprints):
            fp.activated.connect(lambda k=k: self.select(k))
            fp.crosshair_time.connect(lambda ts, k=k: self._link_crosshair(k, ts))
        self._default_layout()

        self.replay_bar = ReplayBar(lambda: self.session.runner, self)
        self.addToolBar(self.replay_bar)
        self.instrument_box: QtWidgets.QComboBox | None = None
        self.select_shortcuts: list[QtGui.QShortcut] = []
        if len(session.feeds) > 1:
            self._instrument_bar()
        self._titles()
        self.webhook = WebhookControl(session.account, app_paths().settings_file, {inst.root},
                                      feed_symbols=session.source.info.symbols,
                                      feeds={f.instrument.root: f.source.info.symbols for f in session.feeds})
        self.status = StatusLine(self.theme)
        self.status.show_mode(session.account.name if session.account is not None else None)
        self.statusBar().addPermanentWidget(self.status, 1)
        if session.restore_notes:  # e.g. a position restored from the journal with no working stop
            self.statusBar().showMessage("restored from the journal: " + "; ".join(session.restore_notes), 120_000)
        elif session.notes:  # e.g. two files of different days on one replay clock
            self.statusBar().showMessage("; ".join(session.notes), 120_000)
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
        before = d["footprint"]  # more instruments: their charts side by side, the delta pane under all
        for name in self._extra_charts():
            self.splitDockWidget(before, d[name], horizontal)
            before = d[name]
        self._default_sizes()

    def _extra_charts(self) -> list[str]:
        """Dock names of the footprints of the second and later instruments."""
        return [f"footprint_{k}" for k in range(1, len(self.footprints))]

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
        charts = [d["footprint"], *(d[n] for n in self._extra_charts())]
        chart_px = max(400, self.width() - dom_px - right_px - seps * len(charts))
        self.resizeDocks([d["dom"], *charts, d["risk"]], [dom_px, *[chart_px // len(charts)] * len(charts), right_px],
                         horizontal)
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

    # ---------------------------------------------------------------- instruments

    def _instrument_bar(self) -> None:
        """The selector of a window of several instruments (a click on a chart selects too)."""
        bar = QtWidgets.QToolBar("Instruments", self)
        bar.setObjectName("instrumentBar")
        bar.addWidget(QtWidgets.QLabel(" instrument "))
        box = QtWidgets.QComboBox()
        box.setToolTip("The instrument the DOM, time and sales, cumulative delta and signal log show and "
                       "DOM clicks trade (or click its footprint, or Alt+1, Alt+2, ...)")
        box.addItems([f.instrument.root for f in self.session.feeds])
        box.currentIndexChanged.connect(self.select)
        bar.addWidget(box)
        self.addToolBar(bar)
        self.instrument_bar, self.instrument_box = bar, box
        for k in range(min(9, len(self.session.feeds))):
            key = QtGui.QShortcut(QtGui.QKeySequence(f"Alt+{k + 1}"), self)  # the k-th instrument listed
            key.activated.connect(lambda k=k: self.select(k))
            self.select_shortcuts.append(key)

    def select(self, k: int) -> None:
        """Show instrument ``k`` of the session in the DOM, tape, delta and signal log; DOM orders trade it."""
        feeds = self.session.feeds
        if not 0 <= k < len(feeds) or k >= len(self.footprints):
            return
        changed = k != self.selected
        self.selected = k
        feed = feeds[k]
        if self.instrument_box is not None and self.instrument_box.currentIndex() != k:
            self.instrument_box.setCurrentIndex(k)  # calls back here, unchanged
        if not changed:
            return
        inst = feed.instrument
        self.dom.set_instrument(inst)
        self.dom.ladder_source = feed.pipeline.flow.book.ladder
        self.tape.set_instrument(inst)
        self.signals.set_instrument(inst)
        self.signals.set_engine_note(feed.engine_note)
        self.delta.clear()
        self.delta.link_x(self.footprints[k].plot)
        self.risk.instrument = inst
        self._titles()
        self.refresh()

    @property
    def selected_feed(self):
        return self.session.feeds[self.selected]

    def _titles(self) -> None:
        """One instrument: the panes' plain names. Several: each chart names its instrument (the
        selected one says so) and the panes that follow the selection name it."""
        multi = len(self.footprints) > 1
        for k, name in enumerate(["footprint", *self._extra_charts()]):
            root = self.session.feeds[k].instrument.root
            mark = "  ◀ selected" if k == self.selected else ""
            self.docks[name].setWindowTitle(f"Footprint {root}{mark}" if multi else "Footprint")
        root = f" — {self.selected_feed.instrument.root}" if multi else ""
        for name, title in (("dom", "DOM"), ("delta", "Cumulative delta"), ("tape", "Time and sales"),
                            ("signals", "Signal log")):
            self.docks[name].setWindowTitle(title + root)

    def _link_crosshair(self, source: int, ts_ns: int | None) -> None:
        """The time under the mouse on chart ``source`` shown on every other chart."""
        for k, fp in enumerate(self.footprints):
            if k != source:
                fp.show_time(ts_ns)

    def _drop_extra_charts(self) -> None:
        """Back to one chart (another source opened in place of several)."""
        for name in self._extra_charts():
            dock = self.docks.pop(name)
            self.removeDockWidget(dock)
            dock.deleteLater()
        self.footprints = [self.footprint]
        if self.instrument_box is not None:
            self.removeToolBar(self.instrument_bar)
            self.instrument_bar.deleteLater()
            self.instrument_box = None
            for key in self.select_shortcuts:
                key.setEnabled(False)
                key.deleteLater()
            self.select_shortcuts = []
        self.selected = 0
        self.delta.clear()
        self.delta.link_x(self.footprint.plot)

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
        if len(self.footprints) > 1:
            self._drop_extra_charts()
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
        self._titles()
        self.setWindowTitle(f"Tapeflow — {spec}")
        if not spec.startswith("sim:"):
            self.store.add_recent(spec)
            self._fill_recent()
        new.runner.start()
        from tapeflow.ui.live_account import follow_rithmic  # the status bar follows a Rithmic feed's session

        follow_rithmic(self)
        return True

    # ---------------------------------------------------------------- frames

    def refresh(self) -> PipelineSnapshot:
        """One frame: one snapshot, every pane updated from it (user actions and tests call this)."""
        return self._frame(phases=(0, 1, 2))

    def tick(self) -> PipelineSnapshot:
        """What the frame timer runs: the charts' bars every frame; the slower parts in turn, one
        group a frame, so each refreshes every third frame (10 Hz) and no frame pays for all:
        the DOM; the tape, signal log, risk and the footprint's session profile; the charts in full
        (a new bar scrolls both) and the footprint's overlay. A second instrument's chart takes
        its full frame with the DOM's and its profile with the first chart's full frame (measured
        at max replay: the frame CPU time p95 went from 11.5 to 10.2 ms against both on phase 2)."""
        self._phase = (self._phase + 1) % 3
        return self._frame(phases=(self._phase,))

    def _frame(self, *, phases: tuple[int, ...]) -> PipelineSnapshot:
        t0 = time.perf_counter()
        feeds = self.session.feeds
        sel = feeds[self.selected]
        snap = sel.pipeline.snapshot()  # the account once a frame, with the selected instrument
        self.last_snapshot = snap
        for k, fp in enumerate(self.footprints):
            feed = feeds[k]
            fp.update_from(snap if k == self.selected else feed.chart_snapshot(), feed.bands(),
                           full=_chart_phase(k) in phases, profile=_profile_phase(k) in phases)
        self.delta.update_from(snap, full=_chart_phase(self.selected) in phases)  # scrolls with its chart
        if 0 in phases:
            # the DOM reads the live book: keep it pointing at the current flow state (a backward jump replaces it)
            self.dom.ladder_source = sel.pipeline.flow.book.ladder
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
        for pane in (*self.footprints, self.dom, self.delta, self.tape, self.signals, self.risk, self.status):
            pane.apply_theme(self.theme)
        self.store.set("theme", self.theme.name)

    def save_settings(self) -> None:
        """Geometry, theme and pane options; the dock layout under the window's kind (one source:
        ``window_state`` as always; several: the ``workspace`` group, with the sources to reopen)."""
        st = self.store
        multi = len(self.footprints) > 1
        st.set("layout_version", LAYOUT_VERSION)
        st.set("geometry", self.saveGeometry())
        st.set(f"{WORKSPACE}/window_state" if multi else "window_state", self.saveState(LAYOUT_VERSION))
        st.set_json(f"{WORKSPACE}/sources", workspace_sources(self.session) if multi else [])
        st.set(f"{WORKSPACE}/selected", self.selected)
        st.set("theme", self.theme.name)
        st.set_json("footprint", self.footprint.settings())
        for k, fp in enumerate(self.footprints[1:], 1):
            st.set_json(f"{WORKSPACE}/footprint_{k}", fp.settings())
        st.set_json("tape", self.tape.settings())
        st.set("dom_size", self.dom.size_box.value())
        st.sync()

    def restore_settings(self) -> None:
        st = self.store
        multi = len(self.footprints) > 1
        geometry = st.bytes("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 960)
        state = st.bytes(f"{WORKSPACE}/window_state" if multi else "window_state")
        if state is not None and int(st.get("layout_version", 0)) == LAYOUT_VERSION:
            self.restoreState(state, LAYOUT_VERSION)
        else:
            self._default_sizes()
        self.footprint.restore(st.get_json("footprint", {}))  # type: ignore[arg-type]
        for k, fp in enumerate(self.footprints[1:], 1):
            fp.restore(st.get_json(f"{WORKSPACE}/footprint_{k}", st.get_json("footprint", {})))  # type: ignore[arg-type]
        if multi and [s["spec"] for s in workspace_sources_saved(st)] == self.session.specs:
            self.select(int(st.get(f"{WORKSPACE}/selected", 0)))
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


def _chart_phase(k: int) -> int:
    """The timer phase on which chart ``k`` repaints in full: the first on phase 2 (as with one
    chart), the second on phase 0, ...: two full charts in one frame took 18 ms at max replay."""
    return (2 + k) % 3


def _profile_phase(k: int) -> int:
    """The phase on which chart ``k`` brings its session profile up to date (never its full one:
    the profile shares its chart's view, so the two would repaint together)."""
    return (1 + k) % 3


def workspace_sources(session: TerminalSession) -> list[dict]:
    """What reopens a session of several sources: each source with its instrument (the symbol a CSV
    file needed) and the zone its naive times were read in."""
    return [{"spec": f.spec, "symbol": f.instrument.root, "tz": session.tz} for f in session.feeds]


def workspace_sources_saved(store: UiSettingsStore) -> list[dict]:
    """The saved sources of the last window of several instruments (empty if it had one source);
    entries that are not source records are left out."""
    raw = store.get_json(f"{WORKSPACE}/sources", [])
    return [e for e in raw if isinstance(e, dict) and isinstance(e.get("spec"), str)] if isinstance(raw, list) else []
