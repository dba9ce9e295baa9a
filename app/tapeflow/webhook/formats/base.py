"""What every format parser shares: field aliases, the alert id/time/strategy fields, and the
bracket fields each format owns (a body mixing two formats' brackets is refused, never half-read)."""

from __future__ import annotations

from typing import Any

from tapeflow.webhook import schema as s

BRACKET_FIELDS: dict[str, tuple[str, ...]] = {
    "native": ("stop_ticks", "sl_ticks", "target_ticks", "tp_ticks"),
    "traderspost": ("takeprofit", "stoploss"),
    "pickmytrade": ("tp", "sl", "dollar_tp", "dollar_sl", "percentage_tp", "percentage_sl"),
    "crosstrade": ("take_profit", "stop_loss", "stop_loss_limit", "stop_loss_stop"),
}
"""Lower-cased bracket field names by the format that defines them."""
_ALL_BRACKET_FIELDS = frozenset(n for names in BRACKET_FIELDS.values() for n in names)


def alias(fields: dict[str, Any], name: str, *aliases: str) -> None:
    """Move the first alias present to ``name`` unless ``name`` is given (the canonical name wins)."""
    for a in aliases:
        if a in fields:
            value = fields.pop(a)
            fields.setdefault(name, value)


def refuse_foreign_brackets(fields: dict[str, Any], fmt: str) -> None:
    """A stop written for another relay would be silently dropped by this format's parser."""
    own = BRACKET_FIELDS.get(fmt, BRACKET_FIELDS["native"])
    if fields.keys().isdisjoint(_ALL_BRACKET_FIELDS.difference(own)):
        return
    for other, names in BRACKET_FIELDS.items():
        for name in names:
            if name in fields and name not in own and other != fmt:
                why = (
                    f"a {other} bracket field in a body read as {fmt} (it was recognised by its other"
                    f" fields); write the stop and target as {', '.join(own)}"
                )
                raise s.invalid(name, why)


def common(fields: dict[str, Any], *, time_keys: tuple[str, ...] = ("time", "timenow")) -> dict[str, Any]:
    """``alert_id``, ``time_ns``, ``strategy`` and ``reason`` (keyword arguments for :class:`Alert`)."""
    alias(fields, "id", "alert_id")
    alias(fields, "time", *time_keys)
    return {
        "alert_id": s.text(fields, "id"),
        "time_ns": s.time_ns(fields, "time"),
        "strategy": s.text(fields, "strategy") or "",
        "reason": s.text(fields, "reason") or "",
    }


def required_text(fields: dict[str, Any], name: str, why: str = "required") -> str:
    v = s.text(fields, name)
    if v is None:
        raise s.missing(name, why)
    return v


def entry_quantity(fields: dict[str, Any], name: str, act: s.Action) -> int | None:
    """Contracts: required for an order that opens (buy, sell, add), ignored for exits."""
    if act not in (s.Action.BUY, s.Action.SELL, s.Action.ADD, s.Action.REVERSE):
        return None
    q = s.quantity(fields, name)
    if q is None and act != s.Action.REVERSE:
        raise s.missing(name, f"required for {act}")
    return q
