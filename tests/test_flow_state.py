import numpy as np

from tapeflow.core.events import K_TRADE, concat, make_trades
from tapeflow.core.instruments import instrument
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.feeds.simulator import MarketSimulator
from tapeflow.flow.bars import parse_bar_spec
from tapeflow.flow.footprint_batch import build_footprint
from tapeflow.flow.state import FlowSettings, FlowState


def test_flow_state_bars_equal_the_batch_build_of_the_same_stream():
    sim = MarketSimulator(seed=11, n_trades=20_000, batch_size=3_000)
    state = FlowState(instrument("ES"), FlowSettings(bar="1m"))
    parts = []
    for batch in sim:
        state.update(batch)
        parts.append(batch)
    whole = np.concatenate(parts)
    assert state.bars().same_as(build_footprint(whole, parse_bar_spec("1m")))
    snap = state.snapshot()
    assert snap.profile.volume == int(whole["size"][whole["kind"] == 1].sum())
    assert snap.last_price == int(whole["price"][whole["kind"] == 1][-1])
    assert len(snap.tape) == 2000 and snap.tape["ts_event"][-1] == whole["ts_event"][whole["kind"] == 1][-1]
    bid, ask = snap.depth.bid_price[0], snap.depth.ask_price[0]
    assert bid < ask


def test_a_new_session_archives_the_profile_and_starts_a_fresh_one():
    day1 = iso_to_ns("2024-07-02T14:00:00Z")
    day2 = iso_to_ns("2024-07-03T14:00:00Z")
    state = FlowState(instrument("ES"))
    up1 = state.update(make_trades([day1, day1 + 1], [100, 101], [5, 3], [1, -1]))
    up2 = state.update(make_trades([day2], [90], [2], [1]))
    assert not up1.new_session and up2.new_session
    assert state.prior_profile.volume == 8 and state.prior_profile.poc == 100
    assert state.snapshot().profile.volume == 2


def test_tape_keeps_the_most_recent_trades_in_order():
    state = FlowState(instrument("ES"), FlowSettings(tape_length=5))
    t0 = iso_to_ns("2024-07-02T14:00:00Z")
    for i in range(4):
        state.update(make_trades([t0 + 3 * i, t0 + 3 * i + 1, t0 + 3 * i + 2], [i] * 3, [1, 2, 3], [1, 1, 1]))
    tape = state.tape()
    assert tape["ts_event"].tolist() == [t0 + k for k in range(7, 12)]


def _state_fingerprint(state: FlowState) -> dict:
    snap = state.snapshot()
    lo, hi = int(snap.profile_prices[0]), int(snap.profile_prices[-1])
    ladder = state.book.ladder(lo, hi)
    return {
        "bars": state.bars(),
        "profile": (snap.profile_prices.tolist(), snap.profile_bid.tolist(), snap.profile_ask.tolist(),
                    state.profile.unknown.tolist()),
        "prior": state.prior_profiles,
        "depth": [getattr(snap.depth, f).tolist() for f in ("bid_price", "bid_size", "ask_price", "ask_size")],
        "traded": (ladder.traded_at_bid.tolist(), ladder.traded_at_ask.tolist()),
        "tape": snap.tape.tobytes(),
        "last": (snap.last_price, snap.last_ts, snap.session, snap.events_seen),
    }


def test_live_sized_batches_leave_the_same_state_as_file_sized_ones_across_a_session_change():
    """Batches of a few rows take the scalar path, bigger ones numpy: both must give the same state."""
    from tapeflow.core.events import concat

    start = iso_to_ns("2024-07-02T20:50:00Z")  # 16:50 ET: the halt at 17:00 and the 18:00 open follow
    sim = MarketSimulator(seed=5, n_trades=6_000, start=start)
    events = concat(list(sim))
    events["side"][::97] = 0  # some prints without an aggressor side
    gap = events["ts_event"] >= iso_to_ns("2024-07-02T20:59:00Z")
    events["ts_event"][gap] += 75 * 60 * 10**9  # jump over the halt into the next session
    fingerprints = []
    for size in (len(events), 4096, 65, 64, 17, 3, 1):
        state = FlowState(instrument("ES"), FlowSettings(bar="1m"))
        for i in range(0, len(events), size):
            state.update(events[i : i + size])
        fingerprints.append(_state_fingerprint(state))
    assert len(fingerprints[0]["prior"]) == 1, "the stream must cross a session change"
    for fp in fingerprints[1:]:
        assert fp["bars"].same_as(fingerprints[0]["bars"])
        for key in ("profile", "prior", "depth", "traded", "tape", "last"):
            assert fp[key] == fingerprints[0][key], key


def _fresh_snapshot_parts(state: FlowState) -> dict:
    """What a snapshot shows, computed from scratch (no cache of the state's involved)."""
    prof = state.profile
    return {
        "bars": state.builder.bars(),
        "profile": (prof.prices.tolist(), prof.bid.tolist(), prof.ask.tolist()),
        "summary": prof.summary(),
        "prior": state.prior_profile,
        "tape": state.tape().tobytes(),
        "depth": [getattr(state.book.depth(state.settings.depth_levels), f).tolist()
                  for f in ("bid_price", "bid_size", "ask_price", "ask_size", "bid_count", "ask_count")],
        "last": (state.last_price, state.last_ts, state.session, state.events_seen),
    }


