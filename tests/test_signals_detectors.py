"""Built-in detectors on hand-built footprints and the known-answer scenarios."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeflow.core.events import Side, make_trades
from tapeflow.core.instruments import instrument
from tapeflow.feeds import scenarios as sc
from tapeflow.signals.detectors import BUILTINS
from tapeflow.signals.detectors.imbalance import diagonal_imbalances
from tapeflow.signals.engine import RuleEngine, run_rules
from tapeflow.signals.rules import Rule

ES = instrument("ES")
B, S = 1, -1


def rule(kind: str, **params) -> Rule:
    cls = BUILTINS[kind]
    return Rule(kind, kind, cls.Params(**params))


def bar_trades(minute: int, legs: list[tuple[int, int, int]]) -> np.ndarray:
    """Legs (price, side, size) printed in order, spread inside minute ``minute`` after the scenario start."""
    start = sc.BAR_START + minute * sc.BAR_NS
    ts = start + (np.arange(1, len(legs) + 1) * sc.BAR_NS) // (len(legs) + 1)
    px, sd, sz = zip(*legs, strict=True)
    return make_trades(ts, px, sz, sd, instrument_id=1)


def with_close(events: np.ndarray, minute: int, price: int | None = None) -> np.ndarray:
    """Append one 1-lot in minute ``minute`` so the bar before it closes."""
    last = int(events["price"][events["kind"] == 1][-1]) if price is None else price
    t = make_trades([sc.BAR_START + minute * sc.BAR_NS + 1], [last], [1], [B], instrument_id=1)
    out = np.concatenate([events, t])
    out["sequence"] = np.arange(len(out))
    return out


def fired(events: np.ndarray, *rules: Rule, batch_size: int = 65_536) -> list:
    return run_rules(events, list(rules), ES, batch_size=batch_size)


# --- diagonal / stacked imbalance ------------------------------------------------------------
def test_diagonal_imbalance_compares_ask_at_p_with_bid_one_tick_below():
    bid = np.array([10, 12, 4, 5, 6, 8, 0])
    ask = np.array([0, 8, 36, 30, 24, 10, 6])
    buy, buy_r, sell, _ = diagonal_imbalances(bid, ask, 3.0, 10, "as_one")
    assert buy.tolist() == [False, False, True, True, True, False, False]
    assert buy_r[2:5].tolist() == [3.0, 7.5, 4.8]  # 36/12, 30/4, 24/5
    assert not sell.any()


def test_diagonal_imbalance_zero_rule_and_min_volume():
    bid = np.array([0, 0])
    ask = np.array([0, 6])  # 6 x 0 diagonally
    assert diagonal_imbalances(bid, ask, 3.0, 5, "as_one")[0].tolist() == [False, True]  # 6 / 1 = 600 %
    assert not diagonal_imbalances(bid, ask, 3.0, 5, "skip")[0].any()
    assert not diagonal_imbalances(bid, ask, 3.0, 7, "as_one")[0].any()  # 6 < min_volume 7


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=40),
       st.sampled_from([1.5, 3.0, 4.0]), st.integers(0, 12), st.sampled_from(["as_one", "skip"]))
def test_the_detectors_plain_python_imbalances_equal_the_vectorized_reference(cells, ratio, min_volume, zero_rule):
    """The detectors scan a bar's rows in Python (live bar closes); the numpy function is the reference."""
    from types import SimpleNamespace

    from tapeflow.signals.detectors.imbalance import ImbalanceParams, _bar_imbalances

    bid, ask = (np.array(c, np.int64) for c in zip(*cells, strict=True))
    view = SimpleNamespace(memo={}, columns=lambda: {"bid": bid.tolist(), "ask": ask.tolist()})
    buy, sell = _bar_imbalances(view, ImbalanceParams(ratio, min_volume, zero_rule))
    ref_buy, buy_r, ref_sell, sell_r = diagonal_imbalances(bid, ask, ratio, min_volume, zero_rule)
    assert buy == [(int(j), float(buy_r[j])) for j in np.flatnonzero(ref_buy)]
    assert sell == [(int(j), float(sell_r[j])) for j in np.flatnonzero(ref_sell)]


def test_diagonal_imbalance_finds_the_scenario_levels():
    ev, facts = sc.stacked_imbalance()
    sigs = fired(with_close(ev, 1), rule("diagonal_imbalance"))
    assert [s.price for s in sigs] == facts.imbalance_prices
    assert {s.side for s in sigs} == {Side.BUY}
    assert min(s.strength for s in sigs) == facts.ratio
    assert all(s.bar_start_ns == facts.bar.bar_start_ns for s in sigs)


