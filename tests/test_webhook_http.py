"""Real HTTP requests on loopback: every reply the webhook server can give."""

from __future__ import annotations

import hmac

from test_webhook_support import NOW_ISO, SECRET, alert, make_rig, post_json, post_text, run

from tapeflow.trading.orders import OrderStatus, OrderType, Source
from tapeflow.trading.settings import RiskSettings


def entries(rig):
    """Orders the webhook placed (bracket children of a filled entry are the account's doing)."""
    return [o for o in rig.account.orders.values() if o.request.source == Source.WEBHOOK]


def test_valid_json_alert_places_a_webhook_order_through_risk_and_replies_with_its_id():
    rig = make_rig()

    async def scenario(client):
        return await post_json(client, alert(quantity=2, stop_ticks=8, target_ticks=16, strategy="ORB"))

    status, body = run(rig, scenario)
    assert status == 200
    assert body["ok"] is True and body["code"] == "ok"
    order = rig.account.orders[body["order_id"]]
    assert order.request.source == Source.WEBHOOK
    assert order.request.qty == 2 and order.request.instrument == "ES"
    assert order.request.bracket.stop_ticks == 8 and order.request.bracket.target_ticks == 16
    assert order.request.tag.startswith("webhook:ORB:")
    (rec,) = rig.journal.table("webhook_requests")
    assert rec.code == "ok" and rec.status == 200 and rec.order_id == body["order_id"]


def test_templated_payload_with_numbers_as_strings_is_accepted():
    rig = make_rig()
    # what TradingView sends for "quantity": "{{strategy.order.contracts}}", "ticker": "{{ticker}}", ...
    body = {
        "secret": SECRET,
        "action": "SELL",
        "ticker": "CME_MINI:ES1!",
        "contracts": "1",
        "timenow": NOW_ISO,
        "id": "Short-2024-07-02T14:30:05Z",
        "sl_ticks": "10",
        "order_type": "limit",
        "price": "5500.25",
    }

    status, reply = run(rig, lambda c: post_json(c, body))
    assert status == 200, reply
    order = rig.account.orders[reply["order_id"]]
    assert order.side == -1 and order.request.type == OrderType.LIMIT
    assert order.limit_price == 22_001  # 5500.25 / 0.25
    assert order.request.bracket.stop_ticks == 10


def test_key_value_body_is_accepted():
    rig = make_rig()
    text = f"secret={SECRET} action=buy symbol=MESU2024 quantity=1 stop_ticks=6\n"
    text += f"time={NOW_ISO} id=kv-1 strategy=Open drive"
    rig.server.instruments = frozenset({"ES", "MES"})

    status, reply = run(rig, lambda c: post_text(c, text))
    assert status == 200, reply
    req = rig.account.orders[reply["order_id"]].request
    assert req.instrument == "MES" and req.tag == "webhook:Open drive:kv-1"


def test_wrong_secret_is_401_and_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    rig = make_rig()

    async def scenario(client):
        wrong = await post_json(client, alert(secret="correct-horse-battery-stapl3-42"))
        missing = await post_json(client, alert(secret=None))
        return wrong, missing

    (s1, b1), (s2, b2) = run(rig, scenario)
    assert (s1, b1["code"], b1["reason"]) == (401, "unauthorized", "wrong secret")
    assert (s2, b2["reason"]) == (401, "missing secret")
    assert calls, "the secret must be compared with hmac.compare_digest"
    assert not rig.account.orders


def test_missing_fields_and_wrong_types_are_400_naming_the_field():
    rig = make_rig(require_time=True)

    async def scenario(client):
        return [
            await post_json(client, alert(quantity=None)),
            await post_json(client, alert(quantity="two")),
            await post_json(client, alert(quantity=True)),
            await post_json(client, alert(stop_ticks=[8])),
            await post_json(client, alert(action="hodl")),
            await post_json(client, alert(symbol=None)),
            await post_json(client, alert(time="yesterday")),
            await post_json(client, alert(time=None)),
            await post_json(client, alert(action="{{strategy.order.action}}")),
        ]

    got = [(s, b["code"], b["field"]) for s, b in run(rig, scenario)]
    assert got == [
        (400, "missing_field", "quantity"),
        (400, "invalid_field", "quantity"),
        (400, "invalid_field", "quantity"),
        (400, "invalid_field", "stop_ticks"),
        (400, "invalid_field", "action"),
        (400, "missing_field", "symbol"),
        (400, "invalid_field", "time"),
        (400, "missing_field", "time"),
        (400, "invalid_field", "action"),
    ]
    assert not rig.account.orders


