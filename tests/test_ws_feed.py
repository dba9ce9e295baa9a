"""Websocket feed end to end on loopback: exact delivery, resume after a server crash, garbage and
oversized frames, heartbeat timeout, sequence gaps, staleness, back-pressure accounting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from tapeflow.core.events import EVENT_DTYPE, Kind, make_trades
from tapeflow.core.instruments import instrument
from tapeflow.errors import TapeflowError
from tapeflow.feeds import wire
from tapeflow.feeds.base import FeedInfo
from tapeflow.feeds.dbn_file import DbnFileSource
from tapeflow.feeds.live_feed import Backoff, FeedState
from tapeflow.feeds.ws_feed import WebsocketSource
from tapeflow.feeds.ws_server import FeedServer

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter=0.0)
TIMEOUT_S = 10.0


def run(coro: Awaitable) -> object:
    async def bounded() -> object:
        return await asyncio.wait_for(coro, TIMEOUT_S)

    return asyncio.run(bounded())


def file_events(path) -> np.ndarray:
    return np.concatenate(list(DbnFileSource(path)))


def trades(n: int, first_ts: int = 1_719_878_400_000_000_000) -> np.ndarray:
    ts = first_ts + np.arange(n, dtype=np.int64) * 1_000_000
    return make_trades(ts, 22_000 + np.arange(n) % 7, np.ones(n, dtype=np.int32), np.where(np.arange(n) % 2, 1, -1))


async def collect(client: WebsocketSource, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    parts = []
    total = 0
    async for batch in client:
        parts.append(batch)
        total += len(batch)
        if on_batch is not None:
            on_batch(total)
    return np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)


# ------------------------------------------------------------------ exact delivery


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_events_received_over_the_feed_equal_the_file_byte_for_byte(mbp1_file, encoding):
    expected = file_events(mbp1_file)

    async def main() -> tuple[np.ndarray, WebsocketSource]:
        async with FeedServer(DbnFileSource(mbp1_file), max_batch_rows=300) as server:
            client = WebsocketSource(server.url, start_event=0, encoding=encoding, policy="block", backoff=FAST)
            return await collect(client), client

    got, client = run(main())
    assert got.tobytes() == expected.tobytes()
    status = client.status()
    assert status.state is FeedState.ENDED
    assert status.gaps == 0 and status.events_lost == 0 and status.reconnects == 0
    assert client.info.schema == "mbp-1" and client.info.instrument.root == "ES" and client.info.symbols == ["ESU4"]
    assert client.stats.trades == 120 and client.stats.trade_volume == 253


def test_a_late_subscriber_without_start_event_gets_live_data_only():
    async def main() -> np.ndarray:
        server = FeedServer(None)
        await server.start()
        server.publish(trades(10))
        client = WebsocketSource(server.url, policy="block", backoff=FAST)  # live: from the next event
        task = asyncio.create_task(collect(client))
        while not server._clients:
            await asyncio.sleep(0.001)
        server.publish(trades(3, first_ts=2_000_000_000_000_000_000))
        server.end_stream()
        got = await task
        await server.stop()
        return got

    got = run(main())
    assert len(got) == 3 and int(got["ts_event"][0]) == 2_000_000_000_000_000_000


# ------------------------------------------------------------------ server crash and restart


def test_server_killed_mid_stream_and_restarted_client_resumes_and_loses_nothing(mbp1_file):
    expected = file_events(mbp1_file)
    half = 1200

    async def first_half():
        yield expected[:half]
        await asyncio.Event().wait()  # the recording "stalls" here until the server dies

    async def main() -> tuple[np.ndarray, WebsocketSource]:
        server1 = FeedServer(first_half(), max_batch_rows=400)
        await server1.start()
        reached = asyncio.Event()
        client = WebsocketSource(server1.url, start_event=0, policy="block", backoff=FAST, max_attempts=50)
        task = asyncio.create_task(collect(client, lambda n: n >= half and reached.set()))
        await reached.wait()
        await server1.stop(abort=True)  # a crash: no close handshake
        server2 = FeedServer(DbnFileSource(mbp1_file), port=server1.port, max_batch_rows=400)
        await server2.start()
        got = await task
        await server2.stop()
        return got, client

    got, client = run(main())
    assert got.tobytes() == expected.tobytes()
    status = client.status()
    assert status.reconnects == 1 and status.events_lost == 0
    outage = [g for g in client.gaps if g.kind == "outage"]
    assert len(outage) == 1 and outage[0].recovered and outage[0].missing == 0 and outage[0].at_event == half
    assert "resumed at event 1,200" in outage[0].detail


def test_restarted_server_that_no_longer_has_the_events_reports_exactly_how_many_were_lost(mbp1_file):
    expected = file_events(mbp1_file)
    half, kept = 1000, 100

    async def first_half():
        yield expected[:half]
        await asyncio.Event().wait()

    async def main() -> tuple[np.ndarray, WebsocketSource]:
        server1 = FeedServer(first_half())
        await server1.start()
        reached = asyncio.Event()
        client = WebsocketSource(server1.url, start_event=0, policy="block", backoff=FAST, max_attempts=50)
        task = asyncio.create_task(collect(client, lambda n: n >= half and reached.set()))
        await reached.wait()
        await server1.stop(abort=True)
        server2 = FeedServer(None, port=server1.port, retain_events=kept)  # only the last 100 events kept
        server2.publish(expected)
        server2.end_stream()
        await server2.start()
        got = await task
        await server2.stop()
        return got, client

    got, client = run(main())
    n = len(expected)
    assert got.tobytes() == np.concatenate([expected[:half], expected[n - kept :]]).tobytes()
    assert client.status().events_lost == n - kept - half
    lost = [g for g in client.gaps if g.kind == "events"]
    assert len(lost) == 1 and lost[0].at_event == half and lost[0].missing == n - kept - half


# ------------------------------------------------------------------ scripted misbehaving servers


Script = Callable[[ServerConnection, wire.Subscribe], Awaitable[None]]


async def scripted_server(scripts: list[Script], subs: list[wire.Subscribe]):
    """A server whose Nth connection runs the Nth script (the last one repeats)."""
    count = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal count
        sub, _ = wire.decode_subscribe(await ws.recv())
        subs.append(sub)
        script = scripts[min(count, len(scripts) - 1)]
        count += 1
        await script(ws, sub)

    return await serve(handler, "127.0.0.1", 0, compression=None)


def hello(start: int = 0) -> bytes:
    return wire.encode(wire.Hello(0, 1, "test", "trades", "ES", start_event=start), "msgpack")


def batch(events: np.ndarray, seq: int, first: int) -> bytes:
    return wire.encode(wire.make_batch(events, seq, 1, first, "msgpack"), "msgpack")


def end(seq: int, next_event: int) -> bytes:
    return wire.encode(wire.End(seq, 1, next_event), "msgpack")


def sends_all(data: np.ndarray) -> Script:
    """A well-behaved connection: hello, every event in one batch, end."""

    async def script(ws: ServerConnection, sub: wire.Subscribe) -> None:
        await ws.send(hello(sub.from_event or 0))
        await ws.send(batch(data, 1, 0))
        await ws.send(end(2, len(data)))

    return script


def url_of(server) -> str:
    return f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"


def test_garbage_and_oversized_frames_are_clear_errors_then_a_reconnect_not_a_crash():
    data = trades(5)

    async def garbage(ws, sub):
        await ws.send(hello())
        await ws.send(b"\xc1 this is not msgpack")
        await asyncio.sleep(1)

    async def oversized(ws, sub):
        await ws.send(hello())
        await ws.send(b"\x00" * 200_000)
        await asyncio.sleep(1)

    async def good(ws, sub):
        await ws.send(hello(sub.from_event or 0))
        await ws.send(batch(data, 1, 0))
        await ws.send(end(2, len(data)))

    async def main() -> tuple[np.ndarray, WebsocketSource]:
        subs: list[wire.Subscribe] = []
        server = await scripted_server([garbage, oversized, good], subs)
        client = WebsocketSource(url_of(server), start_event=0, max_frame_bytes=100_000, backoff=FAST)
        got = await collect(client)
        server.close()
        return got, client

    got, client = run(main())
    assert got.tobytes() == data.tobytes()
    assert client.status().reconnects == 2
    assert "undecodable binary frame of 21 bytes" in client.errors[0]
    assert "frame larger than max_frame_bytes=100,000" in client.errors[1]


def test_silent_server_trips_the_heartbeat_timeout_and_the_client_reconnects():
    data = trades(4)

    async def silent(ws, sub):
        await ws.send(hello())
        await asyncio.sleep(5)

    async def good(ws, sub):
        await ws.send(hello(sub.from_event or 0))
        await ws.send(batch(data, 1, 0))
        await ws.send(end(2, 4))

    async def main() -> tuple[np.ndarray, WebsocketSource]:
        server = await scripted_server([silent, good], [])
        client = WebsocketSource(url_of(server), start_event=0, heartbeat_timeout_s=0.1, backoff=FAST)
        got = await collect(client)
        server.close()
        return got, client

    got, client = run(main())
    assert len(got) == 4
    assert client.errors == ["no message for 0.1 s (heartbeat timeout)"]
    assert client.status().reconnects == 1


def test_sequence_gap_is_warned_and_recovered_by_replaying_from_the_missing_event():
    data = trades(10)

    async def skipping(ws, sub):  # sends events 0-1, then jumps to 5
        await ws.send(hello(0))
        await ws.send(batch(data[0:2], 1, 0))
        await ws.send(batch(data[5:10], 2, 5))
        await asyncio.sleep(1)

    async def replaying(ws, sub):
        start = sub.from_event or 0
        await ws.send(hello(start))
        await ws.send(batch(data[start:], 1, start))
        await ws.send(end(2, 10))

    async def main() -> tuple[np.ndarray, WebsocketSource, list[wire.Subscribe]]:
        subs: list[wire.Subscribe] = []
        server = await scripted_server([skipping, replaying], subs)
        client = WebsocketSource(url_of(server), start_event=0, backoff=FAST)
        got = await collect(client)
        server.close()
        return got, client, subs

    got, client, subs = run(main())
    assert got.tobytes() == data.tobytes()
    assert [s.from_event for s in subs] == [0, 2]
    assert "gap: expected event 2, stream is at 5" in client.errors[0]
    assert client.status().events_lost == 0


def test_message_sequence_jump_is_a_visible_warning():
    data = trades(4)

    async def jumpy(ws, sub):
        await ws.send(hello(0))
        await ws.send(batch(data[:2], 1, 0))
        await ws.send(batch(data[2:], 3, 2))  # seq 2 never came
        await ws.send(end(4, 4))

    async def main() -> WebsocketSource:
        server = await scripted_server([jumpy], [])
        client = WebsocketSource(url_of(server), start_event=0, backoff=FAST)
        await collect(client)
        server.close()
        return client

    client = run(main())
    assert [(g.kind, g.detail) for g in client.gaps] == [("messages", "message sequence jumped from 1 to 3")]


def test_refused_connections_give_up_after_max_attempts_with_the_reason():
    async def main() -> None:
        server = await serve(lambda ws: None, "127.0.0.1", 0)
        url = url_of(server)
        server.close()
        await server.wait_closed()
        client = WebsocketSource(url, start_event=0, max_attempts=3, backoff=FAST)
        await collect(client)

    with pytest.raises(TapeflowError, match=r"giving up after 3 failed connection attempts; last error: connect"):
        run(main())


# ------------------------------------------------------------------ staleness and back-pressure


def test_stale_after_no_data_for_stale_after_s_then_live_again_on_data():
    """The feed's state, and what it tells the auto-trader (``entry_hold``, asked before each
    automatic entry): hold while not LIVE, or when the signal is older than ``max_signal_age_s``."""
    now, wall = [100.0], [2_000_000_000_000_000_000]
    sig = SimpleNamespace(ts_ns=wall[0] - 500_000_000)  # 0.5 s old

    async def main() -> tuple[list[FeedState], list[str | None]]:
        server = FeedServer(None, heartbeat_s=0.02)
        await server.start()
        client = WebsocketSource(server.url, start_event=0, stale_after_s=2.0, max_signal_age_s=2.0, backoff=FAST,
                                 clock=lambda: now[0], wall_ns=lambda: wall[0])
        seen: list[FeedState] = []
        holds = [client.entry_hold(sig)]  # still connecting
        got = asyncio.Event()

        async def consume() -> None:
            async for _ in client:
                got.set()

        task = asyncio.create_task(consume())
        server.publish(trades(2))
        await got.wait()
        got.clear()
        seen.append(client.status().state)
        holds.append(client.entry_hold(sig))  # live, a fresh signal
        wall[0] += 2_000_000_000  # the same signal 2 s later
        holds.append(client.entry_hold(sig))
        wall[0] -= 2_000_000_000
        now[0] += 2.5  # no data for 2.5 s of (fake) time, heartbeats still flowing
        await asyncio.sleep(0.05)
        seen.append(client.status().state)
        seen.append(FeedState.STALE if client.stale else FeedState.LIVE)
        holds.append(client.entry_hold(sig))
        server.publish(trades(1))
        await got.wait()
        seen.append(client.status().state)
        server.end_stream()
        await task
        seen.append(client.status().state)
        holds.append(client.entry_hold(sig))
        await server.stop()
        return seen, holds

    seen, holds = run(main())
    assert seen == [FeedState.LIVE, FeedState.STALE, FeedState.STALE, FeedState.LIVE, FeedState.ENDED]
    assert holds[1] is None
    assert "connecting" in holds[0] and "stale" in holds[3] and "ended" in holds[4]
    assert holds[2] == "signal 2.5 s old (limit 2 s): automatic entries hold"


def _feed(policy: str, **kw) -> WebsocketSource:
    return WebsocketSource("ws://127.0.0.1:9", policy=policy, **kw)


def test_coalesce_policy_merges_batches_when_the_queue_is_full_and_counts_it():
    async def main() -> tuple[WebsocketSource, list[int]]:
        feed = _feed("coalesce", max_queue_batches=2)
        for n in (1, 2, 3, 4):
            await feed._put(trades(n), None)
        return feed, [len(b) for b, _ in feed._queue]

    feed, sizes = run(main())
    assert sizes == [1, 2 + 3 + 4]
    assert feed.status().coalesced_batches == 2 and feed.status().dropped_events == 0


def test_drop_oldest_policy_counts_every_dropped_event_and_warns():
    async def main() -> tuple[WebsocketSource, list[int]]:
        feed = _feed("drop_oldest", max_queue_batches=2)
        for n in (1, 2, 3, 4):
            await feed._put(trades(n), None)
        return feed, [len(b) for b, _ in feed._queue]

    feed, sizes = run(main())
    assert sizes == [3, 4]
    status = feed.status()
    assert status.dropped_events == 3 and status.events_lost == 3 and status.gaps == 2
    assert status.last_warning == "consumer too slow: dropped 2 queued events"


def test_coalesce_drops_oldest_events_only_past_the_event_cap():
    async def main() -> WebsocketSource:
        feed = _feed("coalesce", max_queue_batches=10, max_queue_events=5)
        for n in (2, 2, 3):
            await feed._put(trades(n), None)
        return feed

    feed = run(main())
    assert [len(b) for b, _ in feed._queue] == [2, 3]
    assert feed.status().dropped_events == 2


def test_block_policy_waits_for_the_consumer_instead_of_dropping():
    async def main() -> tuple[bool, int]:
        feed = _feed("block", max_queue_batches=1)
        await feed._put(trades(1), None)
        blocked = asyncio.create_task(feed._put(trades(2), None))
        await asyncio.sleep(0.01)
        was_blocked = not blocked.done()
        feed._queue.popleft()
        feed._queued_events -= 1
        feed._space.set()
        await blocked
        return was_blocked, feed.status().dropped_events

    assert run(main()) == (True, 0)


# ------------------------------------------------------------------ wire format and backoff


def test_json_and_msgpack_batches_decode_to_the_same_rows():
    rows = trades(3)
    rows["kind"][1] = Kind.LEVEL
    for enc in ("msgpack", "json"):
        msg = wire.decode_server(wire.encode(wire.make_batch(rows, 7, 123, 40, enc), enc))
        assert isinstance(msg, wire.Batch) and (msg.seq, msg.sent_ns, msg.first_event, msg.n) == (7, 123, 40, 3)
        assert wire.batch_events(msg).tobytes() == rows.tobytes()


def test_json_batch_is_readable_columns_of_integers():
    text = wire.encode(wire.make_batch(trades(1), 1, 5, 0, "json"), "json")
    assert isinstance(text, str) and '"type":"batch"' in text and '"price":[22000]' in text


def test_malformed_batches_name_what_is_wrong():
    with pytest.raises(wire.WireError, match="56 bytes of rows for n=2"):
        wire.batch_events(wire.Batch(1, 0, 0, 2, rows=b"\x00" * 56))
    with pytest.raises(wire.WireError, match="column 'ts_recv' missing"):
        wire.batch_events(wire.Batch(1, 0, 0, 1, columns={"ts_event": [1]}))
    with pytest.raises(wire.WireError, match="undecodable text frame"):
        wire.decode_server('{"type": "nope"}')


def test_backoff_doubles_up_to_the_cap_and_jitter_shortens_it():
    b = Backoff(initial_s=0.1, max_s=1.0, factor=2.0, jitter=0.5)
    assert [b.delay(k, 0.0) for k in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert b.delay(2, 1.0) == 0.2


def test_feed_info_comes_from_the_servers_hello():
    info = FeedInfo(source="x", schema="trades", instrument=instrument("NQ"))

    async def main() -> WebsocketSource:
        server = FeedServer(None, info=info)
        server.publish(trades(1))
        server.end_stream()
        await server.start()
        client = WebsocketSource(server.url, start_event=0)
        await collect(client)
        await server.stop()
        return client

    client = run(main())
    assert client.info.instrument.root == "NQ" and client.info.schema == "trades"


def test_iterating_a_finished_feed_again_reads_the_stream_again(mbp1_file):
    expected = file_events(mbp1_file)

    async def main() -> tuple[np.ndarray, np.ndarray, int]:
        async with FeedServer(DbnFileSource(mbp1_file)) as server:
            client = WebsocketSource(server.url, start_event=0, policy="block")
            first = await collect(client)
            second = await collect(client)
            return first, second, client.stats.trades

    first, second, trades_counted = run(main())
    assert first.tobytes() == expected.tobytes() == second.tobytes()
    assert trades_counted == 120  # stats restart with the stream, like re-reading a file


def test_server_that_resends_the_same_events_then_stalls_is_given_up_on_with_the_reason():
    """A server that replays events 0-99 on every connection and then goes silent: the client
    must notice that reconnecting makes no progress, stop after ``max_stalls`` tries, and never
    report the outages as 'nothing lost'."""
    data = trades(100)

    async def replay_then_stall(ws, sub):
        await ws.send(hello(0))
        await ws.send(batch(data, 1, 0))  # always 0-99, whatever the client asked for
        await asyncio.sleep(5)

    async def main() -> tuple[np.ndarray, WebsocketSource, list[wire.Subscribe], str]:
        subs: list[wire.Subscribe] = []
        server = await scripted_server([replay_then_stall], subs)
        client = WebsocketSource(url_of(server), start_event=0, heartbeat_timeout_s=0.1, backoff=FAST, max_stalls=3)
        parts: list[np.ndarray] = []
        with pytest.raises(TapeflowError) as err:
            async for b in client:
                parts.append(b)
        server.close()
        return np.concatenate(parts), client, subs, str(err.value)

    got, client, subs, message = run(main())
    assert got.tobytes() == data.tobytes()  # the 100 events once, duplicates trimmed
    assert [s.from_event for s in subs] == [0, 100, 100, 100]  # first try + 3 reconnects without progress
    assert "giving up after 3 reconnects without progress" in message
    assert "stops at event 100 every time; nothing from there on was received" in message
    status = client.status()
    assert status.state is FeedState.ENDED and status.last_error == message
    assert status.duplicates_trimmed == 300
    assert not any("nothing lost" in g.detail for g in client.gaps)


def test_connections_that_only_had_heartbeats_are_a_quiet_market_not_a_stall():
    data = trades(3)

    async def quiet_then_drop(ws, sub):
        await ws.send(hello(sub.from_event or 0))
        await ws.send(wire.encode(wire.Heartbeat(1, 1, sub.from_event or 0), "msgpack"))
        await ws.close()

    async def main() -> tuple[np.ndarray, WebsocketSource]:
        server = await scripted_server([quiet_then_drop] * 5 + [sends_all(data)], [])
        client = WebsocketSource(url_of(server), start_event=0, backoff=FAST, max_stalls=2)
        got = await collect(client)
        server.close()
        return got, client

    got, client = run(main())
    assert got.tobytes() == data.tobytes()
    assert client.status().reconnects == 5