def test_stacked_imbalance_scenario_gives_one_buy_zone():
    ev, facts = sc.stacked_imbalance()
    sigs = fired(with_close(ev, 1), rule("stacked_imbalance"))
    assert len(sigs) == 1
    s = sigs[0]
    assert (s.kind, s.side, s.price) == ("stacked_imbalance", Side.BUY, 22004)
    assert (s.inputs["zone_low"], s.inputs["zone_high"], s.inputs["levels"]) == (22002, 22004, 3)
    assert s.strength == facts.ratio


def test_stacked_imbalance_needs_three_consecutive_levels():
    # 22001 4x1, 22002 1x20, 22003 5x30, 22004 2x2, 22005 0x20: buy imbalances at 22002, 22003 (20/4, 30/1)
    # and 22005 (20/2) -- not consecutive, so two stacked levels at most.
    legs = [(22001, S, 4), (22001, B, 1), (22002, S, 1), (22002, B, 20), (22003, S, 5), (22003, B, 30),
            (22004, S, 2), (22004, B, 2), (22005, B, 20)]
    ev = with_close(bar_trades(0, legs), 1)
    assert fired(ev, rule("stacked_imbalance")) == []
    assert len(fired(ev, rule("stacked_imbalance", min_levels=2))) == 1
    assert [s.price for s in fired(ev, rule("diagonal_imbalance"))] == [22002, 22003, 22005]


def test_stacked_zone_alerts_on_retest_and_dies_when_traded_through():
    ev, _ = sc.stacked_imbalance()  # buy zone 22002..22004, bar closes at 22005
    later = bar_trades(1, [(22006, B, 1), (22004, S, 1), (22003, S, 1), (22001, S, 1), (22003, B, 1)])
    events = np.concatenate([ev, later])
    engine = RuleEngine([rule("stacked_imbalance")], ES)
    from tapeflow.flow.state import FlowState

    state = FlowState(ES)
    sigs = engine.on_update(state, state.update(ev), ev)
    assert sigs == [] and engine.active_zones() == []  # the bar has not closed yet
    sigs = engine.on_update(state, state.update(later), later)
    kinds = [(s.kind, s.price) for s in sigs]
    assert kinds == [("stacked_imbalance", 22004), ("stacked_imbalance_retest", 22004)]
    assert engine.active_zones() == []  # 22001 printed below the zone: traded through
    assert len(fired(np.concatenate([ev, later[:2]]), rule("stacked_imbalance"))) == 2
    assert fired(events, rule("stacked_imbalance", retest=False))[-1].kind == "stacked_imbalance"


def test_active_zones_lists_a_stacked_zone_still_valid():
    ev, _ = sc.stacked_imbalance()
    events = with_close(ev, 1, price=22006)
    engine = RuleEngine([rule("stacked_imbalance"), rule("unfinished_auction")], ES)
    from tapeflow.flow.state import FlowState

    state = FlowState(ES)
    engine.on_update(state, state.update(events), events)
    zones = engine.active_zones()
    assert [(z.kind, z.side, z.low, z.high) for z in zones] == [("stacked_imbalance", Side.BUY, 22002, 22004)]


# --- absorption -------------------------------------------------------------------------------
def test_absorption_scenario_fires_at_the_absorbing_bid():
    ev, facts = sc.absorption()
    sigs = fired(with_close(ev, 1), rule("absorption"))
    assert len(sigs) == 1
    s = sigs[0]
    assert (s.kind, s.side, s.price) == ("absorption", Side.BUY, facts.price)
    assert s.inputs["volume"] == facts.sell_volume
    assert s.inputs["avg_level_volume"] == 95.0  # 380 contracts over 4 traded levels
    assert s.strength == round(300 / 95, 4)


def test_absorption_book_confirmation_counts_refreshes():
    ev, facts = sc.absorption()
    events = with_close(ev, 1)
    assert len(fired(events, rule("absorption", min_resting=60, min_refreshes=facts.refreshes))) == 1
    assert fired(events, rule("absorption", min_refreshes=facts.refreshes + 1)) == []
    assert fired(events, rule("absorption", min_resting=61)) == []


def test_absorption_near_miss_when_level_volume_is_below_factor():
    ev, _ = sc.absorption()
    events = with_close(ev, 1)
    assert fired(events, rule("absorption", factor=3.2)) == []  # 300 < 3.2 x 95


def test_absorption_needs_the_close_away_from_the_level():
    legs = [(22000, S, 5)] * 60 + [(22001, B, 5), (22000, S, 5)]  # closes on the low
    assert fired(with_close(bar_trades(0, legs), 1), rule("absorption")) == []


