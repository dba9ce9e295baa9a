"""The shared Rithmic session over real sockets: the real ``RithmicClient`` against the fake gateway
(tests/fake_rithmic), only its SSL context pointed at the test CA."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

pytest.importorskip("async_rithmic", reason="optional extra tapeflow[rithmic] (async-rithmic) is not installed")
pytest.importorskip("trustme", reason="trustme (test extra) is not installed")

from async_rithmic.enums import SysInfraType
from fake_rithmic.server import FakeRithmic
from fake_rithmic.ticker import FakeTicker

from tapeflow.feeds.live_feed import Backoff
from tapeflow.rithmic import FORCED_OUT_REASON, Phase, RithmicSession, RithmicSettings, SessionError

TICKER = SysInfraType.TICKER_PLANT
FAST = Backoff(initial_s=0.01, max_s=0.05, jitter=0.0)


def run(main: Callable[[FakeRithmic], Awaitable[None]], **server_opts) -> None:
    async def go() -> None:
        async with FakeRithmic(**server_opts) as server:
            FakeTicker(server)
            await main(server)

    asyncio.run(asyncio.wait_for(go(), 30))


def session_for(server: FakeRithmic, *, password: str = "secret", app_name: str = "tapeflow-test") -> RithmicSession:
    settings = RithmicSettings(app_name=app_name, app_version="9.9", system_name="Rithmic Test", url=server.url)
    return RithmicSession(settings, user="trader", password=password, ssl_context=server.client_ssl_context(),
                          backoff=FAST, login_timeout_s=5.0)


async def until(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def ticker_logins(server: FakeRithmic) -> list:
    return [m for m in server.requests(10) if m.infra_type == TICKER]


def test_open_logs_into_only_the_plants_asked_for_with_the_settings_app_name():
    async def main(server: FakeRithmic) -> None:
        session = session_for(server)
        await session.open({"ticker"})
        assert session.state.phase is Phase.UP
        assert [c.infra_type for c in server.live()] == [TICKER]
        (conn,) = server.live()
        assert (conn.app_name, conn.app_version, conn.system_name) == ("tapeflow-test", "9.9", "Rithmic Test")
        await session.open({"ticker"})  # already open: no second login
        assert len(ticker_logins(server)) == 1
        await session.close()
        assert session.state.phase is Phase.CLOSED and server.live() == []

    run(main)


def test_a_refused_login_says_rithmics_reason_and_never_shows_the_password(caplog):
    async def main(server: FakeRithmic) -> None:
        session = session_for(server, password="hunter2-wrong")
        with pytest.raises(SessionError) as err:
            await session.open({"ticker"})
        assert str(err.value) == "rithmic ticker plant: login failed: refused by Rithmic: permission denied"
        assert session.state.phase is Phase.CLOSED

    with caplog.at_level("DEBUG"):
        run(main)
    assert "Rithmic returned an error" in caplog.text  # the library's own report, logged ...
    assert "hunter2-wrong" not in caplog.text  # ... with the password masked


def test_a_dropped_plant_is_logged_in_again_by_the_session_with_its_hooks_and_market_data():
    async def main(server: FakeRithmic) -> None:
        session = session_for(server)
        states: list[Phase] = []
        session.add_listener(lambda s: states.append(s.phase))
        ups: list[int] = []

        async def hook() -> None:
            ups.append(len(ticker_logins(server)))

        session.on_plant_up("ticker", hook)
        await session.open({"ticker"})
        await session.subscribe_market_data("ESZ6", "CME", 1)
        await until(lambda: len(server.requests(100)) == 1, "the market data subscription")
        await server.drop(server.live(TICKER)[0])
        await until(lambda: len(ups) == 2 and session.state.phase is Phase.UP, "the re-login")
        assert ups == [1, 2]  # the hook ran after each login
        assert states == [Phase.CONNECTING, Phase.UP, Phase.RECONNECTING, Phase.UP]
        await until(lambda: len(server.requests(100)) == 2, "the market data subscription again")
        subs = [(m.symbol, m.update_bits) for m in server.requests(100)]
        assert subs == [("ESZ6", 1), ("ESZ6", 1)]  # re-subscribed after the re-login
        assert session.logins == {"ticker": 2}
        await session.close()

    run(main)


def test_a_forced_logout_is_its_own_state_and_the_session_does_not_log_in_again_by_itself():
    async def main(server: FakeRithmic) -> None:
        ours, other = session_for(server), session_for(server, app_name="another-terminal")
        await ours.open({"ticker"})
        await other.open({"ticker"})  # same user, same plant: the gateway logs the older one out
        await until(lambda: ours.state.phase is Phase.FORCED_OUT, "FORCED_OUT")
        assert FORCED_OUT_REASON in ours.state.reason and "ticker" in ours.state.reason
        await asyncio.sleep(0.3)  # many backoff periods: no automatic re-login (no ping-pong)
        assert len(ticker_logins(server)) == 2 and other.state.phase is Phase.UP
        with pytest.raises(SessionError, match=FORCED_OUT_REASON):
            await ours.open({"ticker"})
        with pytest.raises(SessionError, match="rithmic ticker plant is not logged in"):  # not the library's 60 s wait
            await ours.client.subscribe_to_market_data("ESZ6", "CME", 1)
        await ours.reconnect()  # by hand: the user chose this terminal
        assert ours.state.phase is Phase.UP and len(ticker_logins(server)) == 3
        await until(lambda: other.state.phase is Phase.FORCED_OUT, "the other session forced out")
        await ours.close()
        await other.close()

    run(main)


def test_while_the_gateway_does_not_answer_logins_the_session_retries_says_why_and_comes_back():
    async def main(server: FakeRithmic) -> None:
        session = session_for(server)
        session.login_timeout_s = 0.2

        async def broken_hook() -> None:
            raise RuntimeError("reconciliation failed")

        session.on_plant_up("ticker", broken_hook)  # a failing hook is logged, never blocks the session
        await session.open({"ticker"})
        assert session.state.phase is Phase.UP
        server.hold_logins = True
        await server.drop(server.live(TICKER)[0])
        await until(lambda: "no answer within 0.2 s" in session.state.reason, "the reason")
        assert session.state.phase is Phase.RECONNECTING
        assert session.state.reason.startswith("ticker plant connection lost (last error: ticker: rithmic ticker plant")
        server.hold_logins = False
        await until(lambda: session.state.phase is Phase.UP, "UP again")
        assert session.logins == {"ticker": 2}
        await session.close()

    run(main)


def test_a_login_that_never_answers_is_an_error_after_the_timeout():
    async def main(server: FakeRithmic) -> None:
        server.hold_logins = True
        session = session_for(server)
        session.login_timeout_s = 0.2
        with pytest.raises(SessionError, match=r"rithmic ticker plant: login failed: no answer within 0\.2 s"):
            await session.open({"ticker"})
        assert session.state.phase is Phase.CLOSED

    run(main)


def test_a_manual_reconnect_that_fails_says_why_and_leaves_the_session_retrying():
    async def main(server: FakeRithmic) -> None:
        ours, other = session_for(server), session_for(server, app_name="another-terminal")
        ours.login_timeout_s = 0.2
        await ours.open({"ticker"})
        await other.open({"ticker"})
        await until(lambda: ours.state.phase is Phase.FORCED_OUT, "FORCED_OUT")
        await other.close()
        server.hold_logins = True  # the gateway is not answering when the user clicks reconnect
        with pytest.raises(SessionError, match=r"no answer within 0\.2 s"):
            await ours.reconnect()
        assert ours.state.phase is Phase.RECONNECTING
        server.hold_logins = False
        await until(lambda: ours.state.phase is Phase.UP, "UP through the retries")
        await ours.close()

    run(main)
