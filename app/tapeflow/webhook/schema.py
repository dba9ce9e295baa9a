"""Alert payload: the documented schema, and the parsers for JSON and ``key=value`` bodies.

TradingView posts the alert message as typed by the user after filling its placeholders
(``{{strategy.order.action}}`` -> ``buy``), as ``application/json`` when the message is valid JSON
and ``text/plain`` otherwise. So numbers often arrive as strings (``"quantity": "1"``): the schema
is decoded in msgspec's lax mode, which accepts them, while a value of the wrong kind
(``"quantity": "two"``, ``true``, a list) is a :class:`PayloadError` naming the field.
Fields the schema does not know are ignored: users keep their own notes in the message.

Canonical fields (aliases in brackets; an alias is used only when the canonical name is absent):

============  ===========================================================================
secret        shared secret (required) [passphrase]
action        buy, sell, exit, flatten, cancel, kill (required; case-insensitive)
              [long = buy, short = sell, close and flat = exit]
symbol        ``ES1!``, ``CME_MINI:ES1!``, ``MESZ2026``, ``ESZ6``, ``NQ`` (not for kill) [ticker]
quantity      contracts, > 0 (buy/sell) [contracts, qty]
id            alert id, unique per firing: one id is executed at most once [alert_id]
time          ISO-8601 UTC, e.g. ``{{timenow}}`` (required unless ``require_time = false``)
              [timenow]
order_type    market (default), limit, stop, stop_limit [type]
price         limit price in index points (limit, stop_limit; the trigger of a stop)
stop_price    stop trigger in index points (stop, stop_limit)
stop_ticks    bracket stop distance in ticks from the entry fill [sl_ticks]
target_ticks  bracket target distance in ticks from the entry fill [tp_ticks]
reduce_only   true: may only shrink the position
strategy      strategy or alert name, kept with the order (tag)
reason        free text, kept with a kill
============  ===========================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qsl

import msgspec

from tapeflow.core.timeutil import iso_to_ns
from tapeflow.errors import TapeflowError
from tapeflow.trading.orders import OrderType


class PayloadError(TapeflowError):
    """A body the server cannot use; ``code`` is the machine-readable reason, ``field`` the culprit."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.code = code
        self.field = field
        self.message = message


class Action(StrEnum):
    """What an alert asks for."""

    BUY = "buy"
    SELL = "sell"
    EXIT = "exit"  # close the position of the symbol (cancels its working orders first)
    FLATTEN = "flatten"  # same as exit
    CANCEL = "cancel"  # cancel this symbol's working webhook entries (brackets stay)
    KILL = "kill"  # latch the kill switch: automation off, cancel all, flatten all


ACTION_ALIASES = {"long": Action.BUY, "short": Action.SELL, "close": Action.EXIT, "flat": Action.EXIT}

KEY_ALIASES = {
    "passphrase": "secret",
    "ticker": "symbol",
    "contracts": "quantity",
    "qty": "quantity",
    "alert_id": "id",
    "timenow": "time",
    "type": "order_type",
    "sl_ticks": "stop_ticks",
    "tp_ticks": "target_ticks",
}

Short = Annotated[str, msgspec.Meta(max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=200)]


class AlertPayload(msgspec.Struct, kw_only=True):
    """The schema of an alert after the secret was taken out (see the module doc for the fields)."""

    action: Short
    symbol: Short | None = None
    quantity: int | None = None
    id: Text | int | None = None
    time: Short | None = None
    order_type: Short = "market"
    price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_ticks: int | None = None
    target_ticks: int | None = None
    reduce_only: bool = False
    strategy: Text | None = None
    reason: Text | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A validated alert: what to do, on what, when it was sent (UTC ns). Prices in index points."""

    action: Action
    symbol: str = ""
    quantity: int | None = None
    alert_id: str | None = None
    time_ns: int | None = None
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_ticks: int | None = None
    target_ticks: int | None = None
    reduce_only: bool = False
    strategy: str = ""
    reason: str = ""


_KV_KEY = re.compile(r"(?:^|(?<=[\s,;&]))([A-Za-z_][\w.-]*)\s*=")
_FIELD_AT = re.compile(r" - at `\$\.(\w+)`")
_PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}")


def decode_body(body: bytes, content_type: str = "") -> dict[str, Any]:
    """JSON object, form-encoded or ``key=value`` text to a dict of lower-case canonical keys."""
    text_start = body.lstrip()[:1]
    if text_start in (b"{", b"["):
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError as e:
            raise PayloadError("bad_json", f"invalid JSON: {e}") from None
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
    return canonical_keys(data)


def parse_key_values(text: str) -> dict[str, str]:
    """``secret=... action=buy symbol=ES1!`` (separated by spaces, newlines, commas, ``;`` or ``&``).

    A value runs up to the next ``key=``, so ``strategy=Open drive symbol=ES1!`` keeps the space.
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