def test_absorption_location_filter():
    ev, _ = sc.absorption()  # single-bar session: POC 22000 (300 of 381 contracts), no prior session
    events = with_close(ev, 1)
    assert len(fired(events, rule("absorption", near=("poc",)))) == 1
    assert fired(events, rule("absorption", near=("prior_high", "prior_low"))) == []


# --- unfinished auction / zero print ----------------------------------------------------------
def test_unfinished_auction_scenario_marks_the_high_only():
    ev, facts = sc.unfinished_auction()
    sigs = fired(with_close(ev, 1), rule("unfinished_auction"))
    assert facts.unfinished_high and not facts.unfinished_low
    assert [(s.kind, s.side, s.price) for s in sigs] == [("unfinished_auction", Side.BUY, facts.bar.high)]
    assert (sigs[0].inputs["bid"], sigs[0].inputs["ask"]) == facts.bar.volumes[facts.bar.high]


def test_unfinished_auction_alerts_once_on_retest():
    ev, _ = sc.unfinished_auction()  # unfinished high 22010, close 22009
    later = bar_trades(1, [(22008, S, 1), (22010, B, 1), (22010, B, 1)])
    sigs = fired(np.concatenate([ev, later]), rule("unfinished_auction"))
    assert [(s.kind, s.price) for s in sigs] == [("unfinished_auction", 22010), ("unfinished_auction_retest", 22010)]
    assert sigs[1].side == Side.SELL and sigs[1].ts_ns == int(later["ts_event"][1])


def test_zero_print_scenario_and_retest():
    ev, facts = sc.zero_print()
    later = bar_trades(1, [(22004, S, 1), (22003, S, 2)])
    sigs = fired(np.concatenate([ev, later]), rule("zero_print"))
    assert [(s.kind, s.price) for s in sigs] == [("zero_print", p) for p in facts.zero_prices] + [
        ("zero_print_retest", 22003)]
    assert sigs[0].side == Side.BUY  # the bar closed above the hole


# --- POC rejection / node breakout -------------------------------------------------------------
def _poc_session() -> np.ndarray:
    # bar 0: 100 contracts at 22000 (the POC) and 10 each at 21998..22006; bar 1 comes from above
    # (open 22004), tests 22000 and closes at 22003 on 20 contracts (< 190 of bar 0).
    bar0 = [(p, B if p % 2 else S, 10) for p in range(21998, 22007)] + [(22000, S, 50), (22000, B, 50)]
    bar1 = [(22004, S, 5), (22001, S, 5), (22000, S, 3), (22002, B, 4), (22003, B, 3)]
    return np.concatenate([bar_trades(0, bar0), bar_trades(1, bar1)])


def test_poc_rejection_from_above_on_declining_volume():
    sigs = fired(with_close(_poc_session(), 2), rule("poc_rejection"))
    assert [(s.kind, s.side, s.price) for s in sigs] == [("poc_rejection", Side.BUY, 22000)]
    assert sigs[0].inputs["reference"] == "developing"
    assert (sigs[0].inputs["prev_volume"], sigs[0].inputs["volume"]) == (190, 20)


def test_poc_rejection_near_miss_when_volume_does_not_decline():
    assert fired(with_close(_poc_session(), 2), rule("poc_rejection", volume_decline=0.1)) == []
    assert fired(with_close(_poc_session(), 2), rule("poc_rejection", min_close_away=4)) == []


def test_volume_node_breakout_with_strong_delta():
    # bar 0 builds a high-volume node at 22000; bar 1 opens there and lifts out with +150 delta.
    bar0 = [(p, S, 5) for p in range(21990, 22011)] + [(22000, S, 100), (22000, B, 100)]
    bar1 = [(22000, B, 50), (22002, B, 50), (22004, B, 50), (22005, B, 10), (22005, S, 10)]
    events = with_close(np.concatenate([bar_trades(0, bar0), bar_trades(1, bar1)]), 2)
    sigs = fired(events, rule("volume_node_breakout"))
    assert [(s.kind, s.side, s.price) for s in sigs] == [("volume_node_breakout", Side.BUY, 22005)]
    assert abs(sigs[0].inputs["node"] - 22000) <= 2 and sigs[0].inputs["delta"] == 150
    assert fired(events, rule("volume_node_breakout", min_delta=151)) == []


# --- delta divergence ------------------------------------------------------------------------
def test_delta_divergence_scenario_is_bearish():
    ev, facts = sc.delta_divergence()
    sigs = fired(with_close(ev, 2), rule("delta_divergence"))
    assert facts.bearish_divergence
    assert [(s.side, s.price) for s in sigs] == [(Side.SELL, facts.highs[1])]
    assert (sigs[0].inputs["delta_high"], sigs[0].inputs["prev_delta_high"]) == (70, 120)  # facts.delta_high
    assert sigs[0].strength == 50


