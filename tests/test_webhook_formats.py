"""Relay formats as users paste them: each README example posted over HTTP on loopback, the
semantics step (flat closes only, target position, add/reverse/breakeven), exact brackets,
contract months, and hostile numbers and bodies (never a 5xx)."""

from __future__ import annotations

import asyncio
import gzip
import hmac
import logging
import re
from pathlib import Path

import aiohttp
import msgspec
from test_webhook_support import ES_5500, NOW_ISO, SECRET, alert, make_rig, post_json, post_text, run

from tapeflow.trading.orders import OrderType, Source
from tapeflow.trading.settings import RiskSettings

README = Path(__file__).resolve().parents[1] / "app" / "tapeflow" / "webhook" / "README.md"
STRATEGY_BUY = {  # what TradingView fills in for a strategy's first long entry of 1 at 5500.25
    "{{ticker}}": "ES1!",
    "{{strategy.order.action}}": "buy",
    "{{strategy.order.contracts}}": "1",
    "{{strategy.market_position}}": "long",
    "{{strategy.prev_market_position}}": "flat",
    "{{strategy.position_size}}": "1",
    "{{strategy.order.price}}": "5500.25",
    "{{strategy.order.id}}": "Long",
    "{{close}}": "5500.25",
    "{{timenow}}": NOW_ISO,
}


