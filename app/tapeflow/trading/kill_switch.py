"""Kill switch latch, persisted so that it survives a crash or restart.

The latch is a small JSON file written atomically (temp file, fsync, rename): after a restart a
latched switch is still latched, and only an explicit :meth:`KillSwitch.rearm` by a named person
releases it. What the switch *does* (cancel, flatten, disable automation) is the account's job;
this module only remembers whether it is pulled, by whom, why and when.
"""

from __future__ import annotations

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


class KillSwitch:
    """A latch with an optional state file (``None``: in memory, for tests and backtests)."""

    def __init__(self, state_file: str | Path | None = None) -> None:
        self.path = Path(state_file) if state_file is not None else None
        self.state = self._load()

    @property
    def latched(self) -> bool:
        return self.state.latched

    def trigger(self, by: str, reason: str, ts_ns: int) -> KillSwitchState:
        """Latch (idempotent: a second pull keeps the first pull's record)."""
        if not self.state.latched:
            self.state = KillSwitchState(True, by, reason, ts_ns)
            self._save()
        return self.state

    def rearm(self, by: str, ts_ns: int) -> KillSwitchState:
        """Release the latch; ``by`` must name the human who did it."""
        if not by.strip():
            raise TapeflowError("kill switch re-arm needs the name of who re-arms it")
        self.state = KillSwitchState(False, by, "re-armed", ts_ns)
        self._save()
        return self.state

    def _load(self) -> KillSwitchState:
        if self.path is None or not self.path.exists():
            return KillSwitchState()
        try:
            return msgspec.json.decode(self.path.read_bytes(), type=KillSwitchState)
        except (msgspec.DecodeError, OSError):
            # an unreadable latch file must fail safe: treat it as pulled
            return KillSwitchState(True, "system", f"unreadable kill switch file {self.path}", 0)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "wb") as f:
            f.write(msgspec.json.encode(self.state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
