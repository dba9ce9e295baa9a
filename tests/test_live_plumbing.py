"""Throttle, SignalR framing and ProjectX wire details (no venue needed)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import msgspec
import pytest

from tapeflow.trading.live.projectx.api import PxOrder, PxPosition, iso, parse_ts
from tapeflow.trading.live.signalr import HANDSHAKE, RS, split_records, websocket_url
from tapeflow.trading.live.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_throttle_allows_the_documented_burst_then_waits_for_the_oldest_request_to_age_out():
    clock = Clock()
    th = Throttle(200, 60.0, clock=clock)

    async def take(n: int) -> None:
        for _ in range(n):
            await th.acquire()

    asyncio.run(take(200))
    assert th.delay() == 60.0  # the 201st waits a full window behind the first
    clock.t = 59.5
    assert th.delay() == pytest.approx(0.5)
    clock.t = 60.0
    assert th.delay() == 0.0
    with pytest.raises(ValueError, match="positive"):
        Throttle(0, 60)


def test_signalr_records_are_json_separated_by_0x1e():
    assert HANDSHAKE == '{"protocol": "json", "version": 1}' + RS
    frames = split_records('{"type":6}' + RS + '{"type":1,"target":"GatewayUserTrade","arguments":[{}]}' + RS)
    assert [f["type"] for f in frames] == [6, 1] and frames[1]["target"] == "GatewayUserTrade"


def test_gateway_timestamps_with_seven_fraction_digits_and_offsets_read_exactly():
    assert parse_ts("2025-02-25T14:40:04.2256702+00:00") == 1740494404_225670_000
    assert parse_ts("2025-02-25T14:40:04Z") == 1740494404_000_000_000
    assert parse_ts(None) == 0
    assert parse_ts(iso(1740494404_225670_000)) == 1740494404_225670_000


def test_gateway_records_decode_prices_as_decimals_and_position_sides_as_signs():
    o = msgspec.convert({"id": 1, "contractId": "CON.F.US.EP.Z26", "status": 1, "type": 1, "side": 0, "size": 2,
                         "limitPrice": 5000.25, "customTag": "tfx-1", "fillVolume": 0}, PxOrder)
    assert o.limit_price == Decimal("5000.25") and o.custom_tag == "tfx-1"
    short = msgspec.convert({"contractId": "C", "type": 2, "size": 3}, PxPosition)
    assert short.signed == -3


def test_a_hub_documented_with_https_is_dialled_as_a_secure_websocket():
    assert websocket_url("https://rtc.topstepx.com/hubs/user?access_token=t") == "wss://rtc.topstepx.com/hubs/user?access_token=t"
    assert websocket_url("http://127.0.0.1:9/hubs/user") == "ws://127.0.0.1:9/hubs/user"
    assert websocket_url("wss://x/hubs/user") == "wss://x/hubs/user"
