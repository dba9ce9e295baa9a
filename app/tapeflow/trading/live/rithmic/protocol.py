"""Rithmic's numbers (templates, enums) and our records of what it names: contracts, the P&L
plant's account figures, order placement flags and fill ids."""

from __future__ import annotations

import zlib
from decimal import Decimal, InvalidOperation

import msgspec

from tapeflow.trading.orders import Source

NEW_ORDER, MODIFY, CANCEL, SHOW_ORDERS, BRACKET_ORDER, CANCEL_ALL = 312, 314, 316, 320, 330, 346
EXIT_POSITION, REPLAY_EXECUTIONS, FILL_HISTORY, PNL_SNAPSHOT = 3504, 3506, 3512, 402
MANUAL, AUTO = 1, 2  # OrderPlacement
DAY = 1  # Duration
TARGET_AND_STOP, STOP_ONLY, TARGET_ONLY = 6, 4, 5  # BracketType, static (ticks from the fill)
NS = 1_000_000_000


class RContract(msgspec.Struct, frozen=True):
    """One instrument as Rithmic names it: ``ESZ6`` on ``CME``, and its tick in points."""

    symbol: str
    exchange: str
    tick_size: Decimal


class VenueAccountPnl(msgspec.Struct, frozen=True, kw_only=True):
    """The P&L plant's figures for the account (451), in cents: the venue's count beside ours.
    ``None``: the venue did not send that figure."""

    account_id: str
    balance_cents: int | None
    day_pnl_cents: int | None
    day_closed_pnl_cents: int | None
    day_open_pnl_cents: int | None
    net_quantity: int
    ts_ns: int


def placement(source: Source) -> int:
    """MANUAL for the user's own clicks, AUTO for everything the software generates."""
    return MANUAL if source == Source.MANUAL else AUTO


def cents(text: str) -> int | None:
    """A P&L plant amount (a decimal string in dollars) in cents; None when absent or unreadable."""
    if not text:
        return None
    try:
        return int((Decimal(text) * 100).to_integral_value())
    except InvalidOperation:
        return None


def fill_number(key: str) -> int:
    """``Fill.id`` (an integer) for a Rithmic fill key: stable across restarts (the key is the
    identity; this number only labels the journal row)."""
    return zlib.crc32(key.encode()) or 1
