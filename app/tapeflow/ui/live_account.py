"""Going live from the terminal: a ProjectX or Rithmic account confirmed in a modal dialog, then traded by this window.

The account is opened exactly as ``tapeflow webhook --live`` opens it (:func:`open_live_account`:
connect, confirm, restore from the journal, reconcile with the venue), so every source (DOM,
rules, webhook, kill switch) goes through the same risk manager to the venue. The user types the
account's name in the dialog; anything else, or Cancel, keeps the window on paper. On a replayed
file or the simulator the rules only log their signals (the DOM and the webhook still trade).
``TAPEFLOW_CONFIRM_LIVE`` set to the account name answers the dialog (screenshots, services, tests).

On a ``rithmic:`` feed with ``--broker rithmic`` the broker shares the feed's session: one login per
plant, and one connection state (:func:`follow_rithmic`) shown in the status bar.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from tapeflow.commands import _live_mode as live_mode
from tapeflow.errors import TapeflowError
from tapeflow.feeds.live_rithmic import session_of
from tapeflow.ui.session import is_live_spec

if TYPE_CHECKING:
    from tapeflow.rithmic import RithmicSession, SessionState
    from tapeflow.trading.live.venue_broker import VenueBroker
    from tapeflow.ui.main_window import MainWindow


async def ask_account_name(parent: QtWidgets.QWidget | None, account: str, venue: str = "ProjectX") -> str:
    """A modal dialog where the user types the account name; Cancel answers "" (no nested event loop)."""
    dialog = QtWidgets.QInputDialog(parent)
    dialog.setObjectName("confirmLive")
    dialog.setWindowTitle("Trade a LIVE account")
    dialog.setLabelText(f"LIVE ORDERS on {venue} account {account}.\n\n"
                        "Real orders, real money. Type the account name to trade it from this window;\n"
                        "Cancel keeps the terminal on paper.")
    dialog.setStyleSheet("QLabel { color: #e0303a; font-weight: bold; }")
    dialog.setModal(True)
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def done(code: int) -> None:
        if not answer.done():
            accepted = code == QtWidgets.QDialog.DialogCode.Accepted
            answer.set_result(dialog.textValue() if accepted else "")

    dialog.finished.connect(done)
    dialog.open()
    try:
        return await answer
    finally:
        dialog.deleteLater()


@dataclass
class LiveLink:
    """The window's connection to its live venue: kept up (reconnect, reconcile) until the window closes."""

    broker: VenueBroker
    task: asyncio.Task[None]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.broker.stop()


async def go_live(window: MainWindow, args: argparse.Namespace) -> LiveLink | None:
    """Open the live account for ``window``'s instrument and trade it there; ``None`` (and the reason in
    the status bar) when it is refused or cannot connect: the window stays on paper."""
    s = window.session
    shared = session_of(s.source) if args.broker == "rithmic" else None  # the feed's: one login per plant
    try:
        account, broker, report = await live_mode.open_live_account(
            args, s.account.settings, s.files.journal, s.files.kill_switch, {s.instrument.root},
            ask=lambda name: ask_account_name(window, name, live_mode.VENUE_NAMES.get(args.broker, args.broker)),
            rithmic_session=shared)
    except TapeflowError as e:
        window.statusBar().showMessage(f"staying on PAPER: {e}", 120_000)
        return None
    account.record_settings("start", source=f"{args.broker}:{broker.account_id} feed {s.spec}")
    window.use_account(account)
    if not is_live_spec(s.spec):  # a file or the simulator is history: its signals never send live orders
        s.pipeline.auto_trade = False
    bar = window.statusBar()
    # a forced logout stays on screen until something replaces it: the user must act on it
    broker.status_listener = lambda state: bar.showMessage(
        f"broker: {state}", 0 if state.startswith("forced logout") else 30_000)
    if hasattr(broker, "reconnect"):  # Rithmic: after a forced logout the user reconnects by hand
        action = window.trading_menu.addAction("Reconnect broker (after a forced logout)")
        action.setObjectName("reconnectBroker")
        action.triggered.connect(lambda: asyncio.ensure_future(reconnect_by_hand(window, broker.reconnect)))
    broker.report_listener = lambda rec: _warn(window, rec.warnings)  # protection re-checked on reconnect
    _warn(window, report.warnings)
    return LiveLink(broker, asyncio.ensure_future(broker.run()))


async def reconnect_by_hand(window: MainWindow, reconnect: Callable[[], Awaitable[None]], what: str = "broker") -> None:
    try:
        await reconnect()
    except TapeflowError as e:
        window.statusBar().showMessage(f"{what}: reconnect failed: {e}", 0)


def follow_rithmic(window: MainWindow) -> RithmicSession | None:
    """The window's Rithmic session (its ``rithmic:`` feed's, shared with a Rithmic broker), if any:
    its state in the status bar from now on (a forced logout in red until the user reconnects), and
    on paper a Trading > Reconnect Rithmic action (live, Reconnect broker reconnects the same session).
    Called again when the window opens another feed (the label follows the new one, or hides)."""
    session = session_of(window.session.source)
    status = window.status
    if session is None:
        status.hide_link()
        return None

    def show(state: SessionState) -> None:
        if session_of(window.session.source) is not session:
            return  # an earlier feed's session closing after the window moved on
        with contextlib.suppress(RuntimeError):  # the window is gone (the session closes after it)
            status.show_link(state)

    session.add_listener(show)
    show(session.state)
    names = {a.objectName() for a in window.trading_menu.actions()}
    if not names & {"reconnectBroker", "reconnectRithmic"}:
        action = window.trading_menu.addAction("Reconnect Rithmic (after a forced logout)")
        action.setObjectName("reconnectRithmic")
        action.triggered.connect(lambda: asyncio.ensure_future(_reconnect_feed(window)))
    return session


async def _reconnect_feed(window: MainWindow) -> None:
    session = session_of(window.session.source)
    if session is None:
        window.statusBar().showMessage("Rithmic: this window's feed is not a Rithmic feed", 10_000)
        return
    await reconnect_by_hand(window, session.reconnect, "Rithmic")


def _warn(window: MainWindow, lines: list[str]) -> None:
    if lines:
        window.statusBar().showMessage("LIVE: " + "; ".join(lines), 300_000)
