"""Scenario events carry exactly the hand-computed facts they claim to plant."""

from __future__ import annotations

import numpy as np
import pytest

from tapeflow.core.events import EVENT_DTYPE, Kind
from tapeflow.feeds import scenarios
from tapeflow.feeds.scenarios import BAR_NS, BAR_START


def footprint(ev: np.ndarray) -> dict[int, tuple[int, int]]:
    """price -> (bid volume, ask volume), the plain way (independent of the analytics code)."""
    out: dict[int, list[int]] = {}
    for row in ev[ev["kind"] == Kind.TRADE]:
        cell = out.setdefault(int(row["price"]), [0, 0])
        cell[0 if row["side"] < 0 else 1] += int(row["size"])
    return {p: (b, a) for p, (b, a) in sorted(out.items())}


@pytest.mark.parametrize("name", sorted(scenarios.ALL))
def test_every_scenario_is_time_ordered_inside_its_bars(name):
    ev, facts = scenarios.ALL[name]()
    assert ev.dtype == EVENT_DTYPE
    assert (np.diff(ev["ts_event"]) >= 0).all()
    bars = facts.bars if hasattr(facts, "bars") else [facts.bar]
    assert ev["ts_event"].min() >= bars[0].bar_start_ns == BAR_START
    assert ev["ts_event"].max() < bars[-1].bar_start_ns + BAR_NS
    assert set(np.unique(ev["side"][ev["kind"] == Kind.TRADE]).tolist()) <= {-1, 1}


@pytest.mark.parametrize("name", ["stacked_imbalance", "absorption", "unfinished_auction", "zero_print"])
def test_bar_facts_match_the_events(name):
    ev, facts = scenarios.ALL[name]()
    bar = facts.bar
    tr = ev[ev["kind"] == Kind.TRADE]
    assert footprint(ev) == bar.volumes
    assert (bar.open, bar.close) == (tr["price"][0], tr["price"][-1])
    assert (bar.low, bar.high) == (tr["price"].min(), tr["price"].max())
    assert bar.volume == tr["size"].sum()
    assert bar.delta == (tr["size"] * tr["side"]).sum()


def test_stacked_imbalance_is_three_levels_of_at_least_300_percent():
    ev, facts = scenarios.stacked_imbalance()
    fp = footprint(ev)
    assert facts.imbalance_prices == [22002, 22003, 22004]
    assert [fp[p][1] for p in (22002, 22003, 22004)] == [36, 30, 24]
    assert [fp[p - 1][0] for p in (22002, 22003, 22004)] == [12, 4, 5]
    assert facts.ratio == 3.0  # 36 / 12 is the weakest of the three
    diagonal_buy = [p for p in fp if p - 1 in fp and fp[p][1] >= 3 * max(fp[p - 1][0], 1)]
    assert diagonal_buy == [22002, 22003, 22004]
    diagonal_sell = [p for p in fp if p + 1 in fp and fp[p][0] >= 3 * max(fp[p + 1][1], 1)]
    assert diagonal_sell == facts.sell_imbalance_prices == []
    assert (facts.bar.delta, facts.bar.volume) == (69, 159)


def test_absorption_bid_holds_and_refreshes():
    ev, facts = scenarios.absorption()
    tr = ev[ev["kind"] == Kind.TRADE]
    sells = tr[tr["side"] < 0]
    assert (sells["price"] == 22000).all()
    assert (facts.sell_volume, facts.sell_prints) == (300, 60) == (sells["size"].sum(), len(sells))
    assert tr["price"].min() == 22000 and facts.break_price is None
    shown = ev[(ev["kind"] == Kind.LEVEL) & (ev["side"] == 1) & (ev["price"] == 22000)]["size"]
    assert shown[0] == 60
    assert shown.min() == facts.min_displayed == 10
    assert int((np.diff(shown) > 0).sum()) == facts.refreshes == 5
    assert facts.bar.close == 22003


def test_unfinished_auction_at_the_high_and_finished_at_the_low():
    ev, facts = scenarios.unfinished_auction()
    fp = footprint(ev)
    assert fp[22010] == (7, 5) and facts.unfinished_high
    assert fp[22004] == (9, 0) and not facts.unfinished_low


def test_zero_print_inside_the_bar():
    ev, facts = scenarios.zero_print()
    fp = footprint(ev)
    assert facts.zero_prices == [22003]
    assert 22003 not in fp
    assert [p for p in range(facts.bar.low, facts.bar.high + 1) if p not in fp] == [22003]


def test_delta_divergence_higher_high_lower_delta():
    ev, facts = scenarios.delta_divergence()
    tr = ev[ev["kind"] == Kind.TRADE]
    cum = np.cumsum(tr["size"].astype(np.int64) * tr["side"])
    bar2 = tr["ts_event"] >= BAR_START + BAR_NS
    for i, in_bar in enumerate([~bar2, bar2]):
        px, cd = tr["price"][in_bar], cum[in_bar]
        at_high = np.flatnonzero(px == px.max())[-1]
        assert px.max() == facts.highs[i]
        assert cd[at_high] == facts.delta_at_high[i]
        assert cd.max() == facts.delta_high[i]
    assert facts.highs == [22010, 22012] and facts.delta_at_high == [120, 60]
    assert facts.delta_high == [120, 70]
    assert facts.bearish_divergence
    assert [footprint(ev[~bar2 if i == 0 else bar2]) for i in (0, 1)] == [b.volumes for b in facts.bars]
    assert [b.delta for b in facts.bars] == [40, 20]