def test_delta_divergence_near_miss_with_a_gap_threshold():
    ev, _ = sc.delta_divergence()
    assert fired(with_close(ev, 2), rule("delta_divergence", min_delta_gap=50)) == []  # 120 - 70 = 50, not more


# --- threshold crossings ---------------------------------------------------------------------
def test_cum_delta_cross_fires_once_per_crossing():
    legs = [(22000, B, 60), (22000, B, 50), (22000, S, 30), (22000, B, 40), (22000, S, 300)]
    # cum delta 60, 110 (cross +100), 80, 120 (cross +100 again), -180 (cross -100)
    sigs = fired(bar_trades(0, legs), rule("cum_delta_cross", level=100))
    assert [(s.side, s.inputs["cum_delta"]) for s in sigs] == [(Side.BUY, 110), (Side.BUY, 120), (Side.SELL, -180)]


def test_bar_delta_cross_restarts_each_bar():
    ev = np.concatenate([bar_trades(0, [(22000, B, 80), (22000, B, 30)]), bar_trades(1, [(22000, B, 90)])])
    sigs = fired(ev, rule("bar_delta_cross", level=100))
    assert [s.inputs["bar_delta"] for s in sigs] == [110]  # the second bar stops at 90


def test_bar_volume_cross_side_follows_bar_delta():
    sigs = fired(bar_trades(0, [(22000, S, 60), (22000, B, 20), (22000, B, 30)]), rule("bar_volume_cross", level=100))
    assert [(s.side, s.inputs["bar_volume"], s.inputs["bar_delta"]) for s in sigs] == [(Side.SELL, 110, -10)]


def test_vwap_cross_up_and_down_with_hysteresis():
    # vwap after each trade: 22000 (on the line: undecided), 21999 (21998 is 1 tick below: below),
    # 21999.24 (22004 is above by >= 1 tick: up-cross), 21996.1 (21990 below: down-cross).
    legs = [(22000, B, 10), (21998, S, 10), (22004, B, 1), (21990, S, 10)]
    sigs = fired(bar_trades(0, legs), rule("vwap_cross"))
    assert [(s.side, s.price) for s in sigs] == [(Side.BUY, 22004), (Side.SELL, 21990)]
    assert sigs[0].inputs["vwap"] == round((22000 * 10 + 21998 * 10 + 22004) / 21, 4)
    assert fired(bar_trades(0, legs[:3]), rule("vwap_cross", confirm_ticks=5)) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-6, 6), st.integers(1, 9), st.sampled_from([B, S])), min_size=65, max_size=120),
       st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 2))
def test_vwap_crossings_trade_by_trade_equal_the_vectorized_path(legs, band, confirm):
    """Live trades take the scalar path, file batches numpy: same crossings, sides and inputs."""
    events = bar_trades(0, [(22000 + p, sd, sz) for p, sz, sd in legs])
    r = rule("vwap_cross", band=band, confirm_ticks=confirm)
    assert fired(events, r, batch_size=1) == fired(events, r, batch_size=len(events) + 20)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(1, 9), st.sampled_from([B, S])), min_size=65, max_size=120),
       st.integers(5, 40))
def test_threshold_crossings_trade_by_trade_equal_the_vectorized_path(legs, level):
    """Cumulative delta, bar delta and bar volume crossings: scalar (live) and numpy (file) paths agree."""
    events = bar_trades(0, [(22000 + p, sd, sz) for p, sz, sd in legs])
    rules = [rule("cum_delta_cross", level=level), rule("bar_delta_cross", level=level),
             rule("bar_volume_cross", level=3 * level)]
    one_by_one = fired(events, *rules, batch_size=1)
    assert one_by_one == fired(events, *rules, batch_size=len(events) + 20)
    assert any(s.kind == "bar_volume_cross" for s in one_by_one) == (sum(sz for _, sz, _ in legs) >= 3 * level)


def test_rounded_matches_round_to_four_places_and_keeps_non_finite():
    import math
    import random

    from tapeflow.signals.api import rounded

    rng = random.Random(7)
    values = [rng.uniform(-5000, 5000) for _ in range(20_000)] + [0.0, 1.0, 3.33335, 2.71828182, 1e-5, -1e-5]
    assert all(rounded(v) == round(v, 4) for v in values if abs(v * 10000.0 % 1.0 - 0.5) > 1e-6)
    assert rounded(1.00005) in (1.0, 1.0001)  # a tie (in binary, nearly): either neighbour
    assert rounded(np.float64(2.5)) == 2.5 and type(rounded(np.float64(2.5))) is float
    assert rounded(math.inf) == math.inf and math.isnan(rounded(math.nan))
