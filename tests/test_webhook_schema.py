"""Payload parsing: JSON, TradingView templates, key=value text, aliases, and a fuzz test."""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_webhook_support import NOW_ISO, NOW_NS, SECRET, make_rig

from tapeflow.trading.orders import OrderType
from tapeflow.webhook.formats import to_alert
from tapeflow.webhook.outcome import Code, Reply
from tapeflow.webhook.schema import Action, Level, PayloadError, Unit, decode_body, parse_key_values

README = Path(__file__).resolve().parents[1] / "app" / "tapeflow" / "webhook" / "README.md"
TV_VALUES = {  # what TradingView fills in, for a strategy buy on ES1!
    "{{strategy.order.action}}": "buy",
    "{{ticker}}": "ES1!",
    "{{strategy.order.contracts}}": "1",
    "{{strategy.order.id}}": "Long",
    "{{timenow}}": NOW_ISO,
    "{{close}}": "5500.25",
    "{{strategy.market_position}}": "long",
    "{{strategy.prev_market_position}}": "flat",
    "{{strategy.position_size}}": "1",
    "{{strategy.order.price}}": "5500.25",
}


def parse(body: bytes, content_type: str = ""):
    fields = decode_body(body, content_type)
    fields.pop("secret", None)
    return to_alert(fields)


def test_canonical_json_fields():
    a = parse(
        b'{"secret":"s","action":"sell","symbol":"MESZ2026","quantity":3,"id":"a1","time":"2024-07-02T14:30:05Z",'
        b'"order_type":"stop_limit","price":5500.5,"stop_price":"5501","stop_ticks":8,"target_ticks":12,'
        b'"reduce_only":true,"strategy":"fade","reason":"x"}'
    )
    assert a.action == Action.SELL and a.symbol == "MESZ2026" and a.quantity == 3 and a.alert_id == "a1"
    assert a.time_ns == NOW_NS and a.order_type == OrderType.STOP_LIMIT
    assert a.price == Decimal("5500.5") and a.stop_price == Decimal("5501")
    assert a.stop == Level(Unit.TICKS, Decimal(8), "stop_ticks")
    assert a.target == Level(Unit.TICKS, Decimal(12), "target_ticks")
    assert (a.reduce_only, a.strategy) == (True, "fade")


def test_aliases_and_action_synonyms():
    a = parse(b'{"passphrase":"s","action":"Long","ticker":"ES1!","contracts":"2.0","timenow":"2024-07-02T14:30:05Z"}')
    assert (a.action, a.symbol, a.quantity, a.time_ns) == (Action.BUY, "ES1!", 2, NOW_NS)
    assert parse(b'{"action":"flat","symbol":"ES"}').action == Action.EXIT


def test_canonical_name_wins_over_alias():
    assert parse(b'{"action":"buy","symbol":"NQ","ticker":"ES","quantity":1}').symbol == "NQ"


def test_key_value_values_may_contain_spaces_and_quotes():
    kv = parse_key_values("secret=abc; action = buy, symbol=ES1! strategy=Open drive reason='two words'")
    assert kv == {"secret": "abc", "action": "buy", "symbol": "ES1!", "strategy": "Open drive", "reason": "two words"}


def test_form_encoded_body():
    a = parse(b"secret=s&action=buy&symbol=ES1%21&quantity=1", "application/x-www-form-urlencoded")
    assert a.symbol == "ES1!"


def test_non_integral_quantity_is_refused():
    with pytest.raises(PayloadError) as e:
        parse(b'{"action":"buy","symbol":"ES","quantity":1.5}')
    assert e.value.field == "quantity"


@pytest.mark.parametrize("bad", [b"", b"   ", b"\xff", b"[1,2]", b"{", b"just words"])
def test_unusable_bodies_are_payload_errors(bad):
    with pytest.raises(PayloadError) as e:
        parse(bad)
    assert e.value.code in ("bad_json", "bad_body", "missing_field")


def _readme_examples() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```(json|text)\n(.*?)```", text, re.S)
    return [(kind, body) for kind, body in blocks if "secret" in body]


@pytest.mark.parametrize("kind,body", _readme_examples())
def test_readme_alert_messages_are_accepted_as_written(kind, body):
    """Each README example, filled in as TradingView would, is executed by the server."""
    for placeholder, value in TV_VALUES.items():
        body = body.replace(placeholder, value)
    body = body.replace("use-a-long-random-string-here", SECRET)
    rig = make_rig()
    rig.server.instruments = frozenset({"ES", "MES"})
    reply, _, _ = rig.server._handle(body.encode(), "application/json" if kind == "json" else "text/plain",
                                     "52.89.214.238", NOW_NS)
    assert reply.ok, reply


def test_readme_has_json_and_key_value_examples():
    kinds = {k for k, _ in _readme_examples()}
    assert kinds == {"json", "text"}


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["secret", "action", "symbol", "ticker", "quantity", "id", "time", "order_type", "price", "stop_price",
     "stop_ticks", "target_ticks", "reduce_only", "strategy", "reason", "other"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzz_parser_raises_only_payload_errors(body):
    with contextlib.suppress(PayloadError):
        parse(body)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(FIELDS, JSONISH, max_size=8))
def test_fuzz_schema_on_json_objects(obj):
    try:
        parse(msgspec.json.encode(obj))
    except PayloadError as e:
        assert e.code in ("bad_json", "bad_body", "missing_field", "invalid_field")


_RIG = make_rig()


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(FIELDS, JSONISH, max_size=8).map(lambda d: {**d, "secret": SECRET}).map(msgspec.json.encode)
    | st.binary(max_size=200)
)
def test_fuzz_handler_always_replies_with_a_known_code(body):
    reply, _, _ = _RIG.server._handle(body, "application/json", "127.0.0.1", NOW_NS)
    assert isinstance(reply, Reply) and Code(reply.code)
