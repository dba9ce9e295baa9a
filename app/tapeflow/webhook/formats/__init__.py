"""One parser per alert format, chosen from the body's fields; each returns the same :class:`Alert`.

Detection, in order: CrossTrade (``command``), PickMyTrade (``data`` without ``action``),
TradersPost (``sentiment``, ``takeProfit``, ``stopLoss``, ``orderType``, ...), TradingView strategy
placeholders (``market_position``, ``position_size``, ...), else our native format. Whatever the
format, bracket fields of another format are refused (see :mod:`.base`): a stop is never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapeflow.webhook import schema as s
from tapeflow.webhook.formats import crosstrade, native, pickmytrade, traderspost, tradingview
from tapeflow.webhook.formats.base import refuse_foreign_brackets

_FORMATS: tuple[tuple[str, Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], s.Alert]], ...] = (
    (crosstrade.NAME, crosstrade.detect, crosstrade.parse),
    (pickmytrade.NAME, pickmytrade.detect, pickmytrade.parse),
    (traderspost.NAME, traderspost.detect, traderspost.parse),
    (tradingview.NAME, tradingview.detect, tradingview.parse),
)


def detect(fields: dict[str, Any]) -> str:
    """The format name the body reads as."""
    return next((name for name, found, _ in _FORMATS if found(fields)), native.NAME)


def to_alert(fields: dict[str, Any]) -> s.Alert:
    """Validate decoded fields (secret already taken out) into an :class:`Alert`; errors name the field."""
    fields = dict(fields)
    for name, found, parse in _FORMATS:
        if found(fields):
            refuse_foreign_brackets(fields, "native" if name == tradingview.NAME else name)
            return parse(fields)
    refuse_foreign_brackets(fields, native.NAME)
    return native.parse(fields)


__all__ = ["detect", "to_alert"]
