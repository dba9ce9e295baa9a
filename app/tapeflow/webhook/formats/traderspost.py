"""TradersPost signals as pasted: ``ticker``, ``action``, ``sentiment``, ``quantity``, ``orderType``,
``limitPrice``/``stopPrice``, ``takeProfit``/``stopLoss`` objects, the password in the URL.

``takeProfit``: ``limitPrice`` (a price), ``amount`` (index points from the entry) or ``percent``
(of the entry price, accepted when it comes to whole ticks); ``stopLoss``: ``type`` ``stop``, with
``stopPrice``, ``amount`` or ``percent``. ``stop_limit`` and ``trailing_stop`` stops are refused with
the field named: an entry must never go out without the stop the alert asked for. ``signalPrice``
(or ``price``) is the entry price of a market order for prices and percents.
"""

from __future__ import annotations

from typing import Any

from tapeflow.trading.orders import OrderType
from tapeflow.webhook import schema as s
from tapeflow.webhook.formats.base import alias, common, entry_quantity, required_text

NAME = "traderspost"
KEYS = ("sentiment", "takeprofit", "stoploss", "ordertype", "limitprice", "stopprice", "signalprice", "quantitytype")
_ACTIONS = {"exit": s.Action.EXIT, "cancel": s.Action.CANCEL, "add": s.Action.ADD}
_TYPES = {"stop_market": OrderType.STOP}


def detect(fields: dict[str, Any]) -> bool:
    return not fields.keys().isdisjoint(KEYS)


def parse(fields: dict[str, Any]) -> s.Alert:
    alias(fields, "ticker", "symbol")
    alias(fields, "signalprice", "price")
    act = s.action(required_text(fields, "action"), "action", _ACTIONS)
    qtype = s.text(fields, "quantitytype", 32)
    if qtype is not None and qtype.lower() != "fixed_quantity":
        raise s.invalid("quantityType", f"only fixed_quantity is supported here (contracts), got {qtype!r}")
    return s.Alert(
        action=act,
        symbol=required_text(fields, "ticker"),
        quantity=entry_quantity(fields, "quantity", act),
        order_type=s.order_type(s.text(fields, "ordertype", 16), "orderType", _TYPES),
        price=s.price(fields, "limitprice", label="limitPrice"),
        stop_price=s.price(fields, "stopprice", label="stopPrice"),
        ref_price=s.price(fields, "signalprice", label="signalPrice"),
        stop=_stop(fields.get("stoploss")),
        target=_target(fields.get("takeprofit")),
        position=s.side(fields, "sentiment"),
        format=NAME,
        **common(fields),
    )


def _target(obj: Any) -> s.Level | None:
    if obj is None:
        return None
    o = _object(obj, "takeProfit")
    return _one_of(
        "takeProfit",
        s.level(o, "limitprice", s.Unit.PRICE, label="takeProfit.limitPrice"),
        s.level(o, "amount", s.Unit.POINTS, label="takeProfit.amount"),
        s.level(o, "percent", s.Unit.PERCENT, label="takeProfit.percent"),
    )


def _stop(obj: Any) -> s.Level | None:
    if obj is None:
        return None
    o = _object(obj, "stopLoss")
    kind = (s.text(o, "type", 32) or "stop").lower()
    if kind != "stop":
        raise s.invalid("stopLoss.type", f"only stop (a stop-market exit) is supported here, got {kind!r}")
    return _one_of(
        "stopLoss",
        s.level(o, "stopprice", s.Unit.PRICE, label="stopLoss.stopPrice"),
        s.level(o, "amount", s.Unit.POINTS, label="stopLoss.amount"),
        s.level(o, "percent", s.Unit.PERCENT, label="stopLoss.percent"),
    )


def _object(obj: Any, field: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise s.invalid(field, 'expected an object such as {"amount": 5} or {"stopPrice": 5490.25}')
    return obj


def _one_of(field: str, *levels: s.Level | None) -> s.Level:
    given = [lv for lv in levels if lv is not None]
    if len(given) > 1:
        raise s.invalid(field, f"give one of {' and '.join(lv.field for lv in given)}, not several")
    if not given:
        raise s.missing(field, "empty: give a price, an amount in index points or a percent")
    return given[0]
