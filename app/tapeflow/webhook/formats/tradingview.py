"""TradingView strategy alerts: our fields plus the strategy's own position placeholders.

A strategy alert can say where the strategy *is*, not only what it just did, so the account can
follow it without surprises after a local stop-out or a missed alert:

* ``market_position`` = ``{{strategy.market_position}}`` (long, short, flat): ``flat`` closes only,
  never opens the other side;
* ``position_size`` = ``{{strategy.position_size}}`` (signed contracts, negative when short), or
  ``market_position_size`` = ``{{strategy.market_position_size}}`` with ``market_position``: target
  position mode, the order is whatever makes the account hold that many contracts;
* ``prev_market_position`` = ``{{strategy.prev_market_position}}`` (checked, kept for the record);
* ``price`` = ``{{strategy.order.price}}``: the limit price of a limit order, else the reference price.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tapeflow.webhook import schema as s
from tapeflow.webhook.formats import native

NAME = "tradingview"
KEYS = ("market_position", "position_size", "market_position_size", "prev_market_position")


def detect(fields: dict[str, Any]) -> bool:
    return not fields.keys().isdisjoint(KEYS)


def parse(fields: dict[str, Any]) -> s.Alert:
    alert = native.parse(fields, NAME)
    position = s.side(fields, "market_position")
    s.side(fields, "prev_market_position")
    target = s.integer(fields, "position_size", -s.MAX_QUANTITY, s.MAX_QUANTITY, "contracts")
    size = s.integer(fields, "market_position_size", 0, s.MAX_QUANTITY, "contracts")
    if target is not None and position is not None and _sign(position) != _sign_of(target):
        why = f"market_position {position} contradicts position_size {target}: send the same strategy's values"
        raise s.invalid("position_size", why)
    if target is None and size is not None:
        if position is None:
            raise s.missing("market_position", "required with market_position_size (long, short or flat)")
        target = _sign(position) * size
    return msgspec.structs.replace(alert, position=position, target_position=target)


def _sign(position: s.Side) -> int:
    return {s.Side.LONG: 1, s.Side.SHORT: -1, s.Side.FLAT: 0}[position]


def _sign_of(n: int) -> int:
    return (n > 0) - (n < 0)
