"""Footprint bars: hand-computed cases, then batch == streaming on random and real trades."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeflow.core.events import K_LEVEL, make_trades
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.flow.bars import BarKind, BarSpec, parse_bar_spec
from tapeflow.flow.delta import CumReset
from tapeflow.flow.footprint_batch import build_footprint
from tapeflow.flow.footprint_stream import FootprintBuilder

S = 1_000_000_000
T0 = iso_to_ns("2024-07-02T14:00:00Z")  # 10:00 ET, RTH, a 1m boundary
BUY, SELL, NONE = 1, -1, 0


def both(events, spec, **kw):
    """Build with both paths; they must agree before any test looks at the numbers."""
    batch = build_footprint(events, spec, **kw)
    stream = FootprintBuilder(spec, **kw)
    stream.update(events)
    bars = stream.bars()
    assert batch.same_as(bars), batch.differences(bars)
    return batch


def test_bid_is_sell_aggressor_ask_is_buy_aggressor_per_price():
    ev = make_trades(
        [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4],
        [100, 100, 101, 101, 99],
        [5, 2, 3, 4, 1],
        [BUY, SELL, BUY, BUY, SELL],
    )
    fp = both(ev, parse_bar_spec("1m"))
    assert len(fp) == 1
    rows = fp.rows(0)
    assert rows["price"].tolist() == [99, 100, 101]
    assert rows["bid"].tolist() == [1, 2, 0]
    assert rows["ask"].tolist() == [0, 5, 7]
    assert rows["count"].tolist() == [1, 2, 2]
    bar = fp.bar(0)
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (100, 101, 99, 99)
    assert bar["volume"] == 15
    assert bar["delta"] == 5 - 2 + 3 + 4 - 1 == 9
    # running delta after each print: 5, 3, 6, 10, 9
    assert (bar["min_delta"], bar["max_delta"]) == (3, 10)
    # 100 and 101 both hold 7 contracts; 100 is the middle of the 99..101 range, so it is the POC.
    assert bar["poc"] == 100


def test_poc_tie_goes_to_the_price_nearest_the_middle_then_the_lower():
    # 99:7, 100:7, 101:0 (range 99..101, middle 100): 100 wins on distance.
    ev = make_trades([T0] * 3, [99, 100, 101], [7, 7, 0 + 1], [BUY, SELL, BUY])
    ev["size"][2] = 0  # a zero-size print is still a print at 101 (range), with no volume
    fp = both(ev, parse_bar_spec("1m"))
    assert fp.bar(0)["poc"] == 100
    # 100:5, 101:5 (range 100..101, middle 100.5): equal distance, lower price wins.
    ev = make_trades([T0, T0], [100, 101], [5, 5], [BUY, SELL])
    assert both(ev, parse_bar_spec("1m")).bar(0)["poc"] == 100


def test_one_row_value_area_grows_towards_the_larger_neighbour_and_takes_ties_together():
    # Volumes by price 100..106: 1, 2, 6, 10, 6, 1, 4  (total 30, 70% = 21)
    vols = {100: 1, 101: 2, 102: 6, 103: 10, 104: 6, 105: 1, 106: 4}
    ev = make_trades([T0] * 7, list(vols), list(vols.values()), [BUY] * 7)
    bar = both(ev, parse_bar_spec("1m"), value_area_method="one_row").bar(0)
    assert bar["poc"] == 103
    # 103 (10) -> 102 and 104 tie at 6: both (22 >= 21): VA 102..104
    assert (bar["val"], bar["vah"]) == (102, 104)


def test_one_row_value_area_percentage_is_configurable():
    vols = {100: 1, 101: 2, 102: 6, 103: 10, 104: 6, 105: 1, 106: 4}
    ev = make_trades([T0] * 7, list(vols), list(vols.values()), [BUY] * 7)
    # 90% of 30 = 27: 103..104 (22), then 105 (1) vs 101 (2) -> 101 (24), then 105 (1) vs 100 (1)
    # tie -> both (26), then only 106 (4) above -> 30.
    bar = both(ev, parse_bar_spec("1m"), value_area=0.9, value_area_method="one_row").bar(0)
    assert (bar["val"], bar["vah"]) == (100, 106)


def test_zero_prints_inside_a_bar_are_explicit_empty_rows():
    ev = make_trades([T0, T0 + 1], [100, 103], [2, 3], [SELL, BUY])
    rows = both(ev, parse_bar_spec("1m")).rows(0)
    assert rows["price"].tolist() == [100, 101, 102, 103]
    assert (rows["bid"] + rows["ask"]).tolist() == [2, 0, 0, 3]


def test_prints_without_aggressor_count_in_volume_but_not_in_bid_ask_or_delta():
    ev = make_trades([T0, T0 + 1], [100, 100], [4, 6], [NONE, BUY])
    fp = both(ev, parse_bar_spec("1m"))
    bar = fp.bar(0)
    assert (bar["volume"], bar["unknown_volume"], bar["delta"]) == (10, 4, 6)
    assert fp.rows(0)["bid"].tolist() == [0] and fp.rows(0)["ask"].tolist() == [6]


def test_time_bars_align_to_the_clock_and_skip_empty_minutes():
    ev = make_trades([T0 + 5 * S, T0 + 59 * S, T0 + 60 * S, T0 + 185 * S], [1, 2, 3, 4], [1, 1, 1, 1], [BUY] * 4)
    fp = both(ev, parse_bar_spec("1m"))
    assert fp.start_ns.tolist() == [T0, T0 + 60 * S, T0 + 180 * S]
    assert fp.trades.tolist() == [2, 1, 1]


def test_a_late_print_joins_the_open_bar_rather_than_reopening_a_closed_one():
    ev = make_trades([T0 + 61 * S, T0 + 30 * S], [1, 2], [1, 1], [BUY, BUY])
    fp = both(ev, parse_bar_spec("1m"))
    assert len(fp) == 1 and fp.trades.tolist() == [2]


def test_a_book_row_at_a_bars_end_closes_it_and_a_later_late_print_opens_the_next():
    """The feed's clock, not only the next trade, closes a time bar: a book row stamped at the end
    closes it at once (a quiet market may print again only seconds later); a print stamped before
    that row but arriving after it counts at the row's time, in the next bar."""
    ev = make_trades([T0 + 10 * S, T0 + 60 * S, T0 + 59 * S], [1, 2, 3], [1, 1, 1], [BUY] * 3)
    ev["kind"][1] = K_LEVEL  # a quote update at 10:01:00
    builder = FootprintBuilder(parse_bar_spec("1m"))
    assert builder.update(ev[:1]) == 0
    assert builder.update(ev[1:2]) == 1 and builder.closed_count == 1  # closed on the book row
    builder.update(ev[2:])
    fp = both(ev, parse_bar_spec("1m"))
    assert fp.same_as(builder.bars())
    assert fp.start_ns.tolist() == [T0, T0 + 60 * S] and fp.trades.tolist() == [1, 1]
    assert FootprintBuilder(parse_bar_spec("3t")).update(ev[:2]) == 0  # tick bars close on trades only


