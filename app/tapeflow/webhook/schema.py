"""The normalized alert record, body decoding, and the value readers every format parser shares.

TradingView posts the alert message as typed by the user after filling its placeholders
(``{{strategy.order.action}}`` -> ``buy``), as ``application/json`` when the message is valid JSON
and ``text/plain`` otherwise. Users paste messages written for other relays, so one parser per
format (:mod:`tapeflow.webhook.formats`) turns the decoded fields into one :class:`Alert`; this
module holds what they share: the record, the decoding, and readers that refuse a bad value with a
:class:`PayloadError` naming the field and saying what would be accepted.

Numbers often arrive as strings (``"quantity": "1"``) and are accepted; JSON numbers are read as
``Decimal`` (never a binary float), so ``5500.1`` is refused as off the tick grid instead of being
rounded. Every number is bounded, so no value can overflow an order field downstream.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from tapeflow.core.timeutil import iso_to_ns
from tapeflow.errors import TapeflowError
from tapeflow.trading.orders import OrderType

MAX_QUANTITY = 10_000  # contracts in one alert; far above any risk limit, far below int64
MAX_TICKS = 100_000  # bracket distance (25,000 ES points)
MAX_PRICE = Decimal(10_000_000)  # index points
MAX_DOLLARS = Decimal(1_000_000_000)
MAX_TEXT = 200
MAX_DECIMALS = 10  # with MAX_DIGITS, every conversion stays exact in Decimal's 28 digits
MAX_DIGITS = 24


class PayloadError(TapeflowError):
    """A body the server cannot use; ``code`` is the machine-readable reason, ``field`` the culprit."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.code = code
        self.field = field
        self.message = message


_LABELS = {  # keys are lower-cased for lookup; errors name them as the relay's documents spell them
    k.lower(): k
    for k in ("takeProfit", "stopLoss", "orderType", "limitPrice", "stopPrice", "signalPrice", "quantityType")
}


def invalid(field: str, message: str) -> PayloadError:
    return PayloadError("invalid_field", message, _LABELS.get(field, field))


def missing(field: str, message: str = "required") -> PayloadError:
    return PayloadError("missing_field", message, _LABELS.get(field, field))


class Action(StrEnum):
    """What an alert asks for."""

    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"  # close the position of the symbol (cancels its working orders first)
    FLATTEN = "flatten"  # same as exit
    CANCEL = "cancel"  # cancel this symbol's working webhook entries (brackets stay)
    KILL = "kill"  # latch the kill switch: automation off, cancel all, flatten all
    ADD = "add"  # add to the open position, in its direction
    REVERSE = "reverse"  # close the open position and open the other side
    BREAKEVEN = "breakeven"  # move the position's stop to its average entry


ACTION_ALIASES = {"long": Action.BUY, "short": Action.SELL, "close": Action.EXIT, "flat": Action.EXIT}


