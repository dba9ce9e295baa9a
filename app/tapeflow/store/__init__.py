"""SQLite journal (sqlite-utils, WAL): signals, orders, order events, fills, round trips, risk."""

from tapeflow.store.journal import Journal

__all__ = ["Journal"]
