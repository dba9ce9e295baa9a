"""The ``rithmic:`` feed spec and ``tapeflow webhook --feed rithmic:ES --broker rithmic --live``: the
feed and the broker on ONE Rithmic session, over real sockets against the fake gateway (ticker,
order and P&L plants on one ``FakeRithmic``)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import aiohttp
import numpy as np
import pytest

from tapeflow.cli import build_parser, main
from tapeflow.core.events import EVENT_DTYPE, Kind
from tapeflow.errors import TapeflowError
from tapeflow.feeds.live_rithmic import RithmicLiveSource, parse_rithmic_spec
from tapeflow.feeds.open import open_source
from tapeflow.feeds.replay import Replay

RITHMIC_ENV = ("RITHMIC_USER", "RITHMIC_PASSWORD", "RITHMIC_SYSTEM", "RITHMIC_URL")


# -- the spec ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "symbol", "expected"), [
    ("rithmic:ES", None, ("ES", "CME", 10)),  # a bare root: the front month, asked of Rithmic
    ("rithmic:ESZ6", None, ("ESZ6", "CME", 10)),
    ("rithmic:MESZ2026?exchange=cme&depth=5", None, ("MESZ6", "CME", 5)),  # any dated form -> Rithmic's
    ("rithmic://NQ 12-26", None, ("NQZ6", "CME", 10)),
    ("rithmic:", "MNQ", ("MNQ", "CME", 10)),  # --symbol names it
    ("rithmic:ES1!?depth=0", None, ("ES", "CME", 0)),  # ES1! is the front month; depth 0: BBO only
])
def test_a_rithmic_spec_names_the_contract_as_rithmic_does_and_its_options(spec, symbol, expected):
    assert parse_rithmic_spec(spec, symbol) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("rithmic:ES?depht=5", r"unknown option 'depht' \(known: exchange, depth\)"),
    ("rithmic:ES?depth=ten", "depth must be a number of DOM levels"),
    ("rithmic:ES?depth=99", "depth must be a number of DOM levels"),
    ("rithmic:ES2!", "front month .* or a dated contract"),
    ("rithmic:", "name the instrument"),
    ("rithmic:CL", "cannot parse instrument symbol 'CL'"),
    ("rithmic:ES?exchange=C;E", "exchange must be a name like CME"),
])
def test_a_bad_rithmic_spec_is_refused_naming_what_is_wrong(spec, message):
    with pytest.raises(TapeflowError, match=message):
        parse_rithmic_spec(spec)


def test_without_credentials_the_rithmic_feed_says_which_are_missing_without_a_traceback(monkeypatch, capsys):
    pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
    for k in RITHMIC_ENV:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setitem(__import__("sys").modules, "keyring", None)  # no keyring entry either
    with pytest.raises(TapeflowError, match=r"rithmic:ES: RITHMIC_USER is not set"):
        open_source("rithmic:ES")
    assert main(["footprint", "rithmic:ES"]) == 2
    err = capsys.readouterr().err
    assert "RITHMIC_USER is not set" in err and "Traceback" not in err


def test_without_the_rithmic_extra_the_spec_names_the_extra_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "async_rithmic" else real(name, *a))
    with pytest.raises(TapeflowError, match=r"rithmic:ES: the Rithmic feed needs the rithmic extra: pip install"):
        open_source("rithmic:ES")


def test_the_spec_opens_a_feed_on_a_session_built_from_the_rithmic_settings_and_env(monkeypatch):
    pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
    for k, v in (("RITHMIC_USER", "trader"), ("RITHMIC_PASSWORD", "pw"), ("RITHMIC_SYSTEM", "Rithmic Paper Trading"),
                 ("RITHMIC_URL", "gw.example:443")):
        monkeypatch.setenv(k, v)
    src = open_source("rithmic:MESZ6?depth=3")
    assert isinstance(src, RithmicLiveSource) and src.owns_session and src.runs_on_loop
    assert src.info.instrument.root == "MES" and src.info.schema == "rithmic-depth3"
    assert src.connector.symbol == "MESZ6" and src.connector.exchange == "CME"
    assert (src.session.settings.system_name, src.session.settings.url) == ("Rithmic Paper Trading", "gw.example:443")
    assert src.session.state.phase.value == "CLOSED"  # nothing logs in before the feed is read


# -- a replay of a source bound to its loop ---------------------------------------------------------

class _LoopSource:
    """A live source read on the replay's own loop (as the Rithmic feed on its shared session)."""

    runs_on_loop = True

    def __init__(self, batches: list[np.ndarray]) -> None:
        self.batches = batches
        self.loops: list[asyncio.AbstractEventLoop] = []

    def __iter__(self):  # pragma: no cover - must never be used: a reader thread has another loop
        raise AssertionError("a loop-bound source was read on a thread")

    async def _gen(self):
        for b in self.batches:
            self.loops.append(asyncio.get_running_loop())
            await asyncio.sleep(0)
            yield b

    def __aiter__(self):
        return self._gen()