class Side(StrEnum):
    """Where a strategy says its position is after the order (TradersPost ``sentiment``,
    TradingView ``{{strategy.market_position}}``)."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class Unit(StrEnum):
    """How a bracket distance was written; converted to ticks exactly by the routing step."""

    TICKS = "ticks"
    POINTS = "points"  # index points from the entry
    PRICE = "price"  # an absolute price level
    DOLLARS = "dollars"  # USD for the whole entry quantity
    PERCENT = "percent"  # of the entry price


_LEVEL_BOUNDS = {Unit.TICKS: Decimal(MAX_TICKS), Unit.POINTS: Decimal(MAX_TICKS), Unit.PRICE: MAX_PRICE,
                 Unit.DOLLARS: MAX_DOLLARS, Unit.PERCENT: Decimal(100)}


class Level(msgspec.Struct, frozen=True):
    """A stop or target as written in the body; ``field`` is its name there, for errors."""

    unit: Unit
    value: Decimal
    field: str


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """A validated alert in any format: what to do, on what, when it was sent (UTC ns).

    Prices are index points (``Decimal``); ``stop``/``target`` keep the unit they were written in.
    ``position``: where the strategy says it is after this order (None: not said);
    ``target_position``: signed contracts the account should hold (target-position mode)."""

    action: Action
    symbol: str = ""
    quantity: int | None = None
    alert_id: str | None = None
    time_ns: int | None = None
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None  # limit price (limit, stop_limit)
    stop_price: Decimal | None = None  # stop trigger (stop, stop_limit)
    ref_price: Decimal | None = None  # the price the alert saw, anchors absolute bracket prices
    stop: Level | None = None
    target: Level | None = None
    position: Side | None = None
    target_position: int | None = None
    allow_add: bool = True  # False: a signal in the direction of the position is skipped
    reverse_on_opposite: bool = False  # a signal against the position closes it, then opens `quantity`
    reduce_only: bool = False
    strategy: str = ""
    reason: str = ""
    format: str = "native"


# -- decoding ------------------------------------------------------------------------------------

SECRET_KEYS = ("secret", "passphrase", "token", "key", "password")
"""Where formats carry the shared secret: ours, TradingView habit, PickMyTrade, CrossTrade, URL."""

_KV_KEY = re.compile(r"(?:^|(?<=[\s,;&]))([A-Za-z_][\w.-]*)\s*=")
_PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}")
_JSON = msgspec.json.Decoder(float_hook=Decimal)  # 5500.1 stays 5500.1, not a binary float


def decode_body(body: bytes, content_type: str = "") -> dict[str, Any]:
    """JSON object, form-encoded or ``key=value`` text to a dict of lower-case keys."""
    text_start = body.lstrip()[:1]
    if text_start in (b"{", b"["):
        try:
            data = _JSON.decode(body)
        except msgspec.DecodeError as e:
            raise PayloadError("bad_json", f"invalid JSON: {e}") from None
        except RecursionError:
            raise PayloadError("bad_json", "JSON nested too deep: an alert is one flat object") from None
        if not isinstance(data, dict):
            raise PayloadError("bad_json", "the JSON body must be an object")
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("bad_body", "the body is neither JSON nor UTF-8 key=value text") from None
        if content_type.startswith("application/x-www-form-urlencoded") and "&" in text:
            data = dict(parse_qsl(text, keep_blank_values=True))
        else:
            data = parse_key_values(text)
        if not data:
            raise PayloadError("bad_body", "the body is neither a JSON object nor key=value text")
    return lower_keys(data)


def parse_key_values(text: str) -> dict[str, str]:
    """``secret=... action=buy symbol=ES1!`` (separated by spaces, newlines, commas, ``;`` or ``&``).

    A value runs up to the next ``key=``, so ``strategy=Open drive`` and ``instrument=ES 12-25``
    keep their spaces.
    """
    out: dict[str, str] = {}
    matches = list(_KV_KEY.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[m.end() : end].strip().rstrip(",;&").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out.setdefault(m.group(1), value)
    return out


def lower_keys(data: dict[Any, Any]) -> dict[str, Any]:
    """Keys lower-cased with ``-`` as ``_`` (``takeProfit`` -> ``takeprofit``); the first wins.
    Objects one level down (TradersPost's ``stopLoss``) are lower-cased the same way."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            v = {_key(str(k2)): v2 for k2, v2 in v.items()}
        out.setdefault(_key(str(k)), v)
    return out


@functools.lru_cache(maxsize=1024)
def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def take_secret(fields: dict[str, Any], url_secret: str | None = None) -> str | None:
    """Remove every secret-bearing field; the secret, or ``""`` when two given ones disagree."""
    given = [fields.pop(k) for k in SECRET_KEYS if k in fields]
    if url_secret:
        given.append(url_secret)
    if not given:
        return None
    if not all(isinstance(g, str) for g in given) or len(set(given)) != 1:
        return ""
    return given[0]


# -- readers -------------------------------------------------------------------------------------


def text(fields: dict[str, Any], name: str, limit: int = MAX_TEXT) -> str | None:
    """A string field (numbers are accepted as their text); None when absent or blank."""
    v = fields.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | Decimal):
        raise invalid(name, f"expected text, got {_kind(v)}")
    s = str(v).strip()
    hole = _PLACEHOLDER.search(s) if "{{" in s else None
    if hole is not None:
        raise invalid(name, f"unrendered TradingView placeholder {hole.group(0)} (this alert type does not fill it)")
    if len(s) > limit:
        raise invalid(name, f"longer than {limit} characters")
    return s or None


def decimal(fields: dict[str, Any], name: str, *, label: str | None = None) -> Decimal | None:
    """A finite number written as a JSON number or a string; None when absent or blank."""
    field = label or name
    v = fields.get(name)
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | Decimal):
        raise invalid(field, f"expected a number, got {_kind(v)}")
    s = text(fields, name, 40) if isinstance(v, str) else None
    try:
        d = Decimal(s) if s is not None else Decimal(v)
    except InvalidOperation:
        raise invalid(field, f"expected a number, got {v!r}") from None
    if not d.is_finite():
        raise invalid(field, f"expected a finite number, got {v!r}")
    shape = d.as_tuple()
    if d and (int(shape.exponent) < -MAX_DECIMALS or len(shape.digits) > MAX_DIGITS):
        raise invalid(field, f"more digits than any price or size has (at most {MAX_DECIMALS} decimals), got {d}")
    return d


