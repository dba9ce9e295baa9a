"""Start the terminal: QApplication, the qasync loop shared with asyncio, the window, the feed.

``--screenshot OUT --after S`` replays for S wall seconds, saves the whole window and exits 0:
docs and checks use it without a person at the screen.

The journal and kill switch latch are locked and proven writable before the window opens: when
another process (a second terminal, ``tapeflow webhook``) holds them or they cannot be written,
the terminal does not trade; it says why on one line and in a dialog, and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import qasync
from PySide6 import QtGui, QtWidgets

from tapeflow.account_files import open_account_files
from tapeflow.appdirs import ensure_first_run, find_resource
from tapeflow.errors import TapeflowError
from tapeflow.runtime import settle_heap
from tapeflow.ui.main_window import MainWindow, workspace_sources_saved
from tapeflow.ui.session import DEFAULT_SOURCE, build_session, reopen_workspace
from tapeflow.ui.settings_store import UiSettingsStore


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """What the ``gui`` command passes in."""

    source: str = DEFAULT_SOURCE
    sources: tuple[str, ...] = ()  # several feeds, one per instrument (then ``source`` is the first)
    reopen: bool = False  # no feed was named: reopen the last window of several instruments, if any
    speed: float | None = 1.0
    symbol: str | None = None
    tz: str | None = None
    bar: str = "1m"
    theme: str | None = None
    screenshot: Path | None = None
    after_s: float = 5.0
    home: Path | None = None  # one folder for all user files instead of the OS places (tests, portable)
    live: argparse.Namespace | None = None  # --broker projectx --live (or [broker] settings): go live first


def run_terminal(opts: LaunchOptions) -> int:
    """Run the window until it is closed (or until the screenshot is taken); returns the exit code."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("Tapeflow")
    icon = find_resource("icons/tapeflow.png")
    if icon is not None:
        app.setWindowIcon(QtGui.QIcon(str(icon)))
    paths = ensure_first_run(opts.home)
    store = UiSettingsStore(paths.config_dir / "ui.ini")
    if opts.theme:
        store.set("theme", opts.theme)

    try:
        files = open_account_files(paths.journal_file, paths.kill_switch_file)
    except TapeflowError as e:
        return _refuse_to_trade(e, dialog=opts.screenshot is None)

    def factory(spec: str):  # every session of this window trades the one account on the locked files
        return build_session(spec, paths, speed=opts.speed, symbol=opts.symbol, tz=opts.tz, bar=opts.bar,
                             files=files)

    notes: list[str] = []
    try:
        if opts.sources:
            session = build_session(opts.sources, paths, speed=opts.speed, symbol=opts.symbol, tz=opts.tz,
                                    bar=opts.bar, files=files)
        elif opts.reopen and opts.live is None and (saved := workspace_sources_saved(store)):
            session, notes = reopen_workspace(saved, paths, speed=opts.speed, bar=opts.bar, files=files)
        else:
            session = factory(opts.source)
    except BaseException:
        files.close()
        raise
    for spec in session.specs if len(session.feeds) == 1 else ():
        if not spec.startswith("sim:"):
            store.add_recent(spec)
    for note in notes:
        print(f"tapeflow: {note}", file=sys.stderr, flush=True)
    window = MainWindow(session, store, session_factory=factory)
    if notes:
        window.statusBar().showMessage("; ".join(notes), 120_000)
    window.replay_bar.set_speed(opts.speed)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    done = asyncio.Event()
    app.lastWindowClosed.connect(done.set)
    window.show()
    settle_heap()  # the window and session live as long as the run: no full collection walks them again
    code = 0

    link = None
    rithmic = None  # a rithmic: feed's session (shared with a Rithmic broker): closed last

    async def main() -> None:
        nonlocal link, rithmic
        from tapeflow.ui.live_account import follow_rithmic

        if opts.live is not None:  # before the feed starts: nothing trades on paper while the user decides
            from tapeflow.ui.live_account import go_live

            link = await go_live(window, opts.live)
        rithmic = follow_rithmic(window)
        window.start()
        if opts.screenshot is not None:
            await asyncio.sleep(opts.after_s)
            window.refresh()  # no processEvents here: it would re-enter the qasync loop from inside a task
            opts.screenshot.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(opts.screenshot)):
                nonlocal code
                code = 1
            window.close()
            return
        await done.wait()

    async def close_live() -> None:
        await window.session.runner.stop()  # the feed lets go of its subscriptions before the session closes
        if link is not None:
            await link.close()
        if rithmic is not None:
            await rithmic.close()  # log out of every plant (the broker has stopped using it)

    try:
        with loop:
            try:
                loop.run_until_complete(main())
            finally:
                loop.run_until_complete(close_live())
    finally:
        files.close()
    return code


def _refuse_to_trade(error: TapeflowError, *, dialog: bool) -> int:
    """Say on one line (and in a dialog unless headless) why the terminal does not start; exit code 2."""
    print(f"tapeflow: not trading: {error}", file=sys.stderr, flush=True)
    if dialog:
        QtWidgets.QMessageBox.critical(None, "Tapeflow is not trading",
                                       f"The terminal cannot trade on its files, so it does not start.\n\n{error}")
    return 2
