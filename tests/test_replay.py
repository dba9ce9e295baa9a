"""Replay pacing, pause, seek and step, all on a fake clock (no real sleeping)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import numpy as np
import pytest

from tapeflow.core.events import make_trades
from tapeflow.errors import TapeflowError
from tapeflow.feeds import replay as replay_module
from tapeflow.feeds import scenarios
from tapeflow.feeds.replay import READER_NICE, FakeClock, Replay
from tapeflow.feeds.simulator import MarketSimulator

T0 = 1_719_926_400_000_000_000  # 2024-07-02 13:20 UTC
SEC = 1_000_000_000


def recording(seconds: int = 10, per_second: int = 10) -> np.ndarray:
    """One trade every 1/per_second s from T0 to T0 + seconds (inclusive)."""
    n = seconds * per_second + 1
    ts = T0 + np.arange(n, dtype=np.int64) * (SEC // per_second)
    return make_trades(ts, np.full(n, 22_000), np.ones(n), np.ones(n))


async def collect(replay: Replay, clock: FakeClock | None = None) -> list[tuple[float, np.ndarray]]:
    out = []
    async for batch in replay:
        out.append((clock.now() if clock else 0.0, batch))
    return out


def play(speed: float | None, events: np.ndarray | None = None) -> tuple[FakeClock, list]:
    clock = FakeClock()
    ev = recording() if events is None else events
    got = asyncio.run(collect(Replay(ev, speed=speed, clock=clock), clock))
    return clock, got


def test_real_time_replay_of_ten_seconds_takes_ten_fake_seconds():
    clock, got = play(1.0)
    assert clock.now() == pytest.approx(10.0, abs=0.005)
    assert np.concatenate([b for _, b in got]).tobytes() == recording().tobytes()


def test_ten_x_takes_one_fake_second():
    clock, _ = play(10.0)
    assert clock.now() == pytest.approx(1.0, abs=0.005)


def test_max_speed_never_sleeps():
    clock, got = play(None)
    assert clock.now() == 0.0 and clock.sleeps == 0
    assert sum(len(b) for _, b in got) == 101


def test_each_batch_arrives_when_its_first_event_is_due():
    _, got = play(4.0)
    for t, batch in got:
        due = (int(batch["ts_event"][0]) - T0) / SEC / 4.0
        assert due - 1e-6 <= t <= due + 0.002


def test_events_within_one_quantum_share_a_batch_and_no_sleep_per_event():
    ts = np.array([T0, T0 + 500_000, T0 + 1_000_000, T0 + SEC, T0 + SEC + 100], dtype=np.int64)
    ev = make_trades(ts, [1] * 5, [1] * 5, [1] * 5)
    clock, got = play(1.0, ev)
    assert [len(b) for _, b in got] == [3, 2]
    assert clock.sleeps <= 12  # about one per 0.1 s of waiting, never one per event


def test_batches_are_sliced_at_time_boundaries_in_source_order():
    sim = MarketSimulator(seed=1, duration_ns=20 * SEC)
    whole = np.concatenate(list(sim))
    clock = FakeClock()
    got = asyncio.run(collect(Replay(sim, speed=1.0, clock=clock), clock))
    joined = np.concatenate([b for _, b in got])
    assert (joined["sequence"] == whole["sequence"]).all()
    assert len(got) > 1
    assert clock.now() == pytest.approx((whole["ts_event"][-1] - whole["ts_event"][0]) / SEC, abs=0.01)


def test_pause_holds_delivery_until_resume():
    async def scenario():
        clock = FakeClock()
        r = Replay(recording(), speed=1.0, clock=clock)
        first = await r.__anext__()
        r.pause()
        paused_at = r.time_ns
        waiting = asyncio.create_task(r.__anext__())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done() and r.paused
        assert r.time_ns == paused_at
        t_resume = clock.now()
        r.resume()
        second = await waiting
        return first, second, clock.now() - t_resume

    first, second, waited = asyncio.run(scenario())
    assert first["ts_event"][0] == T0
    assert second["ts_event"][0] == T0 + SEC // 10
    assert waited == pytest.approx(0.1, abs=0.003)  # resumes from the frozen time, not from 0


def test_seek_backward_after_the_end_replays_from_the_retained_events():
    async def scenario():
        r = Replay(recording(), speed=None)
        await collect(r)
        assert r.finished
        r.seek(T0 + 5 * SEC)
        assert not r.finished and r.time_ns == T0 + 5 * SEC
        return await collect(r)

    rest = np.concatenate([b for _, b in asyncio.run(scenario())])
    assert rest["ts_event"][0] == T0 + 5 * SEC
    assert len(rest) == 51


def test_seek_forward_loads_a_lazy_source_only_as_far_as_needed():
    def batches():
        ev = recording()
        for i in range(0, len(ev), 10):
            yield ev[i : i + 10]

    r = Replay(batches(), speed=None)
    r.seek(T0 + 3 * SEC + 1)
    assert r.position == 31
    assert r._n < 101  # the rest of the source is still unread
    got = asyncio.run(collect(r))
    assert got[0][1]["ts_event"][0] == T0 + 3 * SEC + SEC // 10


def test_seek_then_paced_play_waits_only_for_the_remaining_time():
    clock = FakeClock()
    r = Replay(recording(), speed=1.0, clock=clock)
    r.seek(T0 + 8 * SEC)
    asyncio.run(collect(r, clock))
    assert clock.now() == pytest.approx(2.0, abs=0.005)


def test_set_speed_mid_replay():
    async def scenario():
        clock = FakeClock()
        r = Replay(recording(), speed=1.0, clock=clock)
        async for batch in r:
            if batch["ts_event"][-1] >= T0 + 5 * SEC:
                r.set_speed(5.0)
        return clock.now()

    assert asyncio.run(scenario()) == pytest.approx(5.0 + 5.0 / 5.0, abs=0.01)


def test_step_events_and_step_bar():
    ev, facts = scenarios.delta_divergence()
    r = Replay(ev, speed=1.0, clock=FakeClock())
    r.pause()
    three = r.step_events(3)
    assert len(three) == 3 and r.position == 3
    bar1 = r.step_bar(scenarios.BAR_NS)
    n_bar1 = int((ev["ts_event"] < facts.bars[1].bar_start_ns).sum())
    assert len(bar1) == n_bar1 - 3
    assert r.time_ns == facts.bars[1].bar_start_ns - 1
    bar2 = r.step_bar(scenarios.BAR_NS)
    assert len(bar2) == len(ev) - n_bar1
    assert r.finished
    assert len(r.step_bar()) == 0


def test_bad_speed_and_bad_step_are_user_errors():
    with pytest.raises(TapeflowError, match="speed"):
        Replay(recording(), speed=0)
    r = Replay(recording(), speed=None)
    with pytest.raises(TapeflowError, match="speed"):
        r.set_speed(-2)
    with pytest.raises(TapeflowError, match="step"):
        r.step_events(0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is a Linux feature")
def test_source_is_read_on_a_lowest_priority_thread_so_the_loop_thread_keeps_the_cpu():
    seen: list[tuple[int, int]] = []  # (thread id, niceness) of each read

    def source():
        for k in range(3):
            seen.append((threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
            yield recording(1)[k * 3:(k + 1) * 3]

    async def main() -> int:
        n = 0
        async for batch in Replay(source(), speed=None):
            n += len(batch)
        return n

    assert asyncio.run(main()) == 9
    assert seen and all(tid != threading.get_native_id() for tid, _ in seen)
    assert all(nice == READER_NICE for _, nice in seen)


def test_the_growing_store_is_copied_on_the_reader_thread_and_keeps_every_event(monkeypatch):
    calls: list[int] = []  # thread id of every growth
    real = replay_module._grown

    def spy(buf, n, need):
        calls.append(threading.get_native_id())
        return real(buf, n, need)

    monkeypatch.setattr(replay_module, "_grown", spy)
    ev = recording(seconds=300)  # 3,001 trades in batches of 500: the store grows from 0 to 4,096 rows
    batches = [ev[k:k + 500] for k in range(0, len(ev), 500)]

    async def main() -> np.ndarray:
        return np.concatenate([b async for b in Replay(iter(batches), speed=None, max_batch=700)])

    got = asyncio.run(main())
    assert np.array_equal(got, ev)
    assert calls and all(tid != threading.get_native_id() for tid in calls)
