"""The fake Rithmic gateway speaks to the real ``RithmicClient``: TLS, framing, login, session cap.

These pin down the base the plant fakes build on, so a plant test failing points at the plant."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
pytest.importorskip("trustme", reason="trustme (test extra) is not installed")

from async_rithmic import RithmicClient
from async_rithmic.enums import SysInfraType
from async_rithmic.exceptions import RithmicErrorResponse
from fake_rithmic.server import FORCED_LOGOUT, LOGIN, FakeRithmic, decode, frame, make


def client_for(server: FakeRithmic, *, password: str = "secret", system: str = "Rithmic Test") -> RithmicClient:
    client = RithmicClient(user="trader", password=password, system_name=system, app_name="tapeflow-test",
                           app_version="0.1", url=server.url)
    client.ssl_context = server.client_ssl_context()  # the only thing pointed at the test CA
    return client


def test_frames_are_length_prefixed_protobuf_of_the_library_classes():
    msg = make(LOGIN, user="trader", password="x", infra_type=SysInfraType.ORDER_PLANT, user_msg=["a"])
    buf = frame(msg)
    assert int.from_bytes(buf[:4], "big") == len(buf) - 4
    back = decode(buf)
    assert type(back).__name__ == "RequestLogin" and back.user == "trader" and list(back.user_msg) == ["a"]
    with pytest.raises(ValueError, match="frame says"):
        decode(buf[:-1])


def test_the_real_client_logs_in_over_tls_and_the_gateway_records_the_app_name():
    async def run() -> None:
        async with FakeRithmic() as server:
            client = client_for(server)
            await client.connect(plants=[SysInfraType.TICKER_PLANT])
            try:
                (conn,) = server.live()
                assert conn.infra_type == SysInfraType.TICKER_PLANT
                assert (conn.user, conn.app_name, conn.system_name) == ("trader", "tapeflow-test", "Rithmic Test")
                assert [type(m).__name__ for m in server.requests(LOGIN)] == ["RequestLogin"]
            finally:
                await client.disconnect()

    asyncio.run(run())


def test_a_wrong_password_is_refused_with_rithmics_error():
    async def run() -> None:
        async with FakeRithmic() as server:
            client = client_for(server, password="wrong")
            # The library raises the refusal inside its reader task and then fails on the empty answer
            # (an AttributeError): callers must not rely on the exception type, only on "connect failed".
            with pytest.raises((RithmicErrorResponse, AttributeError)):
                await client.connect(plants=[SysInfraType.TICKER_PLANT])
            await client.disconnect()
            assert server.requests(LOGIN) and server.live() == []

    asyncio.run(run())


def test_a_second_session_of_the_same_user_forces_the_first_one_out():
    async def run() -> None:
        async with FakeRithmic(max_sessions=1) as server:
            first, second = client_for(server), client_for(server)
            await first.connect(plants=[SysInfraType.TICKER_PLANT])
            await second.connect(plants=[SysInfraType.TICKER_PLANT])
            try:
                old, new = [c for c in server.conns if c.logged_in]
                assert old.forced_out and old.closed and not new.forced_out
                assert server.live() == [new]
                assert FORCED_LOGOUT == 77
            finally:
                for c in (first, second):
                    c.reconnection_settings.max_retries = 0
                    await c.disconnect()

    asyncio.run(run())