def readme_example(name: str, values: dict[str, str] | None = None) -> str:
    """The README's example for a format, filled in as TradingView would, with our secret."""
    m = re.search(rf"<!-- example: {name} -->\s*```\w+\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert m, f"README has no example for {name}"
    body = m.group(1)
    for placeholder, value in (values or STRATEGY_BUY).items():
        body = body.replace(placeholder, value)
    return body.replace("use-a-long-random-string-here", SECRET)


def post(client, body: str, path: str = "/webhook", content_type: str = "application/json"):
    async def go():
        r = await client.post(path, data=body.encode(), headers={"Content-Type": content_type})
        return r.status, await r.json()

    return go()


def webhook_orders(rig):
    return [o for o in rig.account.orders.values() if o.request.source == Source.WEBHOOK]


def children(rig):
    """Working bracket children by type: {"stop": price ticks, "limit": price ticks}."""
    out = {}
    for o in rig.account.open_orders():
        if o.request.source == Source.BRACKET:
            out["stop" if o.request.type == OrderType.STOP else "limit"] = (
                o.stop_price if o.request.type == OrderType.STOP else o.limit_price
            )
    return out


def position(rig) -> int:
    pos = rig.account.ledger.positions.get("ES")
    return pos.qty if pos is not None else 0


# -- each format's README example over HTTP ------------------------------------------------------


def post_example_and_fill(name: str, path: str = "/webhook", content_type: str = "application/json"):
    """Post the README example on a fresh rig, print 5500.00 on the tape; (rig, the entry order)."""
    rig = make_rig()
    body = readme_example(name)

    async def scenario(client):
        reply = await post(client, body, path, content_type)
        rig.tape(ES_5500, seconds=1)
        return reply

    status, reply = run(rig, scenario)
    assert status == 200, reply
    (entry,) = webhook_orders(rig)
    assert entry.id == reply["order_id"]
    return rig, entry


def test_traderspost_example_with_the_password_in_the_url_places_the_entry_and_its_bracket():
    rig, entry = post_example_and_fill("traderspost", f"/webhook/{SECRET}")
    # amount 2 points = 8 ticks below, 4 points = 16 ticks above the 5500.00 fill
    assert entry.request.bracket.stop_ticks == 8 and entry.request.bracket.target_ticks == 16
    assert position(rig) == 1
    assert children(rig) == {"stop": ES_5500 - 8, "limit": ES_5500 + 16}


def test_pickmytrade_example_converts_dollars_for_the_whole_entry_into_ticks():
    rig, entry = post_example_and_fill("pickmytrade")
    # $125 / $12.50 = 10 ticks of stop, $250 / $12.50 = 20 ticks of target on one contract
    assert (entry.request.bracket.stop_ticks, entry.request.bracket.target_ticks) == (10, 20)
    assert position(rig) == 1
    assert children(rig) == {"stop": ES_5500 - 10, "limit": ES_5500 + 20}


def test_crosstrade_example_is_a_limit_entry_with_price_levels_measured_from_its_limit():
    rig, entry = post_example_and_fill("crosstrade", content_type="text/plain")
    assert entry.request.type == OrderType.LIMIT and entry.request.limit_price == 22_001  # 5500.25
    # stop 5497.50 is 11 ticks under 5500.25, target 5505.00 is 19 ticks over it
    assert (entry.request.bracket.stop_ticks, entry.request.bracket.target_ticks) == (11, 19)
    assert position(rig) == 1
    assert children(rig) == {"stop": ES_5500 - 11, "limit": ES_5500 + 19}  # anchored on the 5500.00 fill


def test_tradingview_strategy_example_follows_the_strategy_position():
    rig, entry = post_example_and_fill("tradingview")
    assert entry.request.qty == 1 and entry.request.bracket.stop_ticks == 8
    assert position(rig) == 1
    assert children(rig) == {"stop": ES_5500 - 8, "limit": ES_5500 + 16}


def test_native_example_still_works():
    rig = make_rig()
    status, reply = run(rig, lambda c: post(c, readme_example("native")))
    assert status == 200, reply
    assert webhook_orders(rig)[0].request.bracket.target_ticks == 16


# -- semantics ----------------------------------------------------------------------------------


def test_strategy_exit_after_a_local_stop_out_does_not_flip_the_account_short():
    """The strategy is still long 1 when our stop already closed the account; its exit (sell 1,
    now flat) must do nothing, not open a short."""
    rig = make_rig()
    exit_values = {**STRATEGY_BUY, "{{strategy.order.action}}": "sell", "{{strategy.market_position}}": "flat"}
    body = readme_example("traderspost", exit_values)
    status, reply = run(rig, lambda c: post(c, body, f"/webhook/{SECRET}"))
    assert status == 200 and "nothing to do" in reply["reason"]
    assert webhook_orders(rig) == [] and position(rig) == 0


def test_flat_sentiment_closes_the_whole_long_and_nothing_more():
    rig = make_rig()

    async def scenario(client):
        await post_json(client, alert(quantity=2))
        rig.tape(ES_5500, seconds=1)
        r = await post_json(client, alert(action="sell", quantity=5, market_position="flat"))
        rig.tape(ES_5500, seconds=2)
        return r

    status, reply = run(rig, scenario)
    assert status == 200, reply
    close = rig.account.orders[reply["order_id"]]
    assert close.request.qty == 2 and close.request.reduce_only and close.request.bracket is None
    assert position(rig) == 0


def test_reversal_alert_in_target_mode_lands_on_the_strategys_position():
    """Strategy reverses long 1 -> short 1 (sell 2), but the account is already flat: sell 1."""
    rig = make_rig()
    body = alert(action="sell", quantity=2, market_position="short", position_size=-1)
    status, reply = run(rig, lambda c: post_json(c, body))
    assert status == 200, reply
    order = rig.account.orders[reply["order_id"]]
    assert order.request.qty == 1 and order.request.bracket.stop_ticks == 8
    rig.tape(ES_5500, seconds=1)
    assert position(rig) == -1


def test_sell_while_the_strategy_stays_long_only_reduces():
    rig = make_rig()
    status, reply = run(rig, lambda c: post_json(c, alert(action="sell", quantity=1, market_position="long")))
    assert status == 200 and webhook_orders(rig) == [] and "only reduces" in reply["reason"]


def test_add_reverse_and_breakeven():
    rig = make_rig()

    async def scenario(client):
        out = [await post_json(client, alert(action="add", quantity=1))]  # flat: nothing to add to
        await post_json(client, alert(quantity=1, stop_ticks=8, target_ticks=None))
        rig.tape(ES_5500, seconds=1)  # long 1 at 5500.00, stop at 5498.00
        rig.tape(ES_5500 + 8, seconds=2)  # 2 points in profit
        out.append(await post_json(client, alert(action="breakeven", quantity=None)))
        out.append(children(rig))
        out.append(await post_json(client, alert(action="add", quantity=1, stop_ticks=20, target_ticks=None)))
        rig.tape(ES_5500 + 8, seconds=3)
        out.append(position(rig))
        out.append(await post_json(client, alert(action="reverse", quantity=None, stop_ticks=6, target_ticks=None)))
        rig.tape(ES_5500 + 8, seconds=4)
        return out

    (s_add0, add0), (s_be, be), after_be, (s_add, _), after_add, (s_rev, rev) = run(rig, scenario)
    assert (s_add0, add0["code"], add0["field"]) == (409, "no_position", "action")
    assert s_be == 200 and be["reason"] == "stop moved to 5500.00"
    assert after_be == {"stop": ES_5500}
    assert s_add == 200 and after_add == 2
    assert s_rev == 200, rev
    reverse = rig.account.orders[rev["order_id"]].request
    assert (reverse.side, reverse.qty, reverse.bracket.stop_ticks) == (-1, 4, 6)  # close 2, open 2
    assert position(rig) == -2


def test_pickmytrade_without_duplicates_skips_a_second_buy():
    rig = make_rig()
    body = readme_example("pickmytrade")
    body = body.replace('"duplicate_position_allow": true', '"duplicate_position_allow": false')

    async def scenario(client):
        await post(client, body)
        rig.tape(ES_5500, seconds=1)
        return await post(client, body.replace(NOW_ISO, "2024-07-02T14:30:06Z"))

    status, reply = run(rig, scenario)
    assert status == 200 and "adding is off" in reply["reason"]
    assert position(rig) == 1 and len(webhook_orders(rig)) == 1


# -- exact brackets -----------------------------------------------------------------------------


def test_bracket_values_that_are_not_whole_ticks_or_not_supported_are_refused_naming_the_field():
    rig = make_rig()
    tp = {"ticker": "ES1!", "action": "buy", "quantity": 1, "passphrase": SECRET}
    cases = [
        ({**tp, "stopLoss": {"amount": "0.3"}}, "stopLoss.amount"),
        ({**tp, "signalPrice": 5500.25, "stopLoss": {"percent": 1}}, "stopLoss.percent"),  # 55.0025 points
        ({**tp, "stopLoss": {"percent": "0.1"}}, "stopLoss.percent"),  # market order without its price
        ({**tp, "stopLoss": {"type": "trailing_stop", "amount": 2}}, "stopLoss.type"),
        ({**tp, "stopLoss": {"stopPrice": 5490}}, "stopLoss.stopPrice"),  # market, no signalPrice
        ({**tp, "signalPrice": 5500, "stopLoss": {"stopPrice": 5510}}, "stopLoss.stopPrice"),  # wrong side
        ({**tp, "takeProfit": 5}, "takeProfit"),
        ({**tp, "stopLoss": {"amount": 2}, "stop_ticks": 8}, "stop_ticks"),  # two formats' stops
        ({"token": SECRET, "data": "buy", "symbol": "ES1!", "quantity": 1, "dollar_sl": 110}, "dollar_sl"),
        ({"token": SECRET, "data": "buy", "symbol": "ES1!", "quantity": 1, "trail": 1}, "trail"),
        # one tick plus 1e-33: Decimal's 28 digits would round it to exactly one tick
        ({**tp, "stopLoss": {"amount": "0.250000000000000000000000000000001"}}, "stopLoss.amount"),
        ({**tp, "stopLoss": {"amount": "1e-999999999999999999"}}, "stopLoss.amount"),  # no 10**18-digit string
    ]

    async def scenario(client):
        return [await post_json(client, body) for body, _ in cases]

    got = [(s, b.get("field")) for s, b in run(rig, scenario)]
    assert got == [(400, field) for _, field in cases]
    assert webhook_orders(rig) == []


# -- contracts ----------------------------------------------------------------------------------


def test_a_named_month_trades_only_if_the_feed_carries_it():
    rig = make_rig()  # tape on 2024-07-02: the front month is September 2024 (ESU4)

    async def scenario(client):
        return [
            await post_json(client, alert(symbol=s))
            for s in ("ESZ2024", "ES 09-24", "ESU4", "CME_MINI:ES1!", "ES2!", "ES SEP24")
        ]

    got = [(s, b["code"]) for s, b in run(rig, scenario)]
    assert got == [(422, "wrong_contract"), (200, "ok"), (200, "ok"), (200, "ok"), (422, "wrong_contract"), (200, "ok")]


def test_wrong_month_reply_names_the_month_the_feed_carries():
    rig = make_rig()
    status, reply = run(rig, lambda c: post_json(c, alert(symbol="ESZ2025")))
    assert (status, reply["field"]) == (422, "symbol")
    assert "ESZ5 (December 2025)" in reply["reason"] and "ESU4 (September 2024)" in reply["reason"]


def test_second_month_symbol_trades_on_a_feed_of_the_second_month():
    rig = make_rig()
    rig.server.instruments = frozenset({"ESZ4"})

    async def scenario(client):
        return [await post_json(client, alert(symbol=s)) for s in ("ES2!", "ESZ2024", "ESU4")]

    assert [s for s, _ in run(rig, scenario)] == [200, 200, 422]


# -- secrets and time ---------------------------------------------------------------------------


def test_relay_secrets_are_checked_in_constant_time_and_never_logged(caplog, monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(b) or real(a, b))
    rig = make_rig()
    caplog.set_level(logging.DEBUG)

    async def scenario(client):
        return [
            (await post(client, readme_example("traderspost"), "/webhook/wrong-password"))[0],
            (await post(client, readme_example("traderspost"), f"/webhook/{SECRET}"))[0],
            (await post_json(client, {"token": "nope", "data": "buy", "symbol": "ES1!", "quantity": 1}))[0],
            (await post_text(client, f"key={SECRET}; command=PLACE; instrument=ES 09-24; action=SELL; qty=1;"))[0],
            (await post_json(client, alert(secret=None, key=SECRET, token="other")))[0],  # disagreeing secrets
        ]

    assert run(rig, scenario) == [401, 200, 401, 200, 401]
    assert {b"wrong-password", SECRET.encode(), b"nope"} <= set(compared)  # URL, token, key: one check
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("tapeflow")]
    assert ours and not any(SECRET in m for m in ours)  # (the test server's access log is not ours: off in serve)


