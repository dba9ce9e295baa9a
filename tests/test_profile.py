import numpy as np

from tapeflow.core.events import make_trades
from tapeflow.core.timeutil import iso_to_ns
from tapeflow.flow.bars import parse_bar_spec
from tapeflow.flow.footprint_batch import build_footprint
from tapeflow.flow.profile import VolumeProfile

T0 = iso_to_ns("2024-07-02T14:00:00Z")


def test_profile_poc_and_value_area_by_hand():
    vols = {100: 1, 101: 2, 102: 6, 103: 10, 104: 6, 105: 1, 106: 4}
    ev = make_trades([T0] * 7, list(vols), list(vols.values()), [1, -1, 1, -1, 1, -1, 1])
    s = VolumeProfile.from_trades(ev, value_area_method="one_row").summary()
    assert (s.low, s.high, s.volume, s.poc, s.val, s.vah) == (100, 106, 30, 103, 102, 104)
    s = VolumeProfile.from_trades(ev).summary()  # two_row: 101..103 (pair 8 > 7), then 104..105 (7 > 1)
    assert (s.poc, s.val, s.vah) == (103, 101, 105)
    assert s.delta == (1 + 6 + 6 + 4) - (2 + 10 + 1)


def test_profile_grows_at_both_ends_and_batches_add_up():
    a = make_trades([T0, T0], [100, 101], [3, 4], [1, -1])
    b = make_trades([T0, T0], [95, 110], [1, 2], [1, 0])
    p = VolumeProfile()
    p.add(a)
    p.add(b)
    whole = VolumeProfile.from_trades(np.concatenate([a, b]))
    assert p.base == 95 and len(p.volume) == 16
    assert np.array_equal(p.volume, whole.volume) and p.base == whole.base
    assert p.volume[110 - 95] == 2 and p.unknown.sum() == 2


def test_profile_of_one_bar_matches_the_bar():
    rng = np.random.default_rng(3)
    n = 500
    ev = make_trades(T0 + np.arange(n), 22000 + rng.integers(-8, 9, n), rng.integers(1, 20, n), rng.choice([-1, 1], n))
    bar = build_footprint(ev, parse_bar_spec("1h")).bar(0)
    s = VolumeProfile.from_trades(ev).summary()
    assert (s.poc, s.val, s.vah, s.volume, s.delta) == (bar["poc"], bar["val"], bar["vah"], bar["volume"], bar["delta"])


def test_volume_nodes_find_two_peaks_and_the_gap_between():
    # Two bell-shaped clusters around 110 and 130 with a thin area near 120.
    prices, sizes = [], []
    for centre in (110, 130):
        for off in range(-6, 7):
            prices.append(centre + off)
            sizes.append(60 - 9 * abs(off))
    for p in range(117, 124):
        if p not in prices:
            prices.append(p)
            sizes.append(1)
    ev = make_trades([T0] * len(prices), prices, sizes, [1] * len(prices))
    s = VolumeProfile.from_trades(ev).summary()
    assert s.hvn == (110, 130)
    assert len(s.lvn) == 1 and 118 <= s.lvn[0] <= 122


def test_version_moves_with_every_change_of_the_profile():
    p = VolumeProfile()
    seen = [p.version]
    p.add(make_trades([1, 2], [100, 102], [3, 4], [1, -1]))
    seen.append(p.version)
    p.add_one(101, 2, 0)
    seen.append(p.version)
    p.add_one(90, 1, 1)  # outside the covered range: grows it
    seen.append(p.version)
    summary = p.summary()
    p.reset()
    seen.append(p.version)
    assert len(set(seen)) == len(seen)
    assert summary.volume == 10 and p.summary() is None