def test_bad_json_is_400():
    rig = make_rig()
    status, body = run(rig, lambda c: post_text(c, '{"secret": "x", "action": '))
    assert (status, body["code"]) == (400, "bad_json")


def test_unknown_fields_are_ignored():
    rig = make_rig()
    status, body = run(rig, lambda c: post_json(c, alert(comment="my note", nested={"a": [1, 2]}, plot_0=72.5)))
    assert status == 200 and body["ok"]


def test_stale_and_future_times_are_refused():
    rig = make_rig(max_age_seconds=30, max_future_seconds=5)

    async def scenario(client):
        old = await post_json(client, alert(time="2024-07-02T14:29:34Z"))  # 31 s before the server clock
        ahead = await post_json(client, alert(time="2024-07-02T14:30:11Z"))  # 6 s ahead
        fresh = await post_json(client, alert(time="2024-07-02T14:29:36Z"))  # 29 s old
        return old, ahead, fresh

    (s1, b1), (s2, b2), (s3, _) = run(rig, scenario)
    assert (s1, b1["code"], b1["field"]) == (422, "stale", "time")
    assert (s2, b2["code"]) == (422, "stale")
    assert s3 == 200
    assert len(entries(rig)) == 1


def test_duplicate_id_is_refused_without_a_second_order():
    rig = make_rig()
    a = alert(id="once")

    async def scenario(client):
        return await post_json(client, a), await post_json(client, a), await post_json(client, dict(a, quantity=2))

    (s1, b1), (s2, b2), (s3, b3) = run(rig, scenario)
    assert s1 == 200
    assert (s2, b2["code"], b2["order_id"]) == (409, "duplicate", b1["order_id"])
    assert (s3, b3["code"]) == (409, "duplicate")  # same id, different body: still the same alert
    assert len(entries(rig)) == 1


def test_identical_body_without_id_in_the_same_minute_is_one_alert():
    rig = make_rig()
    a = alert(id=None)

    async def scenario(client):
        return await post_json(client, a), await post_json(client, a)

    (s1, _), (s2, b2) = run(rig, scenario)
    assert (s1, s2) == (200, 409)
    assert b2["alert"].startswith("fp:")
    assert len(entries(rig)) == 1


def test_oversize_body_is_413():
    rig = make_rig(max_body_bytes=512)
    status, body = run(rig, lambda c: post_json(c, alert(comment="x" * 600)))
    assert (status, body["code"]) == (413, "payload_too_large")
    assert not rig.account.orders


def test_rate_limit_is_429_per_address_until_tokens_refill():
    rig = make_rig(rate_per_second=1.0, rate_burst=2)

    async def scenario(client):
        codes = [(await post_json(client, alert()))[0] for _ in range(3)]
        r = await client.post("/webhook", json=alert())
        retry = r.headers.get("Retry-After")
        rig.monotonic.t += 1.0  # one token back
        codes.append((await post_json(client, alert()))[0])
        return codes, retry

    codes, retry = run(rig, scenario)
    assert codes == [200, 200, 429, 200]
    assert retry == "1"
    assert len(entries(rig)) == 3
    limited = [r for r in rig.journal.table("webhook_requests") if r.code == "rate_limited"]
    assert len(limited) == 1  # a run of refusals is journaled once (a flood must not hammer the disk)
    assert rig.server.counts["rate_limited"] == 2


def test_allowlist_refuses_orders_from_other_addresses_but_lets_a_kill_through():
    rig = make_rig(allow=("10.0.0.0/8",))

    async def scenario(client):
        return await post_json(client, alert()), await post_json(client, alert(action="kill", symbol=None))

    (s1, b1), (s2, b2) = run(rig, scenario)
    assert (s1, b1["code"]) == (403, "forbidden")
    assert (s2, b2["kill_switch_latched"]) == (200, True)
    assert rig.account.kill_switch.latched


