"""The files a paper account keeps, opened the one safe way: locked, then proven writable.

Why a module: the terminal and ``tapeflow webhook`` both trade an account recorded in a journal
and protected by a kill switch latch. Each must hold both files alone (a second process on them
would not see the first one's kill and would reuse its order ids) and must not start trading on a
file it cannot write (a kill it cannot keep, orders it cannot record). Both open them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tapeflow.file_lock import FileLock
from tapeflow.store.journal import Journal
from tapeflow.trading.kill_switch import KillSwitch


@dataclass
class AccountFiles:
    """A locked, writable journal and kill switch latch; :meth:`close` releases both."""

    journal: Journal
    kill_switch: KillSwitch
    locks: list[FileLock] = field(default_factory=list)

    def close(self) -> None:
        self.journal.close()
        for lock in self.locks:
            lock.release()


def open_account_files(journal_path: str | Path, latch_path: str | Path) -> AccountFiles:
    """Lock the journal and the latch (one process each), open them and write to both once.

    Raises :class:`~tapeflow.errors.TapeflowError` naming the file when another process holds one
    or either cannot be written; nothing stays locked or open then.
    """
    locks = [FileLock(journal_path, "journal")]
    journal: Journal | None = None
    try:
        locks.append(FileLock(latch_path, "kill switch latch"))
        journal = Journal(journal_path)
        journal.check_writable()
        kill_switch = KillSwitch(latch_path)
        kill_switch.check_writable()
    except BaseException:
        if journal is not None:
            journal.close()
        for lock in locks:
            lock.release()
        raise
    return AccountFiles(journal, kill_switch, locks)
