"""Chart axes: which ticks get labels, in what words, at every zoom."""

from __future__ import annotations

import numpy as np

from tapeflow.core.instruments import instrument
from tapeflow.ui.axes import BarTimeAxis, ContractsAxis, PriceAxis, nice_step

T0 = 1_719_926_400_000_000_000  # 2024-07-02 13:20 UTC = 09:20 ET
MINUTE = 60_000_000_000


def test_nice_step_is_the_smallest_round_step_that_is_wide_enough():
    assert nice_step(0.3) == 1
    assert nice_step(3) == 5
    assert nice_step(7) == 10
    assert nice_step(738) == 1000
    assert nice_step(3, (1, 2, 4, 5)) == 4


def test_price_axis_labels_whole_ticks_even_with_hundreds_of_ticks_in_view(qapp):
    ax = PriceAxis(instrument("ES"), "right")
    # 915 ticks over 600 px (the far zoom the frame benchmark shows): one label every 40+ ticks
    got = ax.labels(22_000.0, 22_915.0, 600.0)
    assert 8 <= len(got) <= 25
    values = [v for v, _ in got]
    step = values[1] - values[0]
    assert step >= 915 * 28 / 600 and all(v == int(v) and int(v) % step == 0 for v in values)
    assert got[0][1] == instrument("ES").format_price(int(values[0]))  # ticks shown as prices


def test_price_axis_labels_every_tick_when_rows_are_tall(qapp):
    got = PriceAxis(instrument("ES"), "right").labels(22_000.0, 22_010.0, 600.0)
    assert [v for v, _ in got] == [float(v) for v in range(22_000, 22_011)]
    assert got[4][1] == "5501.00"  # 22004 ticks of 0.25


def test_time_axis_labels_bar_start_times_in_new_york_at_whole_bar_steps(qapp):
    ax = BarTimeAxis()
    ax.start_ns = T0 + np.arange(30, dtype=np.int64) * 2 * MINUTE  # 2-minute bars from 09:20 ET
    got = ax.labels(-0.5, 29.5, 300.0)  # 10 px a bar: 64 px apart needs a step of 10 bars
    assert got == [(0.0, "09:20"), (10.0, "09:40"), (20.0, "10:00")]


def test_time_axis_has_no_label_past_the_last_bar(qapp):
    ax = BarTimeAxis()
    ax.start_ns = T0 + np.arange(3, dtype=np.int64) * MINUTE
    assert [v for v, _ in ax.labels(-0.5, 8.5, 900.0)] == [0.0, 1.0, 2.0]


def test_contracts_axis_labels_round_counts_with_thousands_separated(qapp):
    got = ContractsAxis("right").labels(-3_300.0, 400.0, 130.0)
    assert got == [(-3000.0, "-3,000"), (-2000.0, "-2,000"), (-1000.0, "-1,000"), (0.0, "0")]
