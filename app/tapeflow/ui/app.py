"""Start the terminal: QApplication, the qasync loop shared with asyncio, the window, the feed.

``--screenshot OUT --after S`` replays for S wall seconds, saves the whole window and exits 0:
docs and checks use it without a person at the screen.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import qasync
from PySide6 import QtGui, QtWidgets

from tapeflow.appdirs import ensure_first_run, find_resource
from tapeflow.runtime import settle_heap
from tapeflow.ui.main_window import MainWindow
from tapeflow.ui.session import DEFAULT_SOURCE, build_session
from tapeflow.ui.settings_store import UiSettingsStore


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """What the ``gui`` command passes in."""

    source: str = DEFAULT_SOURCE
    speed: float | None = 1.0
    symbol: str | None = None
    tz: str | None = None
    bar: str = "1m"
    theme: str | None = None
    screenshot: Path | None = None
    after_s: float = 5.0
    home: Path | None = None  # one folder for all user files instead of the OS places (tests, portable)


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

    def factory(spec: str):
        return build_session(spec, paths, speed=opts.speed, symbol=opts.symbol, tz=opts.tz, bar=opts.bar)

    session = factory(opts.source)
    if not opts.source.startswith("sim:"):
        store.add_recent(opts.source)
    window = MainWindow(session, store, session_factory=factory)
    window.replay_bar.set_speed(opts.speed)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    done = asyncio.Event()
    app.lastWindowClosed.connect(done.set)
    window.show()
    settle_heap()  # the window and session live as long as the run: no full collection walks them again
    code = 0

    async def main() -> None:
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

    with loop:
        loop.run_until_complete(main())
    return code
