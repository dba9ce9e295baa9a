"""Chart axes: which ticks get labels, in what words, at every zoom; the session profile's image."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui

from tapeflow.core.instruments import instrument
from tapeflow.flow.profile import ProfileSummary
from tapeflow.ui.axes import BarTimeAxis, ContractsAxis, PriceAxis, nice_step
from tapeflow.ui.profile_item import SessionProfileItem
from tapeflow.ui.theme import DARK, LIGHT

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


def _profile_by_mask(item, t, dev) -> QtGui.QImage:
    """The session profile's bars as straight-alpha pixels, one mask per side over every pixel (how
    the item drew them before it laid rows out as runs): the reference for its image."""
    sx, sy, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()
    ys = (np.arange(dev.top(), dev.top() + dev.height()) + 0.5 - dy) / sy
    ticks = np.floor(ys + 0.5).astype(np.int64)
    k = ticks - int(item.prices[0])
    ok = (k >= 0) & (k < len(item.prices))
    if abs(sy) >= 4:
        ok &= np.abs(ys - ticks) <= 0.45
    k = np.clip(k, 0, len(item.prices) - 1)
    b = np.where(ok, item.bid[k], 0).astype(float)[:, None]
    a = np.where(ok, item.ask[k], 0).astype(float)[:, None]
    v = ((np.arange(dev.left(), dev.left() + dev.width()) + 0.5 - dx) / sx)[None, :]
    s = item.summary
    in_va = (ticks >= s.val) & (ticks <= s.vah) if s is not None else np.zeros(len(ticks), bool)
    out = np.zeros((dev.height(), dev.width()), np.uint32)
    for name, sel in (("bid", v < b), ("ask", (v >= b) & (v < b + a))):
        inside, outside = (np.uint32(item.theme.color(name, alpha).rgba()) for alpha in (230, 120))
        out[sel] = np.broadcast_to(np.where(in_va, inside, outside)[:, None], out.shape)[sel]
    return QtGui.QImage(out.data, dev.width(), dev.height(), dev.width() * 4, QtGui.QImage.Format.Format_ARGB32).copy()


def test_session_profile_image_draws_as_the_per_pixel_masks_did(qapp):
    rng = np.random.default_rng(7)
    for trial in range(60):
        theme = DARK if trial % 2 else LIGHT
        item = SessionProfileItem(theme)
        n = int(rng.integers(1, 1500))
        p0 = int(rng.integers(20_000, 100_000))
        item.prices = np.arange(p0, p0 + n, dtype=np.int64)
        item.bid = rng.integers(0, 3000, n) * (rng.random(n) < 0.9)
        item.ask = rng.integers(0, 3000, n)
        summary = ProfileSummary(p0, p0 + n, 1, 0, p0 + n // 2, p0 + n // 3, p0 + 2 * n // 3, (), ())
        item.summary = summary if trial % 5 else None
        t = QtGui.QTransform(float(rng.choice([0.01, 0.05, 0.2, 1.3])), 0, 0, -float(rng.choice([0.3, 1, 5, 12])),
                             float(rng.uniform(-50, 900)), float(rng.uniform(-1e5, 1e6)))
        dev = QtCore.QRect(int(rng.integers(0, 900)), int(rng.integers(0, 200)),
                           int(rng.integers(1, 120)), int(rng.integers(1, 800)))
        got, want = item._render(t, dev), _profile_by_mask(item, t, dev)
        assert got.format() == QtGui.QImage.Format.Format_ARGB32_Premultiplied  # drawn without a conversion
        assert got == want.convertToFormat(got.format())
        painted = []
        for img in (got, want):  # and over the view's background, pixel for pixel the same
            dst = QtGui.QImage(dev.width() + 4, dev.height() + 4, QtGui.QImage.Format.Format_RGB32)
            dst.fill(QtGui.QColor(theme.background))
            p = QtGui.QPainter(dst)
            p.drawImage(QtCore.QPoint(2, 2), img)
            p.end()
            painted.append(dst)
        assert painted[0] == painted[1]


def test_axis_labels_draw_the_same_from_the_cached_texts_and_a_new_font_lays_them_out_again(qapp):
    ax = PriceAxis(instrument("ES"), "right")
    ax.setTextPen(DARK.text_dim)
    bounds = QtCore.QRectF(0, 0, 62, 600)
    font = QtGui.QFont()
    _, cold = ax._render(bounds, 22000.3, 22150.7, font, 1.0)
    assert ax._texts and ax._sizes  # prepared texts and their sizes kept
    _, warm = ax._render(bounds, 22000.3, 22150.7, font, 1.0)
    assert cold.toImage() == warm.toImage()
    cold_h = max(h for _, h in ax._sizes.values())
    big = QtGui.QFont(font)
    big.setPointSize(font.pointSize() + 6)
    marks, _ = ax._render(bounds, 22000.3, 22150.7, big, 1.0)
    for text, st in ax._texts.items():  # sizes of the new font, not the old one
        assert ax._sizes.get(text, (0.0, st.size().height()))[1] == st.size().height()
    assert any(ax._sizes[t][1] > cold_h for t in ax._sizes)
    assert ax._font_key == big.key()
    assert marks