def test_tradingview_preset_behind_a_trusted_proxy_uses_the_forwarded_address():
    rig = make_rig(allow_tradingview=True, trusted_proxies=("127.0.0.1",))

    async def scenario(client):
        tv = await post_json(client, alert(), headers={"X-Forwarded-For": "198.51.100.7, 52.89.214.238"})
        other = await post_json(client, alert(), headers={"X-Forwarded-For": "52.89.214.238, 198.51.100.7"})
        return tv, other

    (s1, _), (s2, _) = run(rig, scenario)
    assert (s1, s2) == (200, 403)  # only the last hop, added by our proxy, is trusted
    assert rig.journal.table("webhook_requests")[0].client == "52.89.214.238"


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    rig = make_rig(allow_tradingview=True)
    status, _ = run(rig, lambda c: post_json(c, alert(), headers={"X-Forwarded-For": "52.89.214.238"}))
    assert status == 403


def test_risk_refusal_is_422_with_the_rule_and_reason():
    rig = make_rig(risk=RiskSettings(max_position=1))

    async def scenario(client):
        return await post_json(client, alert(quantity=2)), await post_json(client, alert(stop_ticks=None))

    (s1, b1), (s2, b2) = run(rig, scenario)
    assert (s1, b1["code"], b1["rule"]) == (422, "risk_rejected", "max_position")
    assert "max position 1" in b1["reason"]
    assert (s2, b2["rule"]) == (422, "mandatory_stop")  # automation must carry a stop by default
    assert all(o.status == OrderStatus.REJECTED for o in rig.account.orders.values())


def test_unknown_or_untraded_symbol_is_422():
    rig = make_rig()

    async def scenario(client):
        return await post_json(client, alert(symbol="CL1!")), await post_json(client, alert(symbol="NQ1!"))

    (s1, b1), (s2, b2) = run(rig, scenario)
    assert (s1, b1["code"], b1["field"]) == (422, "unknown_symbol", "symbol")
    assert (s2, b2["code"]) == (422, "unknown_symbol") and "trades ES" in b2["reason"]


def test_off_grid_limit_price_is_400_naming_price():
    rig = make_rig()
    status, body = run(rig, lambda c: post_json(c, alert(order_type="limit", price=5500.1)))
    assert (status, body["code"], body["field"]) == (400, "invalid_field", "price")


def test_kill_latches_the_switch_and_a_following_buy_is_refused():
    rig = make_rig()

    async def scenario(client):
        kill = await post_json(client, alert(action="kill", symbol=None, reason="phone"))
        buy = await post_json(client, alert())
        return kill, buy

    (s1, b1), (s2, b2) = run(rig, scenario)
    assert (s1, b1["kill_switch_latched"]) == (200, True)
    ks = rig.account.kill_switch.state
    assert ks.latched and ks.by == "webhook from 127.0.0.1" and ks.reason == "phone"
    assert (s2, b2["code"]) == (423, "kill_switch_latched")


def test_exit_flattens_the_position_and_cancel_removes_working_entries():
    rig = make_rig()

    async def scenario(client):
        _, b = await post_json(client, alert(quantity=1))
        rig.tape(seconds=1)  # the market buy fills; its bracket goes to work
        limit = await post_json(client, alert(order_type="limit", price=5490, quantity=1))
        cancel = await post_json(client, alert(action="cancel", quantity=None))
        exit_ = await post_json(client, alert(action="exit", quantity=None))
        rig.tape(seconds=2)
        return b, limit, cancel, exit_

    buy, limit, (sc, cancel), (se, exit_) = run(rig, scenario)
    assert rig.account.orders[buy["order_id"]].status == OrderStatus.FILLED
    assert sc == 200 and cancel["order_ids"] == [limit[1]["order_id"]]
    assert rig.account.orders[limit[1]["order_id"]].status == OrderStatus.CANCELLED
    assert se == 200 and len(exit_["order_ids"]) == 1
    assert rig.account.ledger.positions["ES"].qty == 0


def test_hostile_requests_never_crash_the_server():
    rig = make_rig()
    bodies = [b"", b"\xff\xfe\x00", b"[]", b"{}", b"null", b"=" * 100, b'{"secret": 1}', b"{" * 400, b"a=b=c=d"]

    async def scenario(client):
        out = []
        for b in bodies:
            r = await client.post("/webhook", data=b, headers={"Content-Type": "application/json"})
            out.append(r.status)
        out.append((await post_json(client, alert()))[0])
        return out

    codes = run(rig, scenario)
    assert all(400 <= c < 500 for c in codes[:-1]), codes
    assert codes[-1] == 200

