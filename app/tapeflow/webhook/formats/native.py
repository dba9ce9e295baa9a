"""Tapeflow's own format (JSON or ``key=value``): ``action``, ``symbol``, ``quantity``, brackets in ticks.

Fields (aliases in brackets; the canonical name wins): ``secret`` [passphrase]; ``action`` buy, sell,
exit, flatten, cancel, kill, add, reverse, breakeven [long, short, close, flat]; ``symbol`` [ticker];
``quantity`` [contracts, qty]; ``id`` [alert_id]; ``time`` [timenow]; ``order_type`` [type]; ``price``
(limit price; for a market order the alert's reference price); ``stop_price``; ``stop_ticks``
[sl_ticks]; ``target_ticks`` [tp_ticks]; ``reduce_only``; ``strategy``; ``reason``.
"""

from __future__ import annotations

from typing import Any

from tapeflow.webhook import schema as s
from tapeflow.webhook.formats.base import alias, common, entry_quantity, required_text

NAME = "native"


def parse(fields: dict[str, Any], fmt: str = NAME) -> s.Alert:
    """Also the base of the TradingView strategy format, which adds position fields."""
    alias(fields, "symbol", "ticker")
    alias(fields, "quantity", "contracts", "qty")
    alias(fields, "order_type", "type")
    alias(fields, "stop_ticks", "sl_ticks")
    alias(fields, "target_ticks", "tp_ticks")
    act = s.action(required_text(fields, "action"), "action")
    symbol = s.text(fields, "symbol", 64) or ""
    if act != s.Action.KILL and not symbol:
        raise s.missing("symbol", f"required for {act}")
    otype = s.order_type(s.text(fields, "order_type", 16), "order_type")
    price = s.price(fields, "price")
    return s.Alert(
        action=act,
        symbol=symbol,
        quantity=entry_quantity(fields, "quantity", act),
        order_type=otype,
        price=price,
        stop_price=s.price(fields, "stop_price"),
        ref_price=price,
        stop=s.level(fields, "stop_ticks", s.Unit.TICKS),
        target=s.level(fields, "target_ticks", s.Unit.TICKS),
        reduce_only=s.boolean(fields, "reduce_only", False),
        format=fmt,
        **common(fields),
    )
