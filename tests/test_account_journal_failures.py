"""The account when the journal refuses writes (disk full, read-only, a number SQLite cannot hold):
no phantom order, a kill that still cancels, flattens and latches, a re-arm that is refused."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from tapeflow.core.events import Side
from tapeflow.errors import JournalError, TapeflowError
from tapeflow.file_lock import FileLock
from tapeflow.store.journal import Journal
from tapeflow.trading import Account, KillSwitch, OrderRequest, OrderType, TradingSettings
from tapeflow.trading.kill_switch import FILE_BYTES
from tapeflow.trading.settings import RiskSettings
from tapeflow.trading.testing import et, trades

T = et(date(2024, 7, 2), "10:00")
ES = 22_000  # 5500.00


@dataclass
class FlakyJournal:
    """A journal sink that refuses every write while ``full`` (like a full disk)."""

    full: bool = False
    rows: list[tuple[str, object]] = field(default_factory=list)

    def write(self, table: str, record: object) -> None:
        if self.full:
            raise JournalError(f"journal.sqlite: cannot write to the journal ({table}): database or disk is full")
        self.rows.append((table, record))

    def table(self, name: str) -> list[object]:
        return [r for t, r in self.rows if t == name]


def buy(qty: int = 1, **kw: object) -> OrderRequest:
    return OrderRequest(instrument="ES", side=Side.BUY, qty=qty, **kw)  # type: ignore[arg-type]


def account(journal: object, kill_switch: KillSwitch | None = None) -> Account:
    acct = Account(TradingSettings(risk=RiskSettings(max_position=2)), journal=journal, kill_switch=kill_switch)  # type: ignore[arg-type]
    acct.on_events(trades(T, [(ES, 1, 1)]))
    return acct


def test_an_order_the_journal_refuses_is_not_sent_and_leaves_nothing_working():
    journal = FlakyJournal()
    acct = account(journal)
    journal.full = True
    res = acct.submit(buy(2, type=OrderType.LIMIT, limit_price=ES - 40))
    assert (res.ok, res.order_id, res.rule) == (False, None, "journal")
    assert "disk is full" in res.reason
    assert acct.open_orders() == [] and acct.broker.open_orders() == []
    journal.full = False  # the disk has room again: the limit of 2 is all free
    again = acct.submit(buy(2, type=OrderType.LIMIT, limit_price=ES - 40))
    assert again.ok and [o.id for o in acct.open_orders()] == [again.order_id]


def test_a_price_sqlite_cannot_hold_leaves_no_phantom_order(tmp_path: Path):
    journal = Journal(tmp_path / "j.sqlite")
    acct = account(journal)
    res = acct.submit(buy(1, type=OrderType.LIMIT, limit_price=2**63))
    assert not res.ok and res.rule == "journal" and "j.sqlite" in res.reason
    assert acct.open_orders() == [] and acct.broker.open_orders() == []
    assert acct.submit(buy(2, type=OrderType.LIMIT, limit_price=ES - 40)).ok  # nothing blocks the limit
    journal.close()


def test_a_kill_on_a_full_disk_still_cancels_flattens_and_latches(tmp_path: Path):
    journal = FlakyJournal()
    acct = account(journal, KillSwitch(tmp_path / "kill.json"))
    acct.submit(buy(1))
    acct.submit(buy(1, type=OrderType.LIMIT, limit_price=ES - 40))
    assert acct.ledger.positions["ES"].qty == 1 and len(acct.open_orders()) == 1
    journal.full = True
    acct.kill(by="trader", reason="disk full")
    assert acct.ledger.is_flat and acct.open_orders() == [] and acct.broker.open_orders() == []
    assert acct.kill_switch.latched and acct.kill_switch.persisted
    assert acct.journal_errors > 0 and "disk is full" in acct.journal_error
    assert KillSwitch(tmp_path / "kill.json").latched  # the next start


def test_a_latch_that_cannot_be_replaced_is_written_over_in_place(tmp_path: Path, monkeypatch):
    ks = KillSwitch(tmp_path / "kill.json")
    ks.check_writable()
    assert (tmp_path / "kill.json").stat().st_size == FILE_BYTES

    def no_space(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tapeflow.trading.kill_switch.os.replace", no_space)
    ks.trigger("trader", "x" * 5000, 1)  # a reason longer than the file is shortened to fit
    assert ks.persisted
    again = KillSwitch(tmp_path / "kill.json")
    assert again.latched and again.state.by == "trader" and again.state.reason.startswith("xxx")


def test_a_latch_that_cannot_be_written_at_all_stays_latched_in_memory_and_says_why(tmp_path: Path, monkeypatch):
    ks = KillSwitch(tmp_path / "missing-folder" / "kill.json")

    def read_only(*args: object, **kw: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(KillSwitch, "_save", read_only)
    ks.trigger("trader", "phone", 1)
    assert ks.latched and not ks.persisted and "Read-only" in ks.save_error
    with pytest.raises(TapeflowError, match="not writable"):
        ks.check_writable()


def test_a_kill_the_journal_holds_latches_the_next_start_even_if_the_latch_file_lost_it(tmp_path: Path):
    journal = Journal(tmp_path / "j.sqlite")
    acct = account(journal, KillSwitch(tmp_path / "kill.json"))
    acct.kill(by="trader", reason="phone")
    (tmp_path / "kill.json").unlink()  # lost (or never written on a full disk)
    after = Account(journal=journal, kill_switch=KillSwitch(tmp_path / "kill.json"))
    assert not after.kill_switch.latched
    after.restore(journal)
    assert after.kill_switch.latched and after.kill_switch.state.by == "trader"
    assert not after.submit(buy()).ok
    journal.close()


def test_a_re_arm_the_journal_cannot_record_is_refused(tmp_path: Path):
    journal = FlakyJournal()
    acct = account(journal, KillSwitch(tmp_path / "kill.json"))
    acct.kill(by="trader", reason="phone")
    journal.full = True
    with pytest.raises(JournalError):
        acct.rearm("trader")
    assert acct.kill_switch.latched and KillSwitch(tmp_path / "kill.json").latched


def test_order_and_fill_ids_continue_after_a_restore_and_are_never_reused(tmp_path: Path):
    journal = Journal(tmp_path / "j.sqlite")
    first = account(journal)
    ids = [first.submit(buy()).order_id, first.submit(buy(5)).order_id]  # one filled, one refused
    after = account(journal)
    after.restore(journal)
    new = after.submit(buy(1)).order_id
    assert ids == [1, 2] and new == 3
    fills = [(r["id"], r["order_id"]) for r in journal.fills()]
    assert fills == [(1, 1), (2, 3)]
    journal.close()


def test_one_lock_per_file(tmp_path: Path):
    lock = FileLock(tmp_path / "j.sqlite", "journal")
    with pytest.raises(TapeflowError, match=r"j\.sqlite: the journal is in use by another Tapeflow process"):
        FileLock(tmp_path / "j.sqlite", "journal")
    lock.release()
    FileLock(tmp_path / "j.sqlite", "journal").release()  # free again once released


def test_a_read_only_journal_fails_the_write_check(tmp_path: Path, monkeypatch):
    journal = Journal(tmp_path / "j.sqlite")
    journal.check_writable()
    journal.close()
    ro = Journal(tmp_path / "j.sqlite")
    ro.db.execute("PRAGMA query_only = ON")  # what a read-only file looks like to SQLite
    with pytest.raises(JournalError, match=r"j\.sqlite: the journal is not writable"):
        ro.check_writable()
    with pytest.raises(JournalError, match=r"j\.sqlite: cannot write to the journal \(orders\)"):
        ro.write("orders", {"id": 1, "ts_created": 0, "status": "working"})
    ro.close()
