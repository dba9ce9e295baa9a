"""``tapeflow gui rithmic:ES --broker rithmic --live``: the terminal follows Rithmic data and trades on
the same session (the fake gateway's ticker, order and P&L plants over real sockets): the DOM shows
the depth of the fake ticker plant, a DOM click reaches the order plant once, each plant logs in
once, and a forced logout is shown in red until Trading > Reconnect broker brings the session back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from PySide6 import QtWidgets
from test_ui_support import make_session, shot

from tapeflow.cli import build_parser
from tapeflow.ui.ladder_model import Col
from tapeflow.ui.live_account import follow_rithmic, go_live
from tapeflow.ui.main_window import MainWindow
from tapeflow.ui.settings_store import UiSettingsStore

qasync = pytest.importorskip("qasync")
pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
pytest.importorskip("trustme", reason="trustme (test extra) is not installed")

from async_rithmic.enums import SysInfraType  # noqa: E402
from fake_rithmic.ticker import BUY, SELL, FakeTicker  # noqa: E402
from rithmic_venue import Venue, live_mode_on  # noqa: E402
from rithmic_venue import make_session as make_rithmic_session  # noqa: E402

PLANTS = (SysInfraType.TICKER_PLANT, SysInfraType.ORDER_PLANT, SysInfraType.PNL_PLANT)


def _logins(server) -> list[int]:
    """Successful logins per plant (ticker, order, P&L): the gateway records a plant only then."""
    return [sum(1 for c in server.conns if c.infra_type == p) for p in PLANTS]


async def _until(cond, what: str, rounds: int = 1000) -> None:
    for _ in range(rounds):  # a cap on loop turns (10 s), not a timing assert
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _on_qasync(qapp, scenario) -> None:
    """Run ``scenario()`` on a qasync loop, as the terminal runs (a cap of 60 s)."""
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 60))
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _cell(window: MainWindow, price: int, col: Col) -> str:
    row = window.dom.model.row_of(price)
    assert row is not None, f"price {price} not on the ladder"
    return window.dom.model.data(window.dom.model.index(row, col)) or ""


def test_the_terminal_trades_a_rithmic_account_on_its_rithmic_feeds_session(qtbot, qapp, tmp_path, monkeypatch):
    venue = Venue()
    ticker = FakeTicker(venue.server, front={"ES": "ESZ6"})
    for oid, side, price, size in (("b1", BUY, 5529.0, 3), ("b2", BUY, 5529.0, 2), ("b3", BUY, 5528.75, 7),
                                   ("a1", SELL, 5529.25, 4), ("a2", SELL, 5529.5, 6)):
        ticker.rest("ESZ6", oid, side, price, size)
    live_mode_on(venue, monkeypatch)  # env credentials; only the client's SSL context trusts the test CA
    monkeypatch.setenv("TAPEFLOW_CONFIRM_LIVE", "TF-001")
    now = int(datetime.now(UTC).timestamp())

    async def scenario() -> None:
        await venue.server.start()
        monkeypatch.setenv("RITHMIC_URL", venue.server.url)
        session = make_session(tmp_path, "rithmic:ES", speed=1.0, engine=False)
        window = MainWindow(session, UiSettingsStore(tmp_path / "ui.ini"), user="tester")
        qtbot.addWidget(window)
        window.resize(1600, 960)
        window.show()
        args = build_parser().parse_args(["gui", "rithmic:ES", "--broker", "rithmic", "--live"])
        link = await go_live(window, args)
        assert link is not None
        shared = follow_rithmic(window)
        window.start()
        try:
            assert shared is session.source.session and link.broker.session is shared
            await _until(lambda: any("ESZ6" in subs for subs in ticker.depth_subs.values()), "the feed subscribed")
            await ticker.trade("ESZ6", 5529.25, 2, 1, ssboe=now)
            await _until(lambda: window.refresh() and session.pipeline.flow.last_price == 22117, "the first trade")
            window.refresh()
            assert [_cell(window, 22116, Col.BID), _cell(window, 22115, Col.BID)] == ["5", "7"]  # 3 + 2 at 5529.00
            assert [_cell(window, 22117, Col.ASK), _cell(window, 22118, Col.ASK)] == ["4", "6"]
            assert _logins(venue.server) == [1, 1, 1]  # feed and broker on one session: one login per plant

            window.dom.one_click.setChecked(True)
            res = window.dom.click_cell(window.dom.model.index(window.dom.model.row_of(22115), Col.BID))
            assert res is not None and res.ok
            await _until(lambda: venue.orders.working(), "the DOM order at the order plant")
            for _ in range(20):
                await asyncio.sleep(0.01)
            (sent,) = venue.orders.submits()  # once
            assert sent.manual_or_auto == 1 and sent.price == 5528.75 and sent.template_id == 312  # MANUAL limit
            await _until(lambda: window.refresh() and _cell(window, 22115, Col.BUY_ORDERS) == "1",
                         "the order on the DOM")
            assert window.status.labels["link"].text() == "Rithmic UP"
            shot(window, "ui_rithmic_live_depth", tmp_path)

            intruder = make_rithmic_session(venue.server)  # the same user logs in elsewhere
            await intruder.open({"ticker", "order"})
            link_label = window.status.labels["link"]
            await _until(lambda: "FORCED_OUT" in link_label.text(), "the forced logout in the status bar")
            assert "another session logged in with this user" in link_label.text()
            assert "background" in link_label.styleSheet() and window.theme.danger in link_label.styleSheet()
            await _until(lambda: "forced logout" in window.statusBar().currentMessage(), "the broker says it too")
            feed_label = window.status.labels["feed"]
            await _until(lambda: window._status_tick() or feed_label.text().startswith(
                "live feed reconnecting: rithmic session FORCED_OUT"), "the feed's state in the status bar")
            # the risk panel's state says entries are halted by the venue connection, never a green ACTIVE
            await _until(lambda: window.refresh() is not None and window.risk.state_label.text()
                         == "NO ENTRIES: LINK DOWN", "the halt in the risk panel")
            assert window.theme.warning in window.risk.state_label.styleSheet()
            shot(window, "ui_rithmic_forced_out", tmp_path)
            await intruder.close()
            for _ in range(50):
                await asyncio.sleep(0.01)
            assert _logins(venue.server) == [2, 2, 1]  # ours + the intruder's: nothing logged in by itself

            (action,) = [a for a in window.trading_menu.actions() if a.objectName() == "reconnectBroker"]
            assert not [a for a in window.trading_menu.actions() if a.objectName() == "reconnectRithmic"]
            action.trigger()  # the user's reconnect: the shared session, so data and orders come back
            await _until(lambda: link_label.text() == "Rithmic UP" and link.broker.connected
                         and not link.broker.reconciling, "reconnected by hand")
            assert _logins(venue.server) == [3, 3, 1]
            window.refresh()
            assert window.risk.state_label.text().startswith("ACTIVE")
            await _until(lambda: any(not c.closed and "ESZ6" in s for c, s in ticker.market_data.items()),
                         "the feed subscribed again")
            await ticker.trade("ESZ6", 5529.50, 1, 1, ssboe=now + 1)
            await _until(lambda: window.refresh() and session.pipeline.flow.last_price == 22118, "data resumed")
            window._status_tick()
            assert feed_label.text() == "live"
        finally:
            window.frame_timer.stop()
            window.status_timer.stop()
            await session.runner.stop()  # the window closes after the loop (closing it here would quit the app)
            await link.close()
            await shared.close()
            await venue.server.stop()
        assert venue.server.live() == []

    _on_qasync(qapp, scenario)
    QtWidgets.QApplication.processEvents()


def test_a_paper_window_on_a_rithmic_feed_shows_its_session_and_lets_go_of_it_for_another_feed(
        qtbot, qapp, tmp_path, monkeypatch):
    from test_ui_support import SIM

    from tapeflow.appdirs import app_paths
    from tapeflow.ui.session import build_session

    venue = Venue()
    ticker = FakeTicker(venue.server, front={"ES": "ESZ6"})
    ticker.rest("ESZ6", "b1", BUY, 5529.0, 3)
    live_mode_on(venue, monkeypatch)

    async def scenario() -> None:
        await venue.server.start()
        monkeypatch.setenv("RITHMIC_URL", venue.server.url)
        paths = app_paths(tmp_path)
        session = make_session(tmp_path, "rithmic:ES", speed=1.0, engine=False)
        window = MainWindow(session, UiSettingsStore(tmp_path / "ui.ini"), user="tester",
                            session_factory=lambda spec: build_session(spec, paths, speed=None, use_engine=False,
                                                                       files=session.files))
        qtbot.addWidget(window)
        shared = follow_rithmic(window)
        window.start()
        try:
            label = window.status.labels["link"]
            await _until(lambda: label.text() == "Rithmic UP", "the session up in the status bar")
            assert _logins(venue.server) == [1, 0, 0]  # paper: the ticker plant only
            (action,) = [a for a in window.trading_menu.actions() if a.objectName() == "reconnectRithmic"]
            assert window.open_spec(SIM)
            await _until(lambda: venue.server.live() == [] and shared.state.phase.value == "CLOSED",
                         "the Rithmic session closed with its feed (logged out)")
            assert label.isHidden()
            action.trigger()  # on the simulator: nothing to reconnect, said so
            await _until(lambda: "not a Rithmic feed" in window.statusBar().currentMessage(), "the hint")
            assert _logins(venue.server) == [1, 0, 0]
        finally:
            window.frame_timer.stop()
            window.status_timer.stop()
            await window.session.runner.stop()
            await venue.server.stop()

    _on_qasync(qapp, scenario)


def test_gui_command_on_a_rithmic_feed_and_broker_logs_in_once_per_plant_and_out_of_all_at_exit(
        qapp, tmp_path, monkeypatch, caplog):
    """The whole command: ``tapeflow gui rithmic:ES --broker rithmic --live --screenshot``, the fake
    gateway on a thread of its own; the window's one session logs into each plant once and out of
    every plant when the window closes."""
    import threading

    from tapeflow.cli import main

    venue = Venue()
    ticker = FakeTicker(venue.server, front={"ES": "ESZ6"})
    ticker.rest("ESZ6", "b1", BUY, 5529.0, 3)
    live_mode_on(venue, monkeypatch)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(venue.server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RITHMIC_URL", venue.server.url)
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TAPEFLOW_CONFIRM_LIVE", "TF-001")
    out = tmp_path / "gui_rithmic.png"
    try:
        code = main(["gui", "rithmic:ES", "--broker", "rithmic", "--live", "--screenshot", str(out), "--after", "1"])
    finally:
        asyncio.run_coroutine_threadsafe(venue.server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert code == 0 and out.stat().st_size > 10_000
    assert _logins(venue.server) == [1, 1, 1]
    assert any(m.symbol == "ESZ6" and m.request == 1 for m in venue.server.requests(100))  # the feed subscribed
    logouts = {c.infra_type for c in venue.server.conns if c.infra_type and not c.logged_in}  # 12 clears it
    assert logouts == set(PLANTS)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []  # the feed let go first