def test_tick_bars_hold_n_prints():
    ev = make_trades([T0 + i for i in range(7)], [1] * 7, [1] * 7, [BUY] * 7)
    assert both(ev, BarSpec(BarKind.TICK, 3)).trades.tolist() == [3, 3, 1]


def test_volume_bars_split_a_print_that_straddles_the_boundary():
    ev = make_trades([T0, T0 + 1, T0 + 2], [100, 101, 102], [3, 5, 4], [BUY, SELL, BUY])
    fp = both(ev, BarSpec(BarKind.VOLUME, 5))
    assert fp.volume.tolist() == [5, 5, 2]
    # bar 1: 3 ask @100 + 2 bid @101; bar 2: 3 bid @101 + 2 ask @102; bar 3: 2 ask @102
    assert fp.delta.tolist() == [1, -1, 2]
    assert fp.trades.tolist() == [2, 2, 1]


def test_tick_and_volume_bars_restart_at_the_session_open():
    close = iso_to_ns("2024-07-02T20:59:59Z")  # 16:59:59 ET, last second of the session
    reopen = iso_to_ns("2024-07-02T22:00:00Z")  # 18:00 ET, next session
    ev = make_trades([close, close + 1, reopen], [1, 1, 1], [1, 1, 1], [BUY] * 3)
    assert both(ev, BarSpec(BarKind.TICK, 5)).trades.tolist() == [2, 1]
    assert both(ev, BarSpec(BarKind.VOLUME, 5)).volume.tolist() == [2, 1]


def test_cumulative_delta_resets_per_session_rth_or_never():
    eth = iso_to_ns("2024-07-02T12:00:00Z")  # 08:00 ET
    rth = iso_to_ns("2024-07-02T14:00:00Z")  # 10:00 ET
    nxt = iso_to_ns("2024-07-02T23:00:00Z")  # 19:00 ET, next session
    ev = make_trades([eth, rth, nxt], [1, 1, 1], [5, 3, 2], [BUY, SELL, BUY])
    spec = parse_bar_spec("1m")
    assert both(ev, spec, cum_reset=CumReset.SESSION).cum_delta.tolist() == [5, 2, 2]
    assert both(ev, spec, cum_reset=CumReset.RTH).cum_delta.tolist() == [5, -3, 2]
    assert both(ev, spec, cum_reset=CumReset.NEVER).cum_delta.tolist() == [5, 2, 4]


def test_rows_merge_ticks_as_a_view_over_stored_levels():
    ev = make_trades([T0] * 5, [100, 101, 102, 103, 104], [1, 2, 3, 4, 5], [BUY, SELL, BUY, SELL, BUY])
    fp = both(ev, parse_bar_spec("1m"))
    rows = fp.rows(0, ticks_per_row=2)
    assert rows["price"].tolist() == [100, 102, 104]
    assert rows["ask"].tolist() == [1, 3, 5]
    assert rows["bid"].tolist() == [2, 4, 0]


