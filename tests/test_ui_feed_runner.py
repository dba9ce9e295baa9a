"""The feed runner: every event reaches the pipeline, step a bar, jump forward and back in time."""

from __future__ import annotations

import asyncio

import numpy as np
from test_ui_support import all_events, make_session

from tapeflow.core.instruments import instrument
from tapeflow.pipeline import Pipeline
from tapeflow.ui.feed_runner import MIN_STEP_ROWS, STEP_BUDGET_S, FeedState

MINUTE = 60_000_000_000


def test_max_speed_delivers_every_event_then_finishes(tmp_path):
    s = make_session(tmp_path, engine=False)
    total = len(all_events(s))
    s.runner.set_speed(None)
    asyncio.run(s.runner._run())
    assert s.runner.state is FeedState.FINISHED, s.runner.error
    assert s.runner.figures.events == total == s.pipeline.flow.events_seen


def test_step_bar_stops_at_the_end_of_the_minute(tmp_path):
    s = make_session(tmp_path, engine=False)
    ev = all_events(s)
    n = s.runner.step_bar()
    first = int(ev["ts_event"][0])
    end = (first // MINUTE + 1) * MINUTE
    assert n == int(np.searchsorted(ev["ts_event"], end))
    assert s.runner.state is FeedState.PAUSED


def test_jump_back_rebuilds_the_footprint_as_if_played_from_the_start(tmp_path):
    s = make_session(tmp_path, engine=False)
    ev = all_events(s)
    target = int(ev["ts_event"][0]) + 7 * MINUTE + 123

    async def go() -> None:
        await s.runner.jump_to(target + 3 * MINUTE)  # forward
        await s.runner.jump_to(target)  # and back

    asyncio.run(go())
    fresh = Pipeline(instrument("ES"))
    fresh.process(ev[ev["ts_event"] < target])
    assert s.pipeline.flow.bars().same_as(fresh.flow.bars())
    assert s.replay.position == int(np.searchsorted(ev["ts_event"], target))


def test_a_slow_pipeline_gets_its_batches_in_slices_that_fit_the_step_budget(tmp_path):
    # a fake wall clock: every event costs 20 us, so STEP_BUDGET_S (5 ms) holds 250 events; the
    # runner starts with 1024-row slices (20 ms here), and from the measured rate on it must hand
    # back the loop every ~250 rows (it may only grow by x2 a step, never past the budget it measured;
    # never under MIN_STEP_ROWS)
    s = make_session(tmp_path, engine=False)
    clock = [0.0]
    s.runner.wall = lambda: clock[0]
    process = s.pipeline.process
    sizes: list[int] = []

    def slow(batch):
        sizes.append(len(batch))
        clock[0] += 20e-6 * len(batch)
        return process(batch)

    s.pipeline.process = slow
    s.runner.set_speed(None)
    asyncio.run(s.runner._run())
    assert s.runner.state is FeedState.FINISHED, s.runner.error
    assert s.runner.figures.events == len(all_events(s))
    fits = max(MIN_STEP_ROWS, int(STEP_BUDGET_S / 20e-6))
    assert len(sizes) > 3 and max(sizes) <= 1024 and max(sizes[3:]) <= fits


def test_jump_back_starts_the_rules_over_so_they_fire_what_a_first_play_fires(tmp_path):
    s = make_session(tmp_path, engine=True)
    assert s.engine is not None
    ev = all_events(s)
    end = int(ev["ts_event"][-1]) + 1

    def key(sig) -> tuple:
        return (sig.rule, sig.ts_ns, sig.side, sig.price)

    async def go() -> tuple[list, list]:
        await s.runner.jump_to(end)  # a first play to the end
        first = [key(x) for x in s.pipeline.signals]
        await s.runner.jump_to(int(ev["ts_event"][0]))  # back to the start
        await s.runner.jump_to(end)  # and the same rows again
        return first, [key(x) for x in s.pipeline.signals]

    first, again = asyncio.run(go())
    assert len(first) > 5
    assert again == first