def _events(ts: list[int]) -> np.ndarray:
    out = np.zeros(len(ts), dtype=EVENT_DTYPE)
    out["ts_event"] = ts
    out["kind"] = Kind.TRADE
    return out


def test_a_replay_reads_a_loop_bound_source_on_its_own_loop_and_delivers_each_batch_without_waiting_for_more():
    src = _LoopSource([_events([1, 2]), _events([]), _events([3])])

    async def go() -> tuple[list[list[int]], bool]:
        replay = Replay(src, speed=None, max_batch=8192)
        got = [list(b["ts_event"]) async for b in replay]
        return got, replay.finished

    got, finished = asyncio.run(go())
    assert got == [[1, 2], [3]]  # speed max: what has arrived, never waiting to fill max_batch
    assert finished and len(set(map(id, src.loops))) == 1


# -- tapeflow webhook --feed rithmic:ES --broker rithmic --live --------------------------------------

def _plant_logins(server: Any, plant: int) -> int:
    """Successful logins of ``plant`` (the gateway records the plant of a connection only then)."""
    return sum(1 for c in server.conns if c.infra_type == plant)


async def _until(cond, what: str, rounds: int = 1000) -> None:
    for _ in range(rounds):  # a cap on loop turns, not a timing assert
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_webhook_feed_and_broker_share_one_rithmic_session_through_a_ticker_drop_and_a_forced_logout(
        tmp_path, monkeypatch, capsys):
    pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
    pytest.importorskip("trustme", reason="trustme (test extra) is not installed")
    from async_rithmic.enums import SysInfraType
    from fake_rithmic.ticker import FakeTicker
    from rithmic_venue import Venue, live_mode_on, make_session, webhook_args
    from test_webhook_support import SECRET, start_serving

    import tapeflow.commands.webhook as webhook_cmd
    from tapeflow.rithmic import Phase

    TICKER, ORDER, PNL = SysInfraType.TICKER_PLANT, SysInfraType.ORDER_PLANT, SysInfraType.PNL_PLANT  # noqa: N806
    venue = Venue()
    ticker = FakeTicker(venue.server, front={"ES": "ESZ6"})
    ticker.rest("ESZ6", "b1", 1, 5529.0, 3)
    ticker.rest("ESZ6", "a1", 2, 5529.25, 4)
    live_mode_on(venue, monkeypatch)  # only the client's SSL context trusts the test CA
    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TAPEFLOW_CONFIRM_LIVE", "TF-001")
    opened: list[Any] = []
    real_open = webhook_cmd.open_source
    monkeypatch.setattr(webhook_cmd, "open_source", lambda *a, **kw: opened.append(real_open(*a, **kw)) or opened[-1])

    async def scenario() -> None:
        args = await webhook_args(venue, tmp_path, monkeypatch, "--feed", "rithmic:ES")
        task, stop, server = await start_serving(args)
        (feed,) = opened
        session, account = feed.session, server.account
        try:
            await _until(lambda: any("ESZ6" in subs for subs in ticker.market_data.values()), "the feed subscribed")
            assert [_plant_logins(venue.server, p) for p in (TICKER, ORDER, PNL)] == [1, 1, 1]
            assert account.broker.session is session  # one session: the feed's

            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {"secret": SECRET, "action": "buy", "symbol": "ES1!", "quantity": 1, "stop_ticks": 8, "time": now}
            async with aiohttp.ClientSession() as http, http.post(f"{server.url}/webhook", json=body) as r:
                assert r.status == 200
            await _until(lambda: venue.orders.working(), "the bracket entry at the order plant")
            (entry,) = venue.orders.working()
            await venue.orders.fill(entry.basket_id, 1, 5529.25)
            await _until(lambda: account.ledger.positions.get("ES") is not None
                         and account.ledger.positions["ES"].qty == 1, "the fill booked")
            await ticker.trade("ESZ6", 5530.00, 2, 1, ssboe=int(datetime.now(UTC).timestamp()))
            await _until(lambda: account.ledger.positions["ES"].mark == 22120, "marked at the feed's trade")

            # the ticker plant drops: the session logs it in again, data resumes, orders never noticed
            (tconn,) = venue.server.live(TICKER)
            (oconn,) = venue.server.live(ORDER)
            await venue.server.drop(tconn)
            await _until(lambda: _plant_logins(venue.server, TICKER) == 2 and session.state.phase is Phase.UP,
                         "the ticker plant logged in again")
            await _until(lambda: any("ESZ6" in s for c, s in ticker.market_data.items() if not c.closed),
                         "the feed subscribed again")
            await ticker.trade("ESZ6", 5531.25, 1, 2, ssboe=int(datetime.now(UTC).timestamp()))
            await _until(lambda: account.ledger.positions["ES"].mark == 22125, "data resumed after the drop")
            assert venue.server.live(ORDER) == [oconn] and _plant_logins(venue.server, ORDER) == 1
            assert account.broker.connected and len(venue.orders.submits()) == 1

            # the same user logs in elsewhere: feed and broker both show it, nothing logs in again
            intruder = make_session(venue.server)
            await intruder.open({"ticker", "order"})
            await _until(lambda: session.state.phase is Phase.FORCED_OUT, "our session forced out")
            await _until(lambda: "FORCED_OUT" in (feed.status().last_error or ""), "the feed shows the forced logout")
            await intruder.close()
            before = [_plant_logins(venue.server, p) for p in (TICKER, ORDER)]
            for _ in range(150):  # well past the session's and the feed's first backoff delays
                await asyncio.sleep(0.01)
            assert [_plant_logins(venue.server, p) for p in (TICKER, ORDER)] == before == [3, 2]  # ours + intruder's
            assert not account.broker.connected and session.state.phase is Phase.FORCED_OUT

            # the way back without a restart: POST /reconnect with the secret
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{server.url}/reconnect", json={"secret": "not-it"}) as r:
                    assert r.status == 401
                assert [_plant_logins(venue.server, p) for p in (TICKER, ORDER)] == [3, 2]
                async with http.post(f"{server.url}/reconnect", json={"secret": SECRET}) as r:
                    assert r.status == 200 and (await r.json())["ok"] is True
            await _until(lambda: session.state.phase is Phase.UP and account.broker.connected
                         and not account.broker.reconciling, "reconnected and reconciled")
            assert [_plant_logins(venue.server, p) for p in (TICKER, ORDER, PNL)] == [4, 3, 1]
            await _until(lambda: any(not c.closed and "ESZ6" in s for c, s in ticker.market_data.items()),
                         "the feed subscribed after the reconnect")
            await ticker.trade("ESZ6", 5532.00, 1, 1, ssboe=int(datetime.now(UTC).timestamp()))
            await _until(lambda: account.ledger.positions["ES"].mark == 22128, "data resumed after the reconnect")
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 20) == 0
            await venue.server.stop()
        assert session.state.phase is Phase.CLOSED and venue.server.live() == []

    asyncio.run(scenario())
    out = capsys.readouterr().out
    assert "rithmic session: FORCED_OUT: another session logged in with this user" in out
    assert "broker: forced logout: another session logged in with this user" in out
    assert "/reconnect with the secret in the body logs back in" in out
    assert "-> 401 unauthorized" in out and "-> 200 ok" in out  # both reconnect requests are on the record
    assert "secret\n" not in out and "pw" not in out


