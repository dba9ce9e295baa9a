"""PickMyTrade alerts as pasted: ``data`` (buy, sell, close), ``symbol``, ``date``, ``quantity``,
``price``, ``tp``/``sl`` (prices; 0 = none), ``dollar_tp``/``dollar_sl`` (USD for the whole entry
quantity; 0 = none), ``token`` (the secret), ``reverse_order_close``, ``duplicate_position_allow``.

Options that change the order but that we cannot carry out (percent targets, trailing stops, risk
sizing, bracket updates) are refused with the field named unless they are 0/false, as in the
templates users copy. ``account_id``, ``platform`` and ``multiple_accounts`` are ignored: the order
goes to this server's account.
"""

from __future__ import annotations

from typing import Any

from tapeflow.trading.orders import OrderType
from tapeflow.webhook import schema as s
from tapeflow.webhook.formats.base import common, entry_quantity, required_text

NAME = "pickmytrade"
_ACTIONS = {"close": s.Action.EXIT}
_TYPES = {"mkt": OrderType.MARKET, "lmt": OrderType.LIMIT, "stp": OrderType.STOP}
_UNSUPPORTED = {
    "percentage_tp": "use tp (a price) or dollar_tp",
    "percentage_sl": "use sl (a price) or dollar_sl",
    "risk_percentage": "send a fixed quantity",
    "trail": "trailing stops are not supported; use sl or dollar_sl",
    "trail_stop": "trailing stops are not supported; use sl or dollar_sl",
    "trail_trigger": "trailing stops are not supported; use sl or dollar_sl",
    "trail_freq": "trailing stops are not supported; use sl or dollar_sl",
    "update_tp": "send a new entry instead of updating the target",
    "update_sl": "send a new entry, or action breakeven in our format",
    "breakeven": "send a separate alert with action breakeven in our format",
}


def detect(fields: dict[str, Any]) -> bool:
    return "data" in fields and "action" not in fields


def parse(fields: dict[str, Any]) -> s.Alert:
    act = s.action(required_text(fields, "data"), "data", _ACTIONS)
    if act not in (s.Action.BUY, s.Action.SELL, s.Action.EXIT):
        raise s.invalid("data", f"expected buy, sell or close, got {act}")
    s.refuse_present(fields, _UNSUPPORTED)
    otype = s.order_type(s.text(fields, "order_type", 16), "order_type", _TYPES)
    allow_add = s.boolean(fields, "pyramid", s.boolean(fields, "duplicate_position_allow", True))
    return s.Alert(
        action=act,
        symbol=required_text(fields, "symbol"),
        quantity=entry_quantity(fields, "quantity", act),
        order_type=otype,
        price=s.price(fields, "limit_price") if otype != OrderType.MARKET else None,
        stop_price=s.price(fields, "stop_price") if otype != OrderType.MARKET else None,
        ref_price=_price_or_zero(fields, "price"),
        stop=_one_of(fields, "sl", "dollar_sl"),
        target=_one_of(fields, "tp", "dollar_tp"),
        allow_add=allow_add,
        reverse_on_opposite=s.boolean(fields, "reverse_order_close", False),
        format=NAME,
        **common(fields, time_keys=("date",)),
    )


def _price_or_zero(fields: dict[str, Any], name: str) -> Any:
    d = s.decimal(fields, name)
    return None if d is None or d == 0 else s.price(fields, name)


def _one_of(fields: dict[str, Any], price_key: str, dollar_key: str) -> s.Level | None:
    at = s.level(fields, price_key, s.Unit.PRICE, zero_is_none=True)
    usd = s.level(fields, dollar_key, s.Unit.DOLLARS, zero_is_none=True)
    if at is not None and usd is not None:
        raise s.invalid(dollar_key, f"give one of {price_key} (a price) and {dollar_key}, not both")
    return at or usd
