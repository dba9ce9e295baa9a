"""Value area methods, hand-computed: CBOT two-row (the default) and one-row.

Each case is a bar of one print per price (volumes listed low to high); the batch and the
streaming footprint builders, the session profile and the scalar rule must all give the same
area. 70% of the total is the target throughout unless a case says otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from tapeflow.core.events import make_trades
from tapeflow.core.instruments import instrument
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.flow.bars import parse_bar_spec
from tapeflow.flow.footprint_batch import build_footprint
from tapeflow.flow.footprint_stream import FootprintBuilder
from tapeflow.flow.profile import VolumeProfile
from tapeflow.flow.state import FlowSettings, FlowState
from tapeflow.flow.value_area import method_rows, value_area_of

T0 = iso_to_ns("2024-07-02T14:00:00Z")


def area(vols: list[int], method: str | None = None, fraction: float = 0.70) -> tuple[int, int]:
    """(VAL, VAH) as prices 100 + index, checked equal across every path that computes it."""
    kw = {} if method is None else {"value_area_method": method}
    prices = [100 + i for i in range(len(vols))]
    ev = make_trades([T0] * len(vols), prices, vols, [1] * len(vols))
    batch = build_footprint(ev, parse_bar_spec("1m"), value_area=fraction, **kw).bar(0)
    stream = FootprintBuilder(parse_bar_spec("1m"), value_area=fraction, **kw)
    stream.update(ev)
    sbar = stream.bars().bar(0)
    prof = VolumeProfile.from_trades(ev, value_area=fraction, **kw).summary()
    got = {(int(batch["val"]), int(batch["vah"])), (int(sbar["val"]), int(sbar["vah"])), (prof.val, prof.vah)}
    assert len(got) == 1, got
    return got.pop()


def test_two_row_is_the_default_and_adds_the_larger_pair():
    # 100..106: 1 2 6 10 6 1 4 (30, target 21). POC 103 (10).
    # pairs: above 104+105 = 7, below 102+101 = 8 -> 101..103 (18)
    # then above 104+105 = 7, below only 100 = 1 -> 101..105 (25 >= 21)
    vols = [1, 2, 6, 10, 6, 1, 4]
    assert area(vols) == area(vols, "two_row") == (101, 105)
    assert area(vols, "one_row") == (102, 104)  # 103, then 102 and 104 tie at 6: both (22)


def test_two_row_tie_between_the_pairs_takes_both():
    # 100..106: 2 3 4 10 5 2 1 (27, target 18.9). POC 103.
    # above 104+105 = 7, below 102+101 = 7: tie, both -> 101..105 (24)
    vols = [2, 3, 4, 10, 5, 2, 1]
    assert area(vols, "two_row") == (101, 105)
    # one row: 104 (5) > 102 (4) -> 15; 105 (2) < 102 (4) -> 19 >= 18.9
    assert area(vols, "one_row") == (102, 104)


def test_two_row_with_one_price_left_on_a_side_compares_that_price_alone():
    # 100..104: 5 1 1 10 6 (23, target 16.1). POC 103.
    # above: only 104 = 6, below 102+101 = 2 -> 103..104 (16, short of 16.1)
    # above: nothing left, below 102+101 = 2 -> 101..104 (18)
    vols = [5, 1, 1, 10, 6]
    assert area(vols, "two_row") == (101, 104)
    # one row: 104 (6) > 102 (1) -> 16; nothing above, 102 (1) -> 17 -> 102..104
    assert area(vols, "one_row") == (102, 104)


def test_two_row_at_the_edge_of_the_range_only_grows_inwards():
    # 100..105: 1 8 2 10 3 1 (25, target 17.5). POC 103.
    # above 104+105 = 4, below 102+101 = 10 -> 101..103 (22)
    vols = [1, 8, 2, 10, 3, 1]
    assert area(vols, "two_row") == (101, 103)
    # one row: 104 (3) > 102 (2) -> 13; 102 (2) > 105 (1) -> 15; 101 (8) > 105 (1) -> 23
    assert area(vols, "one_row") == (101, 104)
    # POC on the top price: 100..104: 3 4 5 6 9 (27, target 18.9); only pairs below are taken
    assert area([3, 4, 5, 6, 9], "two_row") == (102, 104)  # 9 + (6 + 5) = 20


def test_whole_range_at_100_percent_and_poc_alone_when_it_is_enough():
    assert area([1, 2, 6, 10, 6, 1, 4], "two_row", fraction=1.0) == (100, 106)
    assert area([1, 20, 1], "two_row") == (101, 101)  # 20 of 22 >= 70%


def test_flow_settings_carry_the_method_to_bars_and_session_profile():
    inst = instrument("ES")
    vols = [1, 8, 2, 10, 3, 1]
    ev = make_trades([T0] * len(vols), [22000 + i for i in range(len(vols))], vols, [1] * len(vols))
    for method, expected in (("two_row", (22001, 22003)), ("one_row", (22001, 22004))):
        state = FlowState(inst, FlowSettings(bar="1m", value_area_method=method))
        state.update(ev)
        bar = state.builder.bars().bar(0)
        assert (int(bar["val"]), int(bar["vah"])) == expected
        prof = state.snapshot().profile
        assert (prof.val, prof.vah) == expected


def test_an_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="value_area_method must be one of two_row, one_row"):
        method_rows("three_row")
    with pytest.raises(ValueError, match="three_row"):
        FootprintBuilder(parse_bar_spec("1m"), value_area_method="three_row")


def test_scalar_and_vectorized_rules_agree_on_random_profiles():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 14))
        vols = rng.integers(0, 9, n).tolist()  # a 0 is a price nobody traded inside the range
        vols[0] += 1  # the range ends at prices that traded
        vols[-1] += 1
        for method in ("two_row", "one_row"):
            lo, hi = area(vols, method, fraction=float(rng.choice([0.5, 0.7, 0.9])))
            assert 100 <= lo <= hi < 100 + n
    assert value_area_of([3, 3], 0, 0.7, "two_row") == (0, 1)


def test_footprint_command_takes_the_method_and_reports_the_area_it_computes(capsys):
    import json

    from tapeflow.cli import main
    from tapeflow.feeds.open import open_source

    spec = "sim://?seed=3&minutes=20"
    per_method = {}
    for method in ("two_row", "one_row"):
        assert main(["footprint", spec, "--bar", "1m", "--format", "json", "--value-area-method", method]) == 0
        per_method[method] = [(b["val"], b["vah"]) for b in map(json.loads, capsys.readouterr().out.splitlines())]
    events = np.concatenate(list(open_source(spec)))
    for method, got in per_method.items():
        bars = build_footprint(events, parse_bar_spec("1m"), value_area_method=method)
        assert got == [(float(v) * 0.25, float(h) * 0.25) for v, h in zip(bars.val, bars.vah, strict=True)]
    assert per_method["two_row"] != per_method["one_row"]  # the methods disagree on some bars
    with pytest.raises(SystemExit) as bad:  # argparse: one line naming the choices, exit 2
        main(["footprint", spec, "--value-area-method", "three_row"])
    assert bad.value.code == 2 and "choose from 'two_row', 'one_row'" in capsys.readouterr().err
