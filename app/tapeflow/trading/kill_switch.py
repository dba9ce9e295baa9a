"""Kill switch latch, persisted so that it survives a crash or restart.

The latch is a small JSON file written atomically (temp file, fsync, rename): after a restart a
latched switch is still latched, and only an explicit :meth:`KillSwitch.rearm` by a named person
releases it. The file is padded to a fixed size, so when the atomic write fails (disk full, a
read-only folder) a pull can still be written over the file in place, into blocks it already
owns; a torn in-place write reads back as unreadable, which counts as pulled. A pull that could
not be written at all leaves :attr:`KillSwitch.persisted` false: the switch is latched in memory
and the caller retries (:meth:`KillSwitch.retry_save`) and says so. What the switch *does*
(cancel, flatten, disable automation) is the account's job; this module only remembers whether
it is pulled, by whom, why and when.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import msgspec

from tapeflow.errors import TapeflowError


class KillSwitchState(msgspec.Struct, frozen=True):
    """Current latch; times in UTC ns."""

    latched: bool = False
    by: str = ""  # who pulled or re-armed it
    reason: str = ""
    ts_ns: int = 0


FILE_BYTES = 1024
"""Size the latch file is padded to (room for an in-place write when the disk is full)."""


class KillSwitch:
    """A latch with an optional state file (``None``: in memory, for tests and backtests)."""

    def __init__(self, state_file: str | Path | None = None) -> None:
        self.path = Path(state_file) if state_file is not None else None
        self.state = self._load()
        self.persisted = True  # False while the last change exists in memory only
        self.save_error = ""  # why the last save failed

    @property
    def latched(self) -> bool:
        return self.state.latched

    def trigger(self, by: str, reason: str, ts_ns: int) -> KillSwitchState:
        """Latch (idempotent: a second pull keeps the first pull's record)."""
        if not self.state.latched:
            self.state = KillSwitchState(True, by, reason, ts_ns)
            self._save_or_remember()
        elif not self.persisted:
            self.retry_save()
        return self.state

    def rearm(self, by: str, ts_ns: int) -> KillSwitchState:
        """Release the latch; ``by`` must name the human who did it."""
        if not by.strip():
            raise TapeflowError("kill switch re-arm needs the name of who re-arms it")
        before = self.state
        self.state = KillSwitchState(False, by, "re-armed", ts_ns)
        try:
            self._save()
        except OSError as e:  # a re-arm that is not on disk would come back latched: refuse it
            self.state = before
            raise TapeflowError(f"{self.path}: cannot re-arm, the latch file is not writable: {e.strerror}") from None
        self.persisted, self.save_error = True, ""
        return self.state

    def check_writable(self) -> None:
        """Write the current state to the file (creating it, padded): raises :class:`TapeflowError`
        naming the file if that fails. Run at start: trading never starts on a latch it cannot keep."""
        try:
            self._save()
        except OSError as e:
            raise TapeflowError(f"{self.path}: the kill switch latch file is not writable: {e.strerror}") from None

    def retry_save(self) -> bool:
        """Try again to write a latch that exists in memory only; True once it is on disk."""
        if not self.persisted:
            self._save_or_remember()
        return self.persisted

    def _save_or_remember(self) -> None:
        try:
            self._save()
        except OSError as first:
            try:
                self._overwrite_in_place()
            except OSError as e:
                self.persisted = False
                self.save_error = f"{self.path}: {first.strerror or first}; in place: {e.strerror or e}"
                return
        self.persisted, self.save_error = True, ""

    def _load(self) -> KillSwitchState:
        if self.path is None or not self.path.exists():
            return KillSwitchState()
        try:
            return msgspec.json.decode(self.path.read_bytes(), type=KillSwitchState)
        except (msgspec.DecodeError, OSError):
            # an unreadable latch file must fail safe: treat it as pulled
            return KillSwitchState(True, "system", f"unreadable kill switch file {self.path}", 0)

    def _encoded(self, size: int) -> bytes:
        """The state as JSON padded with spaces to ``size`` bytes (the reason shortened to fit)."""
        state = self.state
        data = msgspec.json.encode(state)
        while len(data) > size and state.reason:
            state = msgspec.structs.replace(state, reason=state.reason[: len(state.reason) // 2])
            data = msgspec.json.encode(state)
        if len(data) > size:
            raise OSError(errno.EFBIG, "kill switch record does not fit the latch file")
        return data + b" " * (size - len(data))

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(self._encoded(FILE_BYTES))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _overwrite_in_place(self) -> None:
        """Write the state over the existing file's own bytes: needs no free space."""
        if self.path is None:
            return
        with open(self.path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            f.write(self._encoded(size))
            f.flush()
            os.fsync(f.fileno())
