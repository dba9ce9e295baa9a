"""Append-only trading journal in SQLite (WAL, one committed transaction per record).

The account writes each record *before* acting on it or showing it, so after a crash the journal
holds at least everything the trader saw; a fill is committed in its own transaction with
``synchronous=FULL``, so a crash (even of the machine) right after a fill never loses it.

Records are any ``msgspec.Struct`` (or dataclass): top-level fields become columns, nested
records are flattened one level (``order_status``, ``fill_price``), anything deeper is stored as
JSON text. ``store`` depends on ``core`` only: it knows table names, not trading types.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

import msgspec
import sqlite_utils

from tapeflow.errors import JournalError, TapeflowError

TABLES: dict[str, dict[str, type]] = {
    "webhook_requests": {
        "ts_ns": int,
        "client": str,
        "status": int,
        "code": str,
        "action": str,
        "symbol": str,
        "alert": str,
        "order_id": int,
        "reason": str,
    },
    "webhook_alerts": {"ts_ns": int, "key": str, "expires_ns": int, "code": str, "order_id": int},
    "signals": {"ts_ns": int, "instrument": str, "kind": str, "rule": str, "action": str},
    "orders": {"id": int, "ts_created": int, "status": str},
    "order_events": {"ts_ns": int, "kind": str, "order_id": int, "order_status": str},
    "fills": {
        "id": int,
        "order_id": int,
        "ts_ns": int,
        "instrument": str,
        "side": int,
        "qty": int,
        "price": int,
        "commission_cents": int,
    },
    "round_trips": {
        "instrument": str,
        "entry_ts": int,
        "exit_ts": int,
        "qty": int,
        "gross_cents": int,
        "commission_cents": int,
        "trading_date": str,
    },
    "risk_events": {"ts_ns": int, "kind": str, "rule": str, "reason": str, "state": str},
    "kill_switch_events": {"ts_ns": int, "action": str, "by": str, "reason": str},
    "sessions": {"trading_date": str, "eth_open_ns": int, "eth_close_ns": int},
    "settings": {"ts_ns": int, "wall_ns": int, "reason": str, "rules_sha256": str},
}
"""Table -> columns that always exist (more are added as records bring them)."""


def _plain(v: Any) -> Any:
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, date):
        return v.isoformat()
    return v


def to_row(record: object) -> dict[str, Any]:
    """Flatten a record into one SQLite row (see module doc)."""
    data = record if isinstance(record, dict) else msgspec.to_builtins(record, builtin_types=(date,))
    row: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and k != "inputs":
            for k2, v2 in v.items():
                row[f"{k}_{k2}"] = json.dumps(v2) if isinstance(v2, dict | list) else _plain(v2)
        elif isinstance(v, dict | list):
            row[k] = json.dumps(v)
        else:
            row[k] = _plain(v)
    return row


class Journal:
    """One SQLite file per account; implements ``trading.journal_sink.JournalSink``."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        """``durable``: fsync every commit (``synchronous=FULL``); off only for throwaway backtests."""
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(self.path)
            self.db.enable_wal()
            self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            for name, cols in TABLES.items():
                if not self.db[name].exists():
                    self.db[name].create({"seq": int, **cols}, pk="seq")
        except (OSError, sqlite3.DatabaseError) as e:
            raise TapeflowError(f"{self.path}: cannot open the journal: {e}") from None

    def write(self, table: str, record: object) -> None:
        """Append one record in its own committed transaction; :class:`JournalError` (naming the
        file) when it is not committed: disk full, read-only file, a number SQLite cannot hold."""
        if table not in TABLES:
            raise ValueError(f"unknown journal table {table!r}")
        row = to_row(record)
        t = self.db[table]
        try:
            with self.db.conn:
                t.insert(row, alter=True)
        except (sqlite3.Error, OSError, OverflowError) as e:
            raise JournalError(f"{self.path}: cannot write to the journal ({table}): {e}") from None

    def check_writable(self) -> None:
        """Commit one throwaway row (and delete it): :class:`JournalError` if the file cannot take a
        write now. Run at start, so a server never opens its port on a journal it cannot keep."""
        try:
            with self.db.conn:
                self.db.execute("CREATE TABLE IF NOT EXISTS write_probe (at INTEGER)")
                self.db.execute("INSERT INTO write_probe VALUES (1)")
                self.db.execute("DELETE FROM write_probe")
        except (sqlite3.Error, OSError) as e:
            raise JournalError(f"{self.path}: the journal is not writable: {e}") from None

    def rows(
        self, table: str, where: str | None = None, params: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        """Rows of a table in write order (``where`` is an SQL condition with ``?`` params)."""
        return list(self.db[table].rows_where(where, params, order_by="seq"))

    def iter_rows(self, table: str) -> Iterator[dict[str, Any]]:
        yield from self.db[table].rows_where(order_by="seq")

    def fills(self) -> list[dict[str, Any]]:
        """Every journaled fill, in order (rebuild positions with ``Ledger.replay``)."""
        return self.rows("fills")

    def round_trips_on(self, trading_date: date) -> list[dict[str, Any]]:
        """Round trips closed on one trading date (for ``tapeflow journal``)."""
        return self.rows("round_trips", "trading_date = ?", (trading_date.isoformat(),))

    def export_csv(self, table: str, path: str | Path) -> int:
        """Write a table to CSV; returns the number of rows."""
        rows = self.rows(table)
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
        return len(rows)

    def close(self) -> None:
        self.db.close()
