"""Risk pane: a re-arm the journal or latch file refuses is shown and leaves the switch latched;
journal errors and a kill latched in memory only are shown loudly at the top of the pane."""

from __future__ import annotations

from test_status_alarms import kill_on_a_failing_disk
from test_ui_support import shot
from test_webhook_hardening import RefusingJournal

from tapeflow.core.instruments import INSTRUMENTS
from tapeflow.trading.account import Account
from tapeflow.trading.kill_switch import KillSwitch
from tapeflow.ui.risk_pane import RiskPane
from tapeflow.ui.theme import theme_named


def _pane(qtbot, account: Account) -> RiskPane:
    pane = RiskPane(INSTRUMENTS["ES"], theme_named("dark"), account, user="tester", confirm=lambda *_: True)
    qtbot.addWidget(pane)
    pane.resize(420, 640)
    pane.show()
    pane.refresh()
    return pane


def test_a_rearm_the_journal_refuses_shows_why_and_stays_latched(qtbot, tmp_path):
    account = Account(kill_switch=KillSwitch(tmp_path / "kill.json"))
    pane = _pane(qtbot, account)
    assert pane.kill("risk panel button")
    account.journal = RefusingJournal("kill_switch_events")  # the disk filled up after the kill
    assert pane.rearm() is False
    assert account.kill_switch.latched and KillSwitch(tmp_path / "kill.json").latched
    assert pane.notice.text() == ("re-arm refused: j.sqlite: cannot write to the journal (kill_switch_events): "
                                  "database or disk is full")
    assert pane.rearm_button.isEnabled() and pane.latch_label.text().startswith("KILL SWITCH LATCHED")


def test_a_rearm_the_latch_file_refuses_shows_why_and_stays_latched(qtbot, tmp_path, monkeypatch):
    account = Account(kill_switch=KillSwitch(tmp_path / "kill.json"))
    pane = _pane(qtbot, account)
    pane.kill("risk panel button")

    def read_only(*args: object, **kw: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(KillSwitch, "_save", read_only)
    assert pane.rearm() is False and account.kill_switch.latched
    assert pane.notice.text().startswith("re-arm refused: ") and "latch file is not writable" in pane.notice.text()


def test_the_pane_shows_journal_errors_and_a_latch_in_memory_only_loudly(qtbot, tmp_path, monkeypatch):
    account = kill_on_a_failing_disk(tmp_path, monkeypatch)
    pane = _pane(qtbot, account)
    assert pane.alarm_label.isVisible()
    text = pane.alarm_label.text()
    assert "KILL SWITCH LATCHED IN MEMORY ONLY" in text and "Read-only file system" in text
    assert "JOURNAL NOT WRITING: 1 record not saved" in text and "database or disk is full" in text
    assert "background" in pane.alarm_label.styleSheet()
    qtbot.wait(50)  # let the layout give the wrapped alarm its height, as the window's event loop does
    assert pane.alarm_label.height() >= pane.alarm_label.heightForWidth(pane.alarm_label.width())
    shot(pane, "risk_pane_alarms", tmp_path)


def test_the_alarm_clears_once_the_latch_reaches_the_disk(qtbot, tmp_path, monkeypatch):
    account = kill_on_a_failing_disk(tmp_path, monkeypatch)
    account.journal = None  # only the latch alarm left to watch
    account.journal_errors, account.journal_error = 0, ""
    pane = _pane(qtbot, account)
    assert pane.alarm_label.isVisible()
    monkeypatch.undo()  # the disk has room again
    assert account.kill_switch.retry_save()
    pane.refresh()
    assert not pane.alarm_label.isVisible() and pane.latch_label.text().startswith("KILL SWITCH LATCHED")
