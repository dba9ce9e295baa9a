"""Formatting of what the panes print: prices, ET times, sizes, money (the UI edge of the tick world)."""

from __future__ import annotations

from tapeflow.core.instruments import Instrument
from tapeflow.core.sessions import ns_to_et, session_of


def price_text(inst: Instrument, ticks: int) -> str:
    """Ticks as the exchange price a trader reads (``5500.25``)."""
    return inst.format_price(int(ticks))


def widest_price_text(inst: Instrument) -> str:
    """The widest price of the instrument's usual range (five digits left of the point), to size
    price columns by."""
    return inst.format_price(int(99_999 / inst.tick_size))


def et_time(ts_ns: int | None, *, millis: bool = False) -> str:
    """``HH:MM:SS`` (optionally ``.mmm``) in US/Eastern; empty before any data."""
    if ts_ns is None or ts_ns <= 0:
        return ""
    t = ns_to_et(int(ts_ns))
    # not ``strftime``: it imports ``time`` at each call, through PySide6's import hook (~20 us a label)
    hms = f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return f"{hms}.{t.microsecond // 1000:03d}" if millis else hms


def et_datetime(ts_ns: int | None) -> str:
    """``YYYY-MM-DD HH:MM:SS ET`` for the status bar clock."""
    if ts_ns is None or ts_ns <= 0:
        return "--"
    return ns_to_et(int(ts_ns)).strftime("%Y-%m-%d %H:%M:%S ET")


def session_label(ts_ns: int | None) -> str:
    """``RTH`` inside 09:30-16:00 ET, ``ETH`` otherwise (``--`` before any data)."""
    if ts_ns is None or ts_ns <= 0:
        return "--"
    return "RTH" if session_of(int(ts_ns)).is_rth(int(ts_ns)) else "ETH"


def compact(n: int) -> str:
    """Sizes in a narrow cell: ``950``, ``1.2k``, ``15k``, ``1.1M``."""
    a = abs(int(n))
    sign = "-" if n < 0 else ""
    if a < 1000:
        return f"{n}"
    if a < 10_000:
        return f"{sign}{a / 1000:.1f}k"
    if a < 1_000_000:
        return f"{sign}{a // 1000}k"
    return f"{sign}{a / 1_000_000:.1f}M"


def usd(cents: int) -> str:
    """Integer cents as ``-$1,234.50``."""
    sign = "-" if cents < 0 else ""
    a = abs(int(cents))
    return f"{sign}${a // 100:,}.{a % 100:02d}"
