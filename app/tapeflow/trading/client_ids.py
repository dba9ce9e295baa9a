"""Client order ids: strings unique across restarts and installations, sent as the venue's tag.

The journal's integer order id restarts at 1 with a fresh journal and is shared by every
installation, so it cannot name an order at a venue that remembers tags for the whole account.
An id here is ``tf`` + the process's start time in milliseconds (base 36) + 30 random bits
(base 32) + ``-`` + a counter: a restart gets a new time and new random bits, two installations
share neither, and ids of one process sort in submission order.
"""

from __future__ import annotations

import itertools
import secrets
import time

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


class ClientIdGenerator:
    """Hands out ``tf<session>-<n>`` ids; ``session`` is fixed per generator (tests pass one)."""

    def __init__(self, session: str | None = None) -> None:
        if session is None:
            session = _base36(time.time_ns() // 1_000_000) + _base36(secrets.randbits(30)).rjust(6, "0")
        if not session.isalnum():
            raise ValueError(f"client id session must be alphanumeric (got {session!r})")
        self.session = session
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"tf{self.session}-{_base36(next(self._counter))}"

    def owns(self, client_id: str) -> bool:
        """True for an id of this generator's session."""
        return client_id.startswith(f"tf{self.session}-")


def is_ours(tag: str | None) -> bool:
    """True for a venue tag Tapeflow made (any session, any installation)."""
    return bool(tag) and tag.startswith("tf") and "-" in tag  # type: ignore[union-attr]


_default = ClientIdGenerator()


def next_client_id() -> str:
    """A fresh id from this process's generator."""
    return _default.next()
