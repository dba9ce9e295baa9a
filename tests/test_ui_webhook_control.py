"""The terminal's webhook toggle: refuses without a secret, serves the terminal's own account."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from tapeflow.trading.account import Account
from tapeflow.ui.webhook_control import WebhookControl

SECRET = "correct-horse-battery-staple"


def test_toggle_refuses_to_start_without_a_secret_and_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TAPEFLOW_WEBHOOK_SECRET", raising=False)
    control = WebhookControl(Account(), tmp_path / "missing.toml", {"ES"})
    assert asyncio.run(control.start()) is False
    assert not control.running and "TAPEFLOW_WEBHOOK_SECRET" in control.status


def test_toggle_serves_the_terminals_account_on_localhost(tmp_path, monkeypatch):
    settings = tmp_path / "trading.toml"
    settings.write_text(f'[webhook]\nport = 0\nsecret = "{SECRET}"\n')
    monkeypatch.delenv("TAPEFLOW_WEBHOOK_SECRET", raising=False)
    account = Account()
    control = WebhookControl(account, settings, {"ES"})

    async def scenario() -> dict:
        assert await control.start()
        assert control.server.url.startswith("http://127.0.0.1:")  # loopback unless configured
        try:
            url = f"{control.server.url}/status"
            req = urllib.request.Request(url, headers={"X-Tapeflow-Secret": SECRET})
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=5).read())
            return json.loads(body)
        finally:
            await control.stop()

    status = asyncio.run(scenario())
    assert control.server is None and "webhook off" in control.status
    assert status["instruments"] == ["ES"] and status["kill_switch"]["latched"] is False
    assert status["positions"] == []


def test_the_window_trading_menu_toggles_the_webhook_server(qtbot, tmp_path, monkeypatch):
    import qasync
    from PySide6 import QtWidgets

    from tapeflow.appdirs import ensure_first_run
    from tapeflow.ui.main_window import MainWindow
    from tapeflow.ui.session import build_session
    from tapeflow.ui.settings_store import UiSettingsStore

    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    paths = ensure_first_run()
    session = build_session("sim://rth?minutes=1&seed=2", paths, use_engine=False)
    loop = qasync.QEventLoop(QtWidgets.QApplication.instance())
    asyncio.set_event_loop(loop)
    try:
        window = MainWindow(session, UiSettingsStore(tmp_path / "ui.ini"))
        qtbot.addWidget(window)
        assert not window.webhook_action.isChecked()  # off at start, like one-click trading
        window.webhook_action.setChecked(True)
        loop.run_until_complete(window._webhook_task)
        assert window.webhook.running and window.webhook_action.isChecked()
        assert window.webhook.server.account is session.account  # alerts trade the terminal's account
        window.webhook_action.setChecked(False)
        loop.run_until_complete(window._webhook_task)
        assert not window.webhook.running
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_toggle_checks_a_named_month_against_the_month_the_terminals_feed_carries(tmp_path, monkeypatch):
    settings = tmp_path / "trading.toml"
    settings.write_text(f'[webhook]\nport = 0\nsecret = "{SECRET}"\n')
    monkeypatch.delenv("TAPEFLOW_WEBHOOK_SECRET", raising=False)
    control = WebhookControl(Account(), settings, {"ES"}, feed_symbols=["ESZ6"])

    def post(body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(f"{control.server.url}/webhook", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    async def scenario() -> list[tuple[int, dict]]:
        assert await control.start()
        try:
            return [await asyncio.to_thread(post, {"secret": SECRET, "action": "buy", "symbol": s, "quantity": 1,
                                                   "stop_ticks": 8}) for s in ("ESH7", "NQ1!")]
        finally:
            await control.stop()

    (month, month_reply), (other, other_reply) = asyncio.run(scenario())
    assert (month, month_reply["code"]) == (422, "wrong_contract")
    assert "ESZ6" in month_reply["reason"]  # the feed's month, not "any ES"
    assert (other, other_reply["code"]) == (422, "unknown_symbol")
    assert "open a NQ feed in the terminal" in other_reply["reason"]