def test_streaming_in_any_batch_sizes_equals_batch():
    rng = np.random.default_rng(7)
    n = 20_000
    ts = T0 - 40 * 3600 * S + np.cumsum(rng.integers(0, 20 * S, n))
    ev = make_trades(ts, 22000 + np.cumsum(rng.integers(-1, 2, n)), rng.integers(1, 40, n), rng.choice([-1, 0, 1], n))
    for spec in ("1m", "5m", "100t", "250v"):
        batch = build_footprint(ev, parse_bar_spec(spec))
        b = FootprintBuilder(parse_bar_spec(spec))
        i = 0
        for step in rng.integers(1, 500, n):
            b.update(ev[i : i + step])
            i += step
            if i >= n:
                break
        assert batch.same_as(b.bars()), (spec, batch.differences(b.bars()))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 200 * S), st.integers(-6, 6), st.integers(1, 60), st.sampled_from([-1, 0, 1])),
        min_size=1,
        max_size=80,
    ),
    st.sampled_from(["1m", "30s", "3t", "7v"]),
)
def test_streaming_equals_batch_on_random_trades(rows, spec):
    ts, px, sz, sd = zip(*rows, strict=True)
    ev = make_trades(np.array(ts) + T0, np.array(px) + 22000, sz, sd)
    both(ev, parse_bar_spec(spec))
    both(ev, parse_bar_spec(spec), value_area_method="one_row", value_area=0.55)
    ev["kind"][np.array(px) % 3 == 0] = K_LEVEL  # a third of the rows book rows: they move the clock
    expected = both(ev, parse_bar_spec(spec))
    stream = FootprintBuilder(parse_bar_spec(spec))
    for i in range(len(ev)):  # one row at a time, as a live feed delivers them
        stream.update(ev[i : i + 1])
    assert expected.same_as(stream.bars()), expected.differences(stream.bars())


def test_streaming_equals_batch_on_the_real_es_file(mbp1_file):
    from tapeflow.feeds.dbn_file import DbnFileSource

    events = np.concatenate(list(DbnFileSource(mbp1_file)))
    for spec in ("1m", "30s", "10t", "20v"):
        batch = build_footprint(events, parse_bar_spec(spec))
        stream = FootprintBuilder(parse_bar_spec(spec))
        for part in DbnFileSource(mbp1_file, batch_size=97):
            stream.update(part)
        assert batch.same_as(stream.bars()), (spec, batch.differences(stream.bars()))
    fp = build_footprint(events, parse_bar_spec("1m"))
    # Published counts of the file: 253 contracts, 142 bought at the ask, 111 sold at the bid.
    assert int(fp.volume.sum()) == 253
    assert int(fp.ask.sum()) == 142 and int(fp.bid.sum()) == 111
    assert int(fp.delta.sum()) == 142 - 111
    assert len(fp) == 4  # minutes 23:58, 23:59, 00:00 and 00:01 UTC
    assert fp.low.min() * 0.25 == 5528.50 and fp.high.max() * 0.25 == 5529.50


def test_streaming_equals_batch_on_the_real_nq_csv(csv_file):
    from tapeflow.feeds.csv_file import CsvTradesSource

    events = np.concatenate(list(CsvTradesSource(csv_file, symbol="NQ", tz="Europe/Madrid")))
    batch = build_footprint(events, parse_bar_spec("1m"))
    stream = FootprintBuilder(parse_bar_spec("1m"))
    stream.update(events)
    assert batch.same_as(stream.bars())
    assert int(batch.volume.sum()) == 1128
    assert int(batch.trades.sum()) == 1058


@pytest.mark.parametrize("text", ["0m", "abc", "5x", "-1m"])
def test_bad_bar_spec_is_a_clear_error(text):
    from tapeflow.errors import TapeflowError

    with pytest.raises(TapeflowError, match="bar size"):
        parse_bar_spec(text)


def test_closed_bars_handed_out_earlier_stay_valid_and_read_only_after_more_bars_close():
    b = FootprintBuilder(parse_bar_spec("1m"))
    b.update(make_trades([T0, T0 + 61 * S], [100, 101], [1, 2], [BUY, SELL]))
    first = b.bars(include_open=False)
    for k in range(2, 300):  # many closes: the buffers reallocate several times
        b.update(make_trades([T0 + k * 61 * S], [100 + k % 5], [1], [BUY]))
    assert len(first) == 1 and first.volume.tolist() == [1] and first.bid.tolist() == [0]
    assert not first.volume.flags.writeable
    later = b.bars(include_open=False)
    assert len(later) == 299 and later.select(slice(0, 1)).same_as(first)
    assert b.recent(3).same_as(later.select(slice(296, 299)))