def test_time_is_optional_and_an_identical_body_is_still_one_alert():
    rig = make_rig()
    body = alert(time=None, id=None)

    async def scenario(client):
        return [await post_json(client, body), await post_json(client, body)]

    (s1, _), (s2, b2) = run(rig, scenario)
    assert (s1, s2, b2["code"]) == (200, 409, "duplicate")


# -- hostile input: issue 22 item 7 -------------------------------------------------------------


def test_hostile_numbers_and_bodies_get_a_4xx_naming_the_field():
    rig = make_rig(max_body_bytes=100_000)
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    good = alert()

    async def scenario(client):
        out = []
        r = await client.post("/webhook", data=deep.encode(), headers={"Content-Type": "application/json"})
        out.append((r.status, (await r.json()).get("code")))
        r = await client.post(
            "/webhook", data=b"\x1f\x8b\x08garbage", headers={"Content-Encoding": "gzip", "Connection": "close"}
        )
        out.append((r.status, (await r.json()).get("field")))
        for body in (
            alert(order_type="limit", price="1e28"),
            alert(order_type="limit", price=1e300),
            alert(quantity=2**63),
            alert(stop_ticks=2**63),
            alert(order_type="stop", stop_price="-Infinity"),
        ):
            s, b = await post_json(client, body)
            out.append((s, b.get("field")))
        import json

        zipped = gzip.compress(json.dumps(good).encode())
        r = await client.post(
            "/webhook", data=zipped, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
        out.append((r.status, (await r.json()).get("code")))
        return out

    assert run(rig, scenario) == [
        (400, "bad_json"),
        (400, "Content-Encoding"),
        (400, "price"),
        (400, "price"),
        (400, "quantity"),
        (400, "stop_ticks"),
        (400, "stop_price"),
        (200, "ok"),
    ]


def test_crosstrade_commands_map_to_place_flatplace_reverse_close_and_cancel():
    rig = make_rig(RiskSettings(require_stop_for_automation=False))
    head = f"key={SECRET}; account=sim101; instrument=ES 09-24;"

    async def scenario(client):
        steps = []
        for i, text in enumerate([
            "command=PLACE; action=BUY; qty=1; order_type=MARKET; tif=DAY;",
            "command=FLATPLACE; action=SELL; qty=2; order_type=MARKET;",  # end short 2: sell 3
            "command=REVERSEPOSITION; qty=1;",  # close the short 2, open long 1: buy 3
            "command=CLOSEPOSITION;",
            "command=PLACE; action=BUY; qty=1; order_type=LIMIT; limit_price=5490;",
            "command=CANCELORDERS;",
        ], start=1):
            status, _ = await post_text(client, f"{head} {text} order_id=ct-{i};")
            rig.tape(ES_5500, seconds=i)
            steps.append((status, position(rig)))
        return steps

    assert run(rig, scenario) == [(200, 1), (200, -2), (200, 1), (200, 0), (200, 0), (200, 0)]
    assert [o.request.qty for o in webhook_orders(rig)] == [1, 3, 3, 1]
    assert not rig.account.open_orders()


def test_traderspost_exit_add_and_cancel():
    rig = make_rig(RiskSettings(require_stop_for_automation=False))
    tp = {"ticker": "ES1!", "sentiment": "long"}

    async def scenario(client):
        steps = []
        for i, extra in enumerate([
            {"action": "buy", "quantity": 1},
            {"action": "add", "quantity": 1},
            {"action": "buy", "quantity": 1, "orderType": "limit", "limitPrice": 5490},
            {"action": "cancel"},
            {"action": "exit", "sentiment": "flat"},
        ], start=1):
            status, _ = await post(client, msgspec.json.encode({**tp, **extra}).decode(), f"/webhook/{SECRET}")
            rig.tape(ES_5500, seconds=i)
            steps.append((status, position(rig), len(rig.account.open_orders())))
        return steps

    assert run(rig, scenario) == [(200, 1, 0), (200, 2, 0), (200, 2, 1), (200, 2, 0), (200, 0, 0)]


def test_undecodable_bodies_on_the_real_server_are_4xx_and_logged_without_a_traceback(caplog):
    """aiohttp itself refuses some encodings before our handler runs; the log stays one line."""
    rig = make_rig()
    caplog.set_level(logging.DEBUG)

    async def scenario():
        await rig.server.start()
        try:
            out = []
            async with aiohttp.ClientSession() as http:
                for enc, data in (("br", b"\x0b\x02\x80"), ("gzip", b"\x1f\x8b\x08junk"), ("zstd", b"junk")):
                    headers = {"Content-Encoding": enc, "Connection": "close", "Content-Type": "application/json"}
                    async with http.post(f"{rig.server.url}/webhook", data=data, headers=headers) as r:
                        out.append(r.status)
            return out
        finally:
            await rig.server.stop()

    statuses = asyncio.run(scenario())
    assert all(400 <= s < 500 for s in statuses), statuses
    assert "Traceback" not in caplog.text and all(r.exc_info is None for r in caplog.records)


def test_traderspost_percent_brackets_are_taken_when_they_come_to_whole_ticks():
    """0.1% of 5500.00 is 5.5 points = 22 ticks; 0.2% is 44 ticks."""
    rig = make_rig()
    body = {"passphrase": SECRET, "ticker": "ES1!", "action": "buy", "quantity": 1, "signalPrice": "5500",
            "stopLoss": {"percent": "0.1"}, "takeProfit": {"percent": "0.2"}}
    status, reply = run(rig, lambda c: post_json(c, body))
    assert status == 200, reply
    bracket = rig.account.orders[reply["order_id"]].request.bracket
    assert (bracket.stop_ticks, bracket.target_ticks) == (22, 44)
