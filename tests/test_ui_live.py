"""``tapeflow gui --broker projectx --live``: the window opens a live ProjectX account (the local fake
venue over real sockets), only after the user types the account name in a modal dialog; refused,
it stays on paper. Live: a DOM order reaches the venue once, the position is marked from the
window's own feed, and the kill switch flattens at the venue."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from fake_projectx import FakeProjectX
from PySide6 import QtCore, QtWidgets
from test_ui_support import SIM, all_events, make_session

from tapeflow.cli import build_parser
from tapeflow.commands import _live_mode as live_mode
from tapeflow.core.events import Side
from tapeflow.errors import TapeflowError
from tapeflow.trading.orders import OrderRequest, Source
from tapeflow.trading.snapshot import is_live_account
from tapeflow.ui.live_account import go_live
from tapeflow.ui.main_window import MainWindow
from tapeflow.ui.settings_store import UiSettingsStore

qasync = pytest.importorskip("qasync")


@pytest.fixture
def live_env(monkeypatch):
    monkeypatch.setenv("PROJECTX_USERNAME", "trader")
    monkeypatch.setenv("PROJECTX_API_KEY", "key-123")
    monkeypatch.delenv("TAPEFLOW_CONFIRM_LIVE", raising=False)


@pytest.fixture
def window(qtbot, tmp_path, live_env):
    def no_other_feed(spec: str):
        raise AssertionError(f"a live window opened {spec}")

    w = MainWindow(make_session(tmp_path, engine=False), UiSettingsStore(tmp_path / "ui.ini"), user="tester",
                   session_factory=no_other_feed)
    qtbot.addWidget(w)
    w.resize(1600, 960)
    w.show()
    return w


def _run(qapp, scenario):
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(scenario(), 30))
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _gui_args(url: str) -> object:
    return build_parser().parse_args(["gui", "--broker", "projectx", "--live", "--projectx-api", url,
                                      "--projectx-hub", url.replace("http", "ws") + "/hubs/user"])


def _answer_dialog(text: str | None, account: str = "50KTC") -> None:
    """Type ``text`` into the confirmation dialog and press OK (``None``: Cancel), once it is up."""

    def answer() -> None:
        dialogs = [d for d in QtWidgets.QApplication.topLevelWidgets()
                   if d.objectName() == "confirmLive" and d.isVisible()]
        if not dialogs:
            QtCore.QTimer.singleShot(20, answer)
            return
        (d,) = dialogs
        assert d.isModal() and account in d.labelText()
        if os.environ.get("TAPEFLOW_SHOTS"):
            d.grab().save(str(Path(os.environ["TAPEFLOW_SHOTS"]) / "confirm_live_dialog.png"))
        if text is None:
            d.reject()
        else:
            d.setTextValue(text)
            d.accept()

    QtCore.QTimer.singleShot(20, answer)


async def _until(cond, what: str) -> None:
    for _ in range(300):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("answer", [None, "50ktc", "yes"])
def test_a_refused_confirmation_keeps_the_window_on_paper_and_sends_nothing(window, qapp, answer):
    venue = FakeProjectX()

    async def scenario():
        url = await venue.start()
        _answer_dialog(answer)
        link = await go_live(window, _gui_args(url))
        await venue.stop()
        return link

    paper = window.session.account
    assert _run(qapp, scenario) is None
    assert window.session.account is paper and window.session.pipeline.account is paper
    window.refresh()
    assert window.status.labels["mode"].text() == "PAPER" and window.risk.mode_label.text() == "PAPER"
    assert "staying on PAPER: live mode not confirmed" in window.statusBar().currentMessage()
    assert venue.place_requests == []


def test_accepted_the_dom_trades_the_venue_once_marks_from_the_feed_and_the_kill_switch_flattens_there(
        window, qapp, tmp_path):
    venue = FakeProjectX()
    s = window.session
    events = all_events(s)
    half = len(events) // 2
    # paper first, on the same journal: a simulated long the live account must not take over
    s.pipeline.process(events[: half // 2])
    paper = s.account
    assert paper.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, source=Source.MANUAL)).ok
    s.pipeline.process(events[half // 2 : half // 2 + 50])
    assert paper.ledger.positions["ES"].qty == 1 and s.files.journal.rows("fills")
    shots = Path(os.environ.get("TAPEFLOW_SHOTS") or "/tmp/livegui")

    async def scenario():
        url = await venue.start()
        _answer_dialog("50KTC")
        link = await go_live(window, _gui_args(url))
        assert link is not None
        try:
            account = s.account
            assert is_live_account(account.name) and s.pipeline.account is account and window.dom.account is account
            assert not s.pipeline.auto_trade  # the simulator's signals are history: never live orders
            assert account.ledger.is_flat  # the paper fill in the journal is not the venue account's
            assert "LIVE:" not in window.statusBar().currentMessage()  # no journal/venue mismatch to warn of
            assert not window.open_spec(SIM) and window.session is s  # the live feed is kept until a restart
            assert "a LIVE account trades this feed" in window.statusBar().currentMessage()
            s.pipeline.process(events[half // 2 + 50 : half])
            last = s.pipeline.flow.last_price
            window.dom.one_click.setChecked(True)
            res = window.dom.limit(Side.BUY, last)
            assert res is not None and res.ok
            await _until(lambda: venue.place_requests, "the order at the venue")
            (oid,) = venue.orders
            venue.fill(oid)
            await _until(lambda: account.ledger.positions.get("ES") and account.ledger.positions["ES"].qty == 1,
                         "the fill booked")
            s.pipeline.process(events[half:])
            pos = account.ledger.positions["ES"]
            mark = s.pipeline.flow.last_price
            assert pos.mark == mark != last  # marked from the window's feed, not from the venue
            tick_cents = 1250
            assert account.snapshot().unrealized_cents == (mark - last) * tick_cents
            window.refresh()
            shots.mkdir(parents=True, exist_ok=True)
            assert window.grab().save(str(shots / "live_window.png"))
            assert window.risk.kill("test")
            report = await link.broker.kill_result()
            assert report.flat_confirmed and venue.position == 0 and account.ledger.is_flat
            assert len(venue.place_requests) == 1  # sent exactly once, the kill closed at the venue
            assert venue.place_requests[0]["customTag"].startswith("tf")
        finally:
            await link.close()
            await venue.stop()

    _run(qapp, scenario)
    window.refresh()
    assert window.status.labels["mode"].text() == "LIVE projectx:50KTC"
    red = f"background: {window.theme.danger}"
    assert red in window.status.labels["mode"].styleSheet()
    assert window.risk.mode_label.text() == "LIVE projectx:50KTC" and red in window.risk.mode_label.styleSheet()


def test_broker_settings_choose_live_unless_the_flags_did_and_bad_values_are_named(tmp_path):
    f = tmp_path / "trading.toml"
    f.write_text('[broker]\nkind = "projectx"\nmode = "live"\naccount = "50KTC"\n')
    args = build_parser().parse_args(["gui"])
    live_mode.apply_settings(args, f)
    live_mode.check_mode(args)
    assert (args.broker, args.live, args.account) == ("projectx", True, "50KTC")
    f.write_text('[broker]\nkind = "projectx"\n')
    with pytest.raises(TapeflowError, match=r'trading.toml: \[broker\]: a live account needs both'):
        live_mode.apply_settings(build_parser().parse_args(["gui"]), f)
    f.write_text('[broker]\nkind = "ibkr"\nmode = "live"\n')
    with pytest.raises(TapeflowError, match=r"\[broker\] kind: expected paper, projectx or rithmic, got 'ibkr'"):
        live_mode.apply_settings(build_parser().parse_args(["gui"]), f)
    f.write_text('[broker]\nkind = "rithmic"\nmode = "live"\naccount = "TF-001"\n')
    args = build_parser().parse_args(["gui"])
    live_mode.apply_settings(args, f)
    assert (args.broker, args.live, args.account) == ("rithmic", True, "TF-001")
    f.write_text('[broker]\nmode = "live"\nkind = "projectx"\n[risk]\nmax_position = 2\n')
    from tapeflow.trading.settings import load_settings
    assert load_settings(f).risk.max_position == 2  # the trading settings accept the [broker] table
    args = build_parser().parse_args(["gui", "--account", "X"])
    f.write_text('[broker]\naccount = "Y"\n')
    live_mode.apply_settings(args, f)
    assert (args.broker, args.live, args.account) == ("paper", False, "X")


def test_gui_refuses_a_half_chosen_live_mode_before_opening_a_window(capsys):
    from tapeflow.cli import main
    assert main(["gui", SIM, "--broker", "projectx"]) == 2
    assert "add --live to confirm" in capsys.readouterr().err


def test_gui_command_goes_live_from_trading_toml_with_the_env_confirmation_and_saves_a_screenshot(
        tmp_path, monkeypatch, live_env, qapp):
    """The whole command: ``[broker]`` settings choose live, ``TAPEFLOW_CONFIRM_LIVE`` answers the
    dialog (screenshot mode), the venue sees the login and the hub, and the connection is closed at exit."""
    import threading

    from tapeflow.cli import main

    venue = FakeProjectX()
    loop = asyncio.new_event_loop()
    url = loop.run_until_complete(venue.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    home = tmp_path / "home"
    monkeypatch.setenv("TAPEFLOW_HOME", str(home))
    monkeypatch.setenv("TAPEFLOW_CONFIRM_LIVE", "50KTC")
    from tapeflow.appdirs import ensure_first_run

    settings = ensure_first_run(home).settings_file  # the user's trading.toml, as a first start writes it
    settings.write_text(settings.read_text() + '\n[broker]\nkind = "projectx"\nmode = "live"\n')
    out = Path(os.environ.get("TAPEFLOW_SHOTS") or tmp_path) / "gui_command_live.png"
    try:
        code = main(["gui", SIM, "--speed", "max", "--screenshot", str(out), "--after", "0.3",
                     "--projectx-api", url, "--projectx-hub", url.replace("http", "ws") + "/hubs/user"])
    finally:
        asyncio.run_coroutine_threadsafe(venue.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert code == 0 and out.stat().st_size > 10_000
    assert any("Auth/loginKey" in p for p in venue.requests) and any("Position" in p for p in venue.requests)
    assert venue.place_requests == []


def test_a_rithmic_account_goes_live_from_the_window_and_a_dom_click_is_a_manual_order(
        window, qapp, monkeypatch):
    pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
    pytest.importorskip("trustme", reason="trustme (test extra) is not installed")
    from rithmic_venue import Venue, live_mode_on
    from rithmic_venue import make_session as make_rithmic_session

    venue = Venue()
    live_mode_on(venue, monkeypatch)
    s = window.session

    async def scenario():
        await venue.server.start()
        monkeypatch.setenv("RITHMIC_URL", venue.server.url)
        _answer_dialog("TF-001", account="Rithmic account TF-001")
        link = await go_live(window, build_parser().parse_args(["gui", "--broker", "rithmic", "--live"]))
        assert link is not None
        try:
            s.pipeline.process(all_events(s)[:200])
            res = window.dom.limit(Side.BUY, s.pipeline.flow.last_price - 4)
            assert res is not None and res.ok
            await _until(lambda: venue.orders.submits(), "the order at the gateway")
            (sent,) = venue.orders.submits()
            assert sent.manual_or_auto == 1 and sent.template_id == 312  # a click: MANUAL
            intruder = make_rithmic_session(venue.server)  # the same user logs in elsewhere
            await intruder.open({"order"})
            await _until(lambda: "forced logout" in window.statusBar().currentMessage(), "the forced logout shown")
            (action,) = [a for a in window.trading_menu.actions() if a.objectName() == "reconnectBroker"]
            await intruder.close()
            action.trigger()  # the user's reconnect
            await _until(lambda: link.broker.connected and not link.broker.reconciling, "reconnected by hand")
            assert window.risk.kill("test")
            report = await link.broker.kill_result()
            assert report.flat_confirmed and venue.orders.working() == []
        finally:
            await link.close()
            await venue.server.stop()

    _run(qapp, scenario)
    window.refresh()
    assert window.status.labels["mode"].text() == "LIVE rithmic:TF-001"
