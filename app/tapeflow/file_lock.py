"""One process per file: an exclusive OS lock on a sidecar ``<file>.lock``.

Why: two processes writing one journal (or one kill switch latch) each believe they alone hold
the account; a kill through one does not stop the other, and both allocate the same order ids.
The lock is taken without waiting, so a second instance refuses to start with a message naming
the file and the holder's pid. The OS releases it when the process dies (even ``kill -9``), so
a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tapeflow.errors import TapeflowError


class FileLock:
    """An exclusive, non-blocking lock held until :meth:`release` or the process ends."""

    def __init__(self, target: str | Path, what: str = "file") -> None:
        """Lock ``target`` (through ``<target>.lock``); raises :class:`TapeflowError` if another
        process holds it or the lock file cannot be created. ``what`` names the file in messages."""
        self.target = Path(target)
        self.path = self.target.with_name(self.target.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise TapeflowError(f"{self.path}: cannot create the lock of the {what}: {e.strerror}") from None
        if not _try_lock(self._fd):
            holder = _read_pid(self._fd)
            os.close(self._fd)
            self._fd = None
            who = f" (pid {holder})" if holder else ""
            raise TapeflowError(
                f"{self.target}: the {what} is in use by another Tapeflow process{who}; "
                "one process per journal: stop the other one first"
            )
        try:  # who holds it, for the second instance's message (best effort: a full disk may refuse)
            os.ftruncate(self._fd, 0)
            os.write(self._fd, str(os.getpid()).encode())
        except OSError:
            pass

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0) if hasattr(os, "pread") else b""
        return int(text.decode().strip()) if text.strip() else None
    except (OSError, ValueError):
        return None