def _assert_snapshot_is_fresh(snap, fresh: dict) -> None:
    assert snap.bars.same_as(fresh["bars"]), snap.bars.differences(fresh["bars"])
    assert (snap.profile_prices.tolist(), snap.profile_bid.tolist(), snap.profile_ask.tolist()) == fresh["profile"]
    assert snap.profile == fresh["summary"]
    assert snap.prior_profile == fresh["prior"]
    assert snap.tape.tobytes() == fresh["tape"]
    assert [getattr(snap.depth, f).tolist()
            for f in ("bid_price", "bid_size", "ask_price", "ask_size", "bid_count", "ask_count")] == fresh["depth"]
    assert (snap.last_price, snap.last_ts, snap.session, snap.events_seen) == fresh["last"]


def test_cached_snapshots_equal_fresh_ones_after_every_batch_across_a_session_change():
    """The snapshot hands out again what did not change: after every batch (trades or book only,
    live- or file-sized, over a session change) it must equal a snapshot computed from scratch,
    and a snapshot taken earlier must not change when the state moves on."""
    from tapeflow.core.events import K_TRADE, concat

    start = iso_to_ns("2024-07-02T20:50:00Z")
    sim = MarketSimulator(seed=7, n_trades=4_000, start=start)
    events = concat(list(sim))
    gap = events["ts_event"] >= iso_to_ns("2024-07-02T20:59:00Z")
    events["ts_event"][gap] += 75 * 60 * 10**9  # into the next session
    state = FlowState(instrument("ES"), FlowSettings(bar="1m", tape_length=300))
    kept = []
    i, sizes, k = 0, (1, 5, 64, 65, 700, 3), 0
    book_only_batches = 0
    while i < len(events):
        batch = events[i : i + sizes[k % len(sizes)]]
        i, k = i + len(batch), k + 1
        book_only_batches += not (batch["kind"] == K_TRADE).any()
        state.update(batch)
        snap = state.snapshot()
        again = state.snapshot()  # nothing new: the cached parts come back
        fresh = _fresh_snapshot_parts(state)
        _assert_snapshot_is_fresh(snap, fresh)
        _assert_snapshot_is_fresh(again, fresh)
        assert again.tape is snap.tape and again.bars is snap.bars and again.profile is snap.profile
        if k % 17 == 0:
            kept.append((snap, fresh))
    assert state.prior_profile is not None, "the stream must cross a session change"
    assert book_only_batches, "some batches must carry no trade"
    for snap, fresh in kept:  # earlier snapshots are untouched by later batches
        _assert_snapshot_is_fresh(snap, fresh)


def test_snapshot_arrays_are_read_only():
    sim = MarketSimulator(seed=3, n_trades=2_000)
    state = FlowState(instrument("ES"))
    for batch in sim:
        state.update(batch)
    snap = state.snapshot()
    for a in (snap.tape, snap.profile_prices, snap.profile_bid, snap.profile_ask, snap.depth.bid_price,
              snap.depth.ask_size):
        assert not a.flags.writeable
    assert state.tape().flags.writeable, "tape() is the caller's own copy"


def test_the_profile_summary_read_later_is_that_of_the_snapshot_time():
    """The snapshot's profile summary is worked out when first read, from the columns as they were."""
    sim = MarketSimulator(seed=5, n_trades=6_000, batch_size=1_500)
    state = FlowState(instrument("ES"), FlowSettings(bar="1m"))
    batches = list(sim)
    state.update(batches[0])
    snap = state.snapshot()  # its summary not read yet
    expected = state.profile.summary()
    for batch in batches[1:]:
        state.update(batch)
    assert state.profile.summary() != expected  # the profile moved on
    assert snap.profile == expected
    assert snap.profile is snap.profile  # made once
    assert state.snapshot().profile == state.profile.summary()


def test_live_trades_wait_for_a_reader_or_an_idle_moment_but_never_pile_up():
    """A live batch queues its trades for the tape and the profile (``settle``): the rule engine does
    not read those, so its signals do not wait for them. Any read settles; the queue stays bounded."""
    from tapeflow.flow.state import MAX_UNSETTLED

    events = concat(list(MarketSimulator(seed=3, n_trades=1_000)))
    trades = events[events["kind"] == K_TRADE]
    state = FlowState(instrument("ES"), FlowSettings(bar="1m"))
    most = 0
    for i in range(len(trades)):
        state.update(trades[i : i + 1])
        most = max(most, len(state._unsettled))
    assert 0 < most <= MAX_UNSETTLED
    whole = FlowState(instrument("ES"), FlowSettings(bar="1m"))
    whole.update(trades)
    assert state.tape().tobytes() == whole.tape().tobytes()  # reading settles
    assert state.profile.summary() == whole.profile.summary() and not state._unsettled
    state.update(trades[:1])
    assert state._unsettled
    state.settle()  # what the pipeline does when the feed is idle
    assert not state._unsettled and state.snapshot().tape[-1].tobytes() == trades[:1].tobytes()