def integer(
    fields: dict[str, Any], name: str, low: int, high: int, unit: str, *, label: str | None = None
) -> int | None:
    """A whole number in ``[low, high]`` (``"2"`` and ``2.0`` are fine); None when absent."""
    field = label or name
    d = decimal(fields, name, label=field)
    if d is None:
        return None
    if d != d.to_integral_value():
        raise invalid(field, f"must be a whole number of {unit}, got {d}")
    if not low <= d <= high:
        raise invalid(field, f"must be {low} to {high} {unit}, got {d}")
    return int(d)


def price(fields: dict[str, Any], name: str, *, label: str | None = None) -> Decimal | None:
    """A price in index points, > 0 and below :data:`MAX_PRICE`; 0 counts as not given only
    where a format documents it (the caller decides)."""
    field = label or name
    d = decimal(fields, name, label=field)
    if d is None:
        return None
    if not 0 < d < MAX_PRICE:
        raise invalid(field, f"must be a positive price below {MAX_PRICE}, got {d}")
    return d


def boolean(fields: dict[str, Any], name: str, default: bool) -> bool:
    v = fields.get(name)
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no"):
        return False
    raise invalid(name, f"expected true or false, got {v!r}")


def quantity(fields: dict[str, Any], name: str) -> int | None:
    return integer(fields, name, 1, MAX_QUANTITY, "contracts")


def time_ns(fields: dict[str, Any], name: str) -> int | None:
    s = text(fields, name, 64)
    if s is None:
        return None
    try:
        return iso_to_ns(s)
    except TapeflowError:
        raise invalid(name, f"expected ISO-8601 UTC like 2024-07-02T14:30:05Z, got {s!r}") from None


def action(value: str, field: str, extra: dict[str, Action] | None = None) -> Action:
    t = value.strip().lower()
    aliases = {**ACTION_ALIASES, **(extra or {})}
    if t in aliases:
        return aliases[t]
    try:
        return Action(t)
    except ValueError:
        known = ", ".join([a.value for a in Action] + list(aliases))
        raise invalid(field, f"expected one of {known}, got {value!r}") from None


def order_type(value: str | None, field: str, aliases: dict[str, OrderType] | None = None) -> OrderType:
    if value is None:
        return OrderType.MARKET
    t = value.strip().lower()
    if aliases and t in aliases:
        return aliases[t]
    try:
        return OrderType(t)
    except ValueError:
        known = ", ".join([t.value for t in OrderType] + list(aliases or {}))
        raise invalid(field, f"expected one of {known}, got {value!r}") from None


def side(fields: dict[str, Any], name: str) -> Side | None:
    s = text(fields, name, 16)
    if s is None:
        return None
    try:
        return Side(s.lower())
    except ValueError:
        raise invalid(name, f"expected long, short or flat, got {s!r}") from None


def level(
    fields: dict[str, Any], name: str, unit: Unit, *, label: str | None = None, zero_is_none: bool = False
) -> Level | None:
    """A bracket distance or price: positive, bounded; ``zero_is_none`` where a format writes 0
    for "no bracket" (PickMyTrade)."""
    field = label or name
    d = decimal(fields, name, label=field)
    if d is None or (zero_is_none and d == 0):
        return None
    bound = _LEVEL_BOUNDS[unit]
    if not 0 < d < bound:
        raise invalid(field, f"must be a positive number of {unit} below {bound}, got {d}")
    return Level(unit, d, field)


def refuse_present(fields: dict[str, Any], names: dict[str, str], *, zero_ok: bool = True) -> None:
    """Refuse fields we cannot honour (``{name: the fix}``), unless absent, blank, 0 or false:
    an order without the stop the user asked for must never go out."""
    for name, fix in names.items():
        v = fields.get(name)
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "false")) or v is False:
            continue
        if zero_ok and _is_zero(v):
            continue
        raise invalid(name, f"not supported here: {fix}")


def _is_zero(v: Any) -> bool:
    try:
        return Decimal(str(v).strip()) == 0
    except (InvalidOperation, ValueError):
        return False


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__
