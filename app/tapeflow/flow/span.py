"""The widest price range a dense per-tick structure (footprint bar, volume profile) may cover.

Footprint bars and profiles keep one row per tick between their low and high, so a corrupt
price a billion ticks away would size an array by that distance (24 GB on one flipped bit).
The readers skip implausible prices (``tapeflow.feeds.prices``); this is the second line:
growing past ``MAX_SPAN_TICKS`` is refused with a clear error instead of an allocation.
2**18 ticks is 65,536 ES points or NQ points: no real bar or session comes near it.
"""

from __future__ import annotations

from tapeflow.errors import TapeflowError

MAX_SPAN_TICKS = 1 << 18


def check_span(low: int, high: int, what: str) -> None:
    """Raise ``TapeflowError`` when ``what`` would span more than ``MAX_SPAN_TICKS`` rows."""
    if high - low >= MAX_SPAN_TICKS:
        raise TapeflowError(
            f"{what} would span {high - low + 1:,} ticks ({low:,}..{high:,}; limit {MAX_SPAN_TICKS:,}): "
            "the events hold an implausible price"
        )
