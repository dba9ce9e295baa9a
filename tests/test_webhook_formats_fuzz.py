"""Fuzzed bodies mixing the relay formats: never a 5xx, never an order whose bracket differs from
the one the body asked for (computed here from the body, independently of the parsers)."""

from __future__ import annotations

import gzip
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_webhook_support import NOW_NS, SECRET, make_rig, run

from tapeflow.trading.orders import Source
from tapeflow.webhook.outcome import HTTP_STATUS, Code

TICK = Decimal("0.25")
TICK_USD = Decimal("12.50")
ENTRY = Decimal("5500.25")  # limit entries and alert prices in the generated bodies

# how a body writes a distance of n ticks in each unit (prices around a 5500.25 entry)
LEG_WRITERS = {
    "ticks": lambda n, q, side, stop: Decimal(n),
    "points": lambda n, q, side, stop: n * TICK,
    "dollars": lambda n, q, side, stop: n * TICK_USD * q,
    "price": lambda n, q, side, stop: ENTRY - side * n * TICK if stop else ENTRY + side * n * TICK,
    "percent": lambda n, q, side, stop: Decimal(n) / 10,  # 0.1% .. 4%
}
OWN_BRACKET_KEYS = {
    "native": {"stop_ticks", "target_ticks", "sl_ticks", "tp_ticks"},
    "traderspost": {"stopLoss", "takeProfit"},
    "pickmytrade": {"sl", "tp", "dollar_sl", "dollar_tp"},
    "crosstrade": {"stop_loss", "take_profit"},
}
NOISE_KEYS = [
    "sentiment", "market_position", "position_size", "market_position_size", "action", "data", "command",
    "quantity", "qty", "order_type", "orderType", "limitPrice", "limit_price", "price", "signalPrice",
    "symbol", "ticker", "instrument", "reduce_only", "id", "date", "strategy", "duplicate_position_allow",
    "reverse_order_close", "pyramid", "stop_ticks", "target_ticks", "sl", "dollar_sl", "tp", "take_profit",
    "stop_loss", "stopLoss", "takeProfit", "percentage_sl", "note",
]
NOISE_VALUES = st.sampled_from(
    ["buy", "sell", "flat", "long", "short", "exit", "add", "reverse", "breakeven", "PLACE", "FLATPLACE",
     "1", "2", "-1", "0", "3.5", "limit", "market", "LMT", "stop", "5500.25", "5499.10", "{{close}}", "",
     "ES1!", "ESZ2025", "ES 09-24", "1e28", "NaN", "true", "false"]
) | st.integers(-(2**70), 2**70) | st.none() | st.booleans() | st.just({}) | st.just({"amount": 2}) | st.just([1])


@st.composite
def bodies(draw) -> tuple[str, dict[str, Any]]:
    """(format, body) for one entry alert in one format, with noise from the others added."""
    fmt = draw(st.sampled_from(["native", "tradingview", "traderspost", "pickmytrade", "crosstrade"]))
    side = draw(st.sampled_from([1, -1]))
    q = draw(st.integers(1, 3))
    act = "buy" if side > 0 else "sell"
    legs = {leg: (draw(st.integers(1, 40)), stop) for leg, stop in (("stop", True), ("target", False))
            if draw(st.booleans())}
    units = {
        "native": ["ticks"], "tradingview": ["ticks"], "traderspost": ["points", "price", "percent"],
        "pickmytrade": ["dollars", "price"], "crosstrade": ["price"],
    }[fmt]
    spec = {}
    for leg, (n, stop) in legs.items():
        unit = draw(st.sampled_from(units))
        spec[leg] = (unit, LEG_WRITERS[unit](n, q, side, stop))
    if fmt in ("native", "tradingview"):
        body: dict[str, Any] = {"secret": SECRET, "action": act, "symbol": "ES1!", "quantity": q}
        if fmt == "tradingview":
            body["market_position"] = "long" if side > 0 else "short"
        for leg, (_, v) in spec.items():
            body["stop_ticks" if leg == "stop" else "target_ticks"] = str(v)
    elif fmt == "traderspost":
        percents = any(unit == "percent" for unit, _ in spec.values())
        signal = "5500.00" if percents else str(ENTRY)  # 0.1% of 5500.00 is 22 ticks; of 5500.25 never whole
        body = {"passphrase": SECRET, "ticker": "ES1!", "action": act, "quantity": q, "signalPrice": signal}
        for leg, (unit, v) in spec.items():
            key = {"points": "amount", "percent": "percent", "price": "stopPrice" if leg == "stop" else "limitPrice"}
            key = key[unit]
            body["stopLoss" if leg == "stop" else "takeProfit"] = {key: str(v)}
    elif fmt == "pickmytrade":
        body = {"token": SECRET, "data": act, "symbol": "ES1!", "quantity": str(q), "price": str(ENTRY),
                "tp": 0, "sl": 0, "dollar_tp": 0, "dollar_sl": 0}
        for leg, (unit, v) in spec.items():
            body[("dollar_" if unit == "dollars" else "") + ("sl" if leg == "stop" else "tp")] = str(v)
    else:
        body = {"key": SECRET, "command": "PLACE", "instrument": "ES 09-24", "action": act.upper(), "qty": q,
                "order_type": "LIMIT", "limit_price": str(ENTRY)}
        for leg, (_, v) in spec.items():
            body["stop_loss" if leg == "stop" else "take_profit"] = str(v)
    own = OWN_BRACKET_KEYS["native" if fmt == "tradingview" else fmt]
    noise = draw(st.dictionaries(st.sampled_from([k for k in NOISE_KEYS if k not in own]), NOISE_VALUES, max_size=4))
    for k, v in noise.items():
        body.setdefault(k, v)
    return fmt, body


