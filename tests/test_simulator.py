"""The market simulator: deterministic, sane, realistic enough, and its ``sim:`` spec."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from tapeflow.core.events import EVENT_DTYPE, Flag, Kind
from tapeflow.core.sessions import NS_PER_SECOND, session_for_date
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.simulator import MarketSimulator, open_simulator, trade_rate

MINUTE = 60 * NS_PER_SECOND


def run(sim: MarketSimulator) -> np.ndarray:
    """All batches in one array; zero-allocated because ``np.concatenate`` leaves the dtype's
    padding bytes uninitialized, which would make byte comparisons flaky."""
    batches = list(sim)
    out = np.zeros(sum(len(b) for b in batches), dtype=EVENT_DTYPE)
    i = 0
    for b in batches:
        out[i : i + len(b)] = b
        i += len(b)
    return out


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    """About 30k trades from the RTH open, with the book."""
    return run(MarketSimulator(seed=11, n_trades=30_000))


def best_prices(ev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best bid and ask in force after every row (NaN before the first level-0 row of a side)."""
    top = (ev["kind"] == Kind.LEVEL) & (ev["level"] == 0)

    def ffill(mask: np.ndarray) -> np.ndarray:
        idx = np.maximum.accumulate(np.where(mask, np.arange(len(ev)), -1))
        return np.where(idx >= 0, ev["price"][np.maximum(idx, 0)].astype(float), np.nan)

    return ffill(top & (ev["side"] == 1)), ffill(top & (ev["side"] == -1))


def test_same_seed_gives_byte_identical_events():
    a = run(MarketSimulator(seed=7, n_trades=5_000))
    b = run(MarketSimulator(seed=7, n_trades=5_000))
    assert a.dtype == EVENT_DTYPE
    assert a.tobytes() == b.tobytes()


def test_different_seed_gives_different_events():
    a = run(MarketSimulator(seed=7, n_trades=5_000))
    b = run(MarketSimulator(seed=8, n_trades=5_000))
    assert a.tobytes() != b.tobytes()


def test_batch_size_only_changes_how_the_stream_is_cut():
    sim = MarketSimulator(seed=3, n_trades=4_000, batch_size=777)
    batches = list(sim)
    assert all(len(b) == 777 for b in batches[:-1])
    whole = run(MarketSimulator(seed=3, n_trades=4_000))
    assert whole.tobytes() == b"".join(b.tobytes() for b in batches)


def test_iterating_twice_replays_the_same_stream():
    sim = MarketSimulator(seed=5, n_trades=2_000)
    assert run(sim).tobytes() == run(sim).tobytes()


def test_is_an_event_source_with_simulated_schema_and_stats(sample):
    sim = MarketSimulator(seed=1, n_trades=1_234)
    ev = run(sim)
    assert isinstance(sim, EventSource)
    assert sim.info.schema == "simulated"
    assert sim.info.instrument.root == "ES"
    assert sim.info.symbols == ["ESU4"]  # front month on 2024-07-02
    assert sim.stats.trades == 1_234 == int((ev["kind"] == Kind.TRADE).sum())
    assert sim.stats.trade_volume == int(ev["size"][ev["kind"] == Kind.TRADE].sum())


def test_stream_starts_with_clear_and_a_twenty_level_snapshot(sample):
    assert sample[0]["kind"] == Kind.CLEAR
    snap = sample[1:21]
    assert (snap["kind"] == Kind.LEVEL).all()
    assert (snap["flags"] & Flag.SNAPSHOT).all()
    assert sorted(snap["level"][snap["side"] == 1]) == list(range(10))
    assert sorted(snap["level"][snap["side"] == -1]) == list(range(10))


def test_timestamps_never_go_backwards_and_recv_follows_event(sample):
    assert (np.diff(sample["ts_event"]) >= 0).all()
    assert (sample["ts_recv"] >= sample["ts_event"]).all()
    assert (np.diff(sample["sequence"].astype(np.int64)) == 1).all()


def test_trades_have_a_side_and_a_positive_size_on_the_tick_grid(sample):
    tr = sample[sample["kind"] == Kind.TRADE]
    assert set(np.unique(tr["side"]).tolist()) == {-1, 1}
    assert (tr["size"] >= 1).all()
    assert tr["price"].dtype == np.int64
    assert abs(int(tr["price"][0]) - 22_000) < 40  # starts near 5500.00
    assert np.abs(np.diff(tr["price"])).max() < 20  # moves in ticks, no jumps


def test_book_is_never_crossed_after_any_row(sample):
    bid, ask = best_prices(sample)
    known = ~np.isnan(bid) & ~np.isnan(ask)
    assert known[21:].all()
    assert (bid[known] < ask[known]).all()


def test_each_trade_prints_at_the_touch_it_consumes(sample):
    bid, ask = best_prices(sample)
    i = np.flatnonzero(sample["kind"] == Kind.TRADE)
    buy = sample["side"][i] == 1
    expected = np.where(buy, ask[i - 1], bid[i - 1])
    assert (sample["price"][i] == expected).all()


def test_level_rows_use_slots_zero_to_nine_with_sizes(sample):
    lv = sample[sample["kind"] == Kind.LEVEL]
    assert lv["level"].max() == 9
    assert set(np.unique(lv["side"]).tolist()) == {-1, 1}
    assert (lv["size"] >= 0).all()
    assert (lv["count"][lv["size"] > 0] >= 1).all()