def test_webhook_live_takes_only_a_rithmic_feed_and_only_with_the_rithmic_broker(tmp_path, monkeypatch, capsys):
    from test_webhook_support import SECRET

    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)
    base = ["webhook", "--port", "0", "--journal", str(tmp_path / "j.sqlite"), "--live"]
    assert main([*base, "--broker", "projectx", "--feed", "rithmic:ES"]) == 2
    assert "one --feed rithmic:ES shares the broker's session" in capsys.readouterr().err
    assert main([*base, "--broker", "rithmic", "--feed", "sim://rth"]) == 2
    assert "use --symbol, not --feed" in capsys.readouterr().err
    monkeypatch.setenv("RITHMIC_USER", "trader")
    monkeypatch.setenv("RITHMIC_PASSWORD", "pw")
    assert main([*base, "--broker", "rithmic", "--feed", "rithmic:ES", "--symbol", "NQ"]) == 2
    assert "--symbol NQ and --feed rithmic:ES name different instruments" in capsys.readouterr().err
    assert not (tmp_path / "j.sqlite").exists()  # refused before anything opened


def test_reconnect_on_a_paper_server_says_there_is_no_live_connection(tmp_path, monkeypatch):
    from test_webhook_support import SECRET, start_serving

    monkeypatch.setenv("TAPEFLOW_WEBHOOK_SECRET", SECRET)

    async def scenario() -> tuple[int, dict, int]:
        args = build_parser().parse_args(["webhook", "--port", "0", "--feed", "sim://rth?minutes=1",
                                          "--journal", str(tmp_path / "j.sqlite"),
                                          "--kill-switch-file", str(tmp_path / "ks.json")])
        task, stop, server = await start_serving(args)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/reconnect", data=f"secret={SECRET}",  # as curl -d sends it
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
                status, body = r.status, await r.json()
            async with http.post(f"{server.url}/reconnect", data=b"not json") as r:
                unauthorized = r.status
        stop.set()
        await asyncio.wait_for(task, 10)
        return status, body, unauthorized

    status, body, unauthorized = asyncio.run(scenario())
    assert (status, body["code"], unauthorized) == (409, "not_live", 401)


