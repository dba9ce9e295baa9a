"""A journal that refuses records and a kill latched in memory only (the latch file could not take
it) are alarms: the account snapshot carries them and the webhook status page shows them loudly."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from test_webhook_hardening import RefusingJournal

from tapeflow.trading.account import Account
from tapeflow.trading.kill_switch import KillSwitch
from tapeflow.webhook.status import build_status, render_html


def kill_on_a_failing_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Account:
    """An account whose kill the journal refuses and the latch file cannot take (a disk gone bad)."""
    account = Account(journal=RefusingJournal("kill_switch_events"), kill_switch=KillSwitch(tmp_path / "kill.json"))

    def read_only(*args: object, **kw: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(KillSwitch, "_save", read_only)  # no latch file yet: no in-place write either
    account.kill(by="trader", reason="phone")
    assert account.kill_switch.latched and not account.kill_switch.persisted
    return account


def test_the_snapshot_carries_journal_errors_and_a_latch_held_in_memory_only(tmp_path, monkeypatch):
    snap = kill_on_a_failing_disk(tmp_path, monkeypatch).snapshot()
    assert snap.kill_switch_latched and not snap.kill_switch_persisted
    assert "Read-only file system" in snap.kill_switch_save_error
    assert snap.journal_errors == 1
    assert snap.journal_error == "j.sqlite: cannot write to the journal (kill_switch_events): database or disk is full"


def test_a_healthy_account_has_no_alarms():
    snap = Account().snapshot()
    assert snap.kill_switch_persisted and snap.journal_errors == 0 and snap.journal_error == ""
    doc = _status(snap)
    assert doc["journal"] == {"errors": 0, "last_error": ""}
    assert doc["kill_switch"]["persisted"] is True and doc["alarms"] == []
    assert "class='alarm'" not in render_html(doc)


def _status(snap):
    return build_status(snap, [], {}, now_ns=snap.ts_ns + 10**9, started_ns=snap.ts_ns, instruments=["ES"])


def test_the_status_page_shows_journal_errors_and_a_latch_in_memory_only_loudly(tmp_path, monkeypatch):
    doc = _status(kill_on_a_failing_disk(tmp_path, monkeypatch).snapshot())
    assert doc["kill_switch"]["latched"] is True and doc["kill_switch"]["persisted"] is False
    assert "Read-only file system" in doc["kill_switch"]["save_error"]
    assert doc["journal"]["errors"] == 1
    assert "(kill_switch_events): database or disk is full" in doc["journal"]["last_error"]
    page = render_html(doc)
    head = page.split("Day P&amp;L")[0]  # above everything else
    assert head.count("class='alarm'") == 2
    assert "KILL SWITCH LATCHED IN MEMORY ONLY" in head and "Read-only file system" in head
    assert "JOURNAL NOT WRITING: 1 record not saved" in head and "database or disk is full" in head
