"""CrossTrade (NinjaTrader ATI) text alerts as pasted:
``key=...; command=PLACE; account=sim101; instrument=ES 12-25; action=BUY; qty=1; order_type=MARKET;
tif=DAY; take_profit=5520; stop_loss=5490;``.

Commands: PLACE (buy/sell), FLATPLACE (end at ``qty`` on the ``action``'s side), CLOSEPOSITION and
FLATTEN (exit), CANCEL, CANCELORDERS and CANCELALLORDERS (this instrument's working webhook entries),
REVERSEPOSITION. ``take_profit``/``stop_loss`` are prices. ATM templates (``strategy``), stop-limit
brackets and commands we cannot carry out are refused with the field named. ``key`` is the secret,
``account`` and ``tif`` are ignored, ``order_id`` serves as the alert id.
"""

from __future__ import annotations

from typing import Any

from tapeflow.trading.orders import OrderType
from tapeflow.webhook import schema as s
from tapeflow.webhook.formats.base import alias, common, required_text

NAME = "crosstrade"
_COMMANDS = {
    "place": None,
    "flatplace": None,
    "closeposition": s.Action.EXIT,
    "flatten": s.Action.EXIT,
    "cancel": s.Action.CANCEL,
    "cancelorders": s.Action.CANCEL,
    "cancelallorders": s.Action.CANCEL,
    "reverseposition": s.Action.REVERSE,
}
_TYPES = {"stopmarket": OrderType.STOP, "stoplimit": OrderType.STOP_LIMIT}
_UNSUPPORTED = {
    "stop_loss_limit": "use stop_loss (a stop-market exit)",
    "stop_loss_stop": "use stop_loss (a stop-market exit)",
    "strategy": "ATM templates live in NinjaTrader; write take_profit and stop_loss instead",
    "market_position": "remove it; a flat target is an exit (command=CLOSEPOSITION)",
}


def detect(fields: dict[str, Any]) -> bool:
    return "command" in fields


def parse(fields: dict[str, Any]) -> s.Alert:
    command = required_text(fields, "command").lower()
    if command not in _COMMANDS:
        known = ", ".join(c.upper() for c in _COMMANDS)
        raise s.invalid("command", f"expected one of {known}, got {command.upper()!r}")
    s.refuse_present(fields, _UNSUPPORTED, zero_ok=False)
    alias(fields, "id", "order_id")
    act = _COMMANDS[command]
    qty = None
    target_position = None
    if act is None or act == s.Action.REVERSE:
        direction = s.text(fields, "action", 8)
        if act is None:
            if direction is None:
                raise s.missing("action", f"required for {command.upper()} (BUY or SELL)")
            act = s.action(direction, "action")
            if act not in (s.Action.BUY, s.Action.SELL):
                raise s.invalid("action", f"expected BUY or SELL, got {direction!r}")
            qty = s.quantity(fields, "qty")
            if qty is None:
                raise s.missing("qty", f"required for {command.upper()}")
            if command == "flatplace":
                target_position = qty if act == s.Action.BUY else -qty
        else:
            qty = s.quantity(fields, "qty")
    otype = s.order_type(s.text(fields, "order_type", 16), "order_type", _TYPES)
    return s.Alert(
        action=act,
        symbol=required_text(fields, "instrument"),
        quantity=qty,
        order_type=otype,
        price=s.price(fields, "limit_price"),
        stop_price=s.price(fields, "stop_price"),
        stop=s.level(fields, "stop_loss", s.Unit.PRICE),
        target=s.level(fields, "take_profit", s.Unit.PRICE),
        target_position=target_position,
        format=NAME,
        **common(fields),
    )