def test_after_a_forced_logout_the_feed_follows_the_manual_reconnect_at_once_not_at_its_next_retry():
    pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
    pytest.importorskip("trustme", reason="trustme (test extra) is not installed")
    from test_rithmic_feed import Reader, run
    from test_rithmic_session import session_for, until

    from tapeflow.feeds.live_feed import Backoff
    from tapeflow.rithmic import Phase

    async def main(server, ticker) -> None:
        session = session_for(server)
        slow = Backoff(initial_s=0.01, max_s=600.0, factor=60_000.0, jitter=0.0)  # retries: 0.01 s, then 600 s
        reader = Reader(RithmicLiveSource("ES", session=session, backoff=slow))
        await until(lambda: reader.count(Kind.CLEAR) == 1, "the depth snapshot")
        other = session_for(server, app_name="another-terminal")
        await other.open({"ticker"})  # the same user elsewhere
        await until(lambda: session.state.phase is Phase.FORCED_OUT, "FORCED_OUT")
        await asyncio.sleep(0.2)  # past the feed's quick first retries
        await other.close()
        await session.reconnect()  # by hand
        await until(lambda: reader.count(Kind.CLEAR) == 2, "the feed back on the reconnected session")
        assert reader.src.status().state.value == "LIVE"
        await reader.stop()
        await session.close()

    run(main)


def test_a_replay_closed_after_its_reader_was_cancelled_mid_pacing_ends_the_live_source():
    """A consumer cancelled in a pacing sleep leaves the source's generator suspended; ``aclose``
    ends it (its connection and session with it)."""
    ended: list[str] = []

    class Source:
        runs_on_loop = True

        async def _gen(self):
            try:
                yield _events([1_000_000_000])
                yield _events([60_000_000_000])  # a minute later in market time: the replay sleeps
                await asyncio.Event().wait()
            finally:
                ended.append("closed")

        def __aiter__(self):
            return self._gen()

    async def go() -> list[str]:
        replay = Replay(Source(), speed=1.0)
        got: list[int] = []

        async def read() -> None:
            async for b in replay:
                got.extend(int(t) for t in b["ts_event"])

        task = asyncio.create_task(read())
        for _ in range(50):
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        before = list(ended)
        await replay.aclose()
        return [*before, "|", *ended, str(got)]

    assert asyncio.run(go()) == ["|", "closed", "[1000000000]"]


def test_a_task_that_swallows_a_cancel_is_cancelled_again_until_it_ends():
    """Python 3.11's ``wait_for`` can swallow a cancel; the feed's reader is cancelled until it stops."""
    from tapeflow.feeds.live_feed import cancel_and_wait

    async def go() -> int:
        swallowed = 0

        async def stubborn() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    if swallowed == 2:
                        raise
                    swallowed += 1

        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        await cancel_and_wait(task, grace_s=0.01)
        assert task.cancelled()
        return swallowed

    assert asyncio.run(go()) == 2