BRACKET_KEYS = {  # every relay's bracket field -> (leg, how it writes the distance)
    "stop_ticks": ("stop", "ticks"), "sl_ticks": ("stop", "ticks"),
    "target_ticks": ("target", "ticks"), "tp_ticks": ("target", "ticks"),
    "sl": ("stop", "price"), "tp": ("target", "price"), "stop_loss": ("stop", "price"),
    "take_profit": ("target", "price"), "dollar_sl": ("stop", "dollars"), "dollar_tp": ("target", "dollars"),
}
OBJECT_KEYS = {"stopLoss": ("stop", {"amount": "points", "stopPrice": "price", "percent": "percent"}),
               "takeProfit": ("target", {"amount": "points", "limitPrice": "price", "percent": "percent"})}


def _number(v: Any) -> Decimal | None:
    try:
        d = Decimal(str(v))
    except ArithmeticError:
        return None
    return d if d.is_finite() and d != 0 else None


def asked(body: dict[str, Any]) -> dict[str, set[tuple[str, Decimal]]]:
    """Every (unit, value) the body writes for each leg, whatever format it is read as."""
    out: dict[str, set[tuple[str, Decimal]]] = {"stop": set(), "target": set()}
    for key, v in body.items():
        pairs = []
        if key in BRACKET_KEYS:
            pairs = [(*BRACKET_KEYS[key], v)]
        elif key in OBJECT_KEYS and isinstance(v, dict):
            leg, subs = OBJECT_KEYS[key]
            pairs = [(leg, unit, v.get(sub)) for sub, unit in subs.items()]
        for leg, unit, value in pairs:
            d = _number(value)
            if d is not None:
                out[leg].add((unit, d))
    return out


def ticks_for(unit: str, value: Decimal, order, ref: Decimal | None, stop: bool) -> Decimal | None:
    """The distance ``value`` asks for, in ES ticks from this order's entry (None: none can be had)."""
    if unit == "ticks":
        return value
    if unit == "points":
        return value / TICK
    if unit == "dollars":
        return value / (TICK_USD * order.qty)
    entry = order.limit_price if order.limit_price is not None else order.stop_price
    if entry is None:
        if ref is None:
            return None
        entry = ref / TICK
    if unit == "percent":
        return Decimal(entry) * value / 100
    level = value / TICK
    return (Decimal(entry) - level) * order.side if stop else (level - Decimal(entry)) * order.side


def encode(fmt: str, body: dict[str, Any]) -> tuple[bytes, str]:
    if fmt == "crosstrade":
        return "; ".join(f"{k}={v}" for k, v in body.items()).encode(), "text/plain"
    return msgspec.json.encode(body), "application/json"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_fuzz_mixed_formats_never_5xx_and_never_a_bracket_other_than_the_bodys(case):
    fmt, body = case
    rig = make_rig()
    before = set(rig.account.orders)
    raw, ctype = encode(fmt, body)
    reply, _, _ = rig.server._handle(raw, ctype, "127.0.0.1", NOW_NS)
    assert HTTP_STATUS[Code(reply.code)] < 500, reply
    new = [o for i, o in rig.account.orders.items() if i not in before and o.request.source == Source.WEBHOOK]
    wanted = asked(body)
    refs = {_number(body.get(k)) for k in ("signalPrice", "price")} | {None}
    for order in new:
        if order.request.reduce_only:
            assert order.request.bracket is None
            continue
        b = order.request.bracket
        got = {"stop": b.stop_ticks if b else None, "target": b.target_ticks if b else None}
        for leg in ("stop", "target"):
            if got[leg] is None:
                assert not wanted[leg], (body, got)  # a bracket the body asked for was dropped
                continue
            could = {ticks_for(u, v, order, r, leg == "stop") for u, v in wanted[leg] for r in refs}
            assert Decimal(got[leg]) in could, (body, got, could)


MANGLE = st.sampled_from(["as is", "gzip", "false gzip", "truncated", "deflate", "latin-1"])


def mangle(how: str, raw: bytes) -> tuple[bytes, dict[str, str]]:
    """The body and extra headers, the way a proxy or a hostile sender might send it."""
    if how == "gzip":
        return gzip.compress(raw), {"Content-Encoding": "gzip"}
    if how == "false gzip":
        return raw, {"Content-Encoding": "gzip"}
    if how == "deflate":
        return raw[: len(raw) // 2], {"Content-Encoding": "deflate"}
    if how == "truncated":
        return raw[: len(raw) // 2], {}
    if how == "latin-1":
        return raw.decode("utf-8").encode("latin-1", "replace") + b"\xe9", {}
    return raw, {}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(bodies(), MANGLE, st.booleans()), min_size=25, max_size=25))
def test_fuzz_mixed_formats_over_http_never_get_a_5xx(cases):
    """The same bodies over real HTTP, compressed, truncated or mislabelled, the secret sometimes
    in the URL: every reply is a 2xx/4xx (and JSON when it comes from our handler)."""
    rig = make_rig()

    async def scenario(client):
        statuses = []
        for (fmt, body), how, in_url in cases:
            path = "/webhook"
            if in_url:
                body = {k: v for k, v in body.items() if k not in ("secret", "passphrase", "token", "key")}
                path = f"/webhook/{SECRET}"
            raw, ctype = encode(fmt, body)
            data, headers = mangle(how, raw)
            headers = {"Content-Type": ctype, "Connection": "close", **headers}
            r = await client.post(path, data=data, headers=headers)
            statuses.append((r.status, how))
            rig.tape(seconds=len(statuses))
        return statuses

    statuses = run(rig, scenario)
    assert all(s < 500 for s, _ in statuses), statuses
