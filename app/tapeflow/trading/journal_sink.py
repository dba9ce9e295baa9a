"""Where the account writes its records before acting on them (``store.Journal`` implements it).

Kept as a protocol so that ``trading`` never imports ``store``: the application object wires the
two together, and backtests may run without a journal.
"""

from __future__ import annotations

from typing import Any, Protocol


class JournalSink(Protocol):
    """Append one record (a ``msgspec.Struct``) to a named table, durably, before returning."""

    def write(self, table: str, record: object) -> None: ...


TABLES = (
    "signals",
    "orders",
    "order_events",
    "fills",
    "round_trips",
    "risk_events",
    "kill_switch_events",
    "sessions",
)
"""The journal's tables (one per record type)."""


class JournalReader(Protocol):
    """Reading back a journal (``tapeflow.store.journal.Journal`` fits) to restore an account."""

    def rows(self, table: str) -> list[dict[str, Any]]: ...