def test_price_moves_with_the_flow(sample):
    tr = sample[sample["kind"] == Kind.TRADE]
    assert len(np.unique(tr["price"])) > 5
    # a tick up is always caused by buyers lifting the ask, a tick down by sellers hitting the bid
    up = np.flatnonzero(np.diff(tr["price"]) > 0) + 1
    assert (tr["side"][up] == 1).mean() > 0.95


def test_sizes_are_heavy_tailed_with_mostly_one_lots(sample):
    size = sample["size"][sample["kind"] == Kind.TRADE]
    assert 0.5 < (size == 1).mean() < 0.7
    assert np.median(size) == 1
    assert size.max() >= 50


def test_aggressor_sides_come_in_runs(sample):
    side = sample["side"][sample["kind"] == Kind.TRADE]
    runs = np.diff(np.r_[0, np.flatnonzero(np.diff(side) != 0) + 1, len(side)])
    assert 2.5 < runs.mean() < 4.5


def test_arrivals_cluster_within_milliseconds(sample):
    ts = sample["ts_event"][sample["kind"] == Kind.TRADE]
    gaps = np.diff(ts)
    assert np.median(gaps) < 5_000_000  # half the prints follow another within 5 ms
    assert np.percentile(gaps, 90) > 50 * np.median(gaps)  # separated by quiet stretches


def test_trade_rate_follows_the_et_trading_day():
    s = session_for_date(date(2024, 7, 2))
    at = np.array(
        [
            s.rth_open_ns + MINUTE,  # 09:31
            s.rth_open_ns + 150 * MINUTE,  # 12:00
            s.rth_close_ns - MINUTE,  # 15:59
            s.rth_close_ns + 90 * MINUTE,  # 17:30 halt
            s.eth_open_ns + 120 * MINUTE,  # 20:00 the evening before
        ]
    )
    open_, midday, close, halt, evening = trade_rate(at, MarketSimulator().params)
    assert open_ > close > midday > evening > 0
    assert halt == 0


def test_no_trades_in_the_daily_halt():
    start = datetime(2024, 7, 2, 16, 50)  # ET
    ev = run(MarketSimulator(seed=2, start=start, duration_ns=80 * MINUTE, book=False))
    s = session_for_date(date(2024, 7, 2))
    assert len(ev) > 0
    assert not ((ev["ts_event"] >= s.eth_close_ns) & (ev["ts_event"] < s.eth_close_ns + 60 * MINUTE)).any()
    assert (ev["ts_event"] >= s.eth_close_ns + 60 * MINUTE).any()  # trading resumes at 18:00


def test_duration_limits_market_time():
    sim = MarketSimulator(seed=4, duration_ns=2 * MINUTE)
    ev = run(sim)
    assert ev["ts_event"].min() >= sim.start_ns
    assert ev["ts_event"].max() < sim.start_ns + 2 * MINUTE


def test_without_book_only_trades_are_emitted():
    ev = run(MarketSimulator(seed=4, n_trades=3_000, book=False))
    assert (ev["kind"] == Kind.TRADE).all()
    assert len(ev) == 3_000


def test_nq_preset_has_a_thin_book_and_one_lot_tape():
    ev = run(MarketSimulator(seed=4, instrument="NQ", n_trades=5_000))
    tr = ev[ev["kind"] == Kind.TRADE]
    assert (tr["size"] == 1).mean() > 0.9
    assert abs(int(tr["price"][0]) - 100_000) < 200
    assert np.median(ev["size"][(ev["kind"] == Kind.LEVEL) & (ev["level"] == 0)]) < 15


def test_start_accepts_ns_naive_et_datetime_and_date():
    s = session_for_date(date(2024, 7, 3))
    assert MarketSimulator(start=s.rth_open_ns).start_ns == s.rth_open_ns
    assert MarketSimulator(start=datetime(2024, 7, 3, 9, 30)).start_ns == s.rth_open_ns
    assert MarketSimulator(start=date(2024, 7, 3)).start_ns == s.rth_open_ns


def test_open_simulator_defaults():
    sim = open_simulator("sim:")
    assert sim.seed == 0
    assert sim.duration_ns == 60 * MINUTE
    assert sim.start_ns == session_for_date(date(2024, 7, 2)).rth_open_ns


def test_open_simulator_reads_seed_minutes_trades_and_symbol():
    sim = open_simulator("sim://?seed=7&minutes=30")
    assert (sim.seed, sim.duration_ns, sim.n_trades) == (7, 30 * MINUTE, None)
    sim = open_simulator("sim://rth?trades=5000000")
    assert (sim.n_trades, sim.duration_ns) == (5_000_000, None)
    assert open_simulator("sim://?symbol=NQ").instrument.root == "NQ"
    assert open_simulator("sim://?symbol=NQ", symbol="MES").instrument.root == "MES"
    sim = open_simulator("sim://eth?date=2024-07-03&batch=100&book=0&price=5400.25")
    assert sim.start_ns == session_for_date(date(2024, 7, 3)).eth_open_ns
    assert (sim.batch_size, sim.book, sim.params.start_price) == (100, False, 21_601)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("sim://?speed=3", "speed"),
        ("sim://?seed=abc", "seed"),
        ("sim://?trades=0", "trades"),
        ("sim://?minutes=-5", "minutes"),
        ("sim://?book=maybe", "book"),
        ("sim://?symbol=CL", "symbol"),
        ("sim://?date=2024-13-01", "date"),
        ("sim://?price=5500.10", "price"),
        ("sim://lunch", "lunch"),
        ("file://x", "sim"),
    ],
)
def test_open_simulator_names_the_bad_parameter(spec, named):
    with pytest.raises(TapeflowError, match=named):
        open_simulator(spec)