def canonical_keys(data: dict[Any, Any]) -> dict[str, Any]:
    """Lower-case keys (``-`` as ``_``) with aliases resolved; the canonical name wins over an alias."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = str(k).strip().lower().replace("-", "_")
        out.setdefault(key, v)
    for alias, name in KEY_ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            out.setdefault(name, value)
    return out


def to_alert(fields: dict[str, Any]) -> Alert:
    """Validate the fields (without ``secret``) into an :class:`Alert`; errors name the field."""
    known = {k: v for k, v in fields.items() if k in AlertPayload.__struct_fields__}
    for k, v in known.items():
        hole = _PLACEHOLDER.search(v) if isinstance(v, str) else None
        if hole is not None:
            why = f"unrendered TradingView placeholder {hole.group(0)} (this alert type does not fill it)"
            raise PayloadError("invalid_field", why, k)
    if "action" not in known:
        raise PayloadError("missing_field", "required", "action")
    try:
        p = msgspec.convert(known, AlertPayload, strict=False)
    except msgspec.ValidationError as e:
        m = _FIELD_AT.search(str(e))
        field = m.group(1) if m else None
        message = _FIELD_AT.sub("", str(e)).replace(" | null", "")
        code = "missing_field" if "missing required" in message.lower() else "invalid_field"
        raise PayloadError(code, message, field) from None
    action = _action(p.action)
    symbol = (p.symbol or "").strip()
    if action != Action.KILL and not symbol:
        raise PayloadError("missing_field", f"required for {action}", "symbol")
    if action in (Action.BUY, Action.SELL):
        if p.quantity is None:
            raise PayloadError("missing_field", f"required for {action}", "quantity")
        if p.quantity <= 0:
            raise PayloadError("invalid_field", f"must be a positive number of contracts, got {p.quantity}", "quantity")
    for name in ("stop_ticks", "target_ticks"):
        v = getattr(p, name)
        if v is not None and v <= 0:
            raise PayloadError("invalid_field", f"must be a positive number of ticks, got {v}", name)
    try:
        order_type = OrderType(p.order_type.strip().lower())
    except ValueError:
        known_types = ", ".join(t.value for t in OrderType)
        why = f"expected one of {known_types}, got {p.order_type!r}"
        raise PayloadError("invalid_field", why, "order_type") from None
    time_ns = None
    if p.time is not None and p.time.strip():
        try:
            time_ns = iso_to_ns(p.time)
        except TapeflowError:
            why = f"expected ISO-8601 UTC like 2024-07-02T14:30:05Z, got {p.time!r}"
            raise PayloadError("invalid_field", why, "time") from None
    alert_id = None if p.id is None or str(p.id).strip() == "" else str(p.id).strip()
    return Alert(
        action=action,
        symbol=symbol,
        quantity=p.quantity,
        alert_id=alert_id,
        time_ns=time_ns,
        order_type=order_type,
        price=p.price,
        stop_price=p.stop_price,
        stop_ticks=p.stop_ticks,
        target_ticks=p.target_ticks,
        reduce_only=p.reduce_only,
        strategy=(p.strategy or "").strip(),
        reason=(p.reason or "").strip(),
    )


def _action(text: str) -> Action:
    t = text.strip().lower()
    if t in ACTION_ALIASES:
        return ACTION_ALIASES[t]
    try:
        return Action(t)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise PayloadError("invalid_field", f"expected one of {known}, got {text!r}", "action") from None
