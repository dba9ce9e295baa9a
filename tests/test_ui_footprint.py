"""Footprint pane: cached bar pictures, bounds, level of detail, crosshair numbers, modes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui
from test_ui_support import SIM, feed_all, make_session, shot

from tapeflow.appdirs import app_paths
from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument
from tapeflow.pipeline import Pipeline
from tapeflow.trading.testing import et, trades
from tapeflow.ui.footprint_item import COARSE_TILE, FootprintMode, choose_detail
from tapeflow.ui.footprint_pane import FootprintPane
from tapeflow.ui.highlight_item import Band
from tapeflow.ui.session import build_session
from tapeflow.ui.theme import DARK, LIGHT, apply_theme

D = date(2024, 7, 2)


@pytest.fixture
def pane(qtbot, qapp):
    apply_theme(qapp, DARK)
    p = FootprintPane(instrument("ES"), DARK)
    p.resize(1100, 700)
    qtbot.addWidget(p)
    p.show()
    return p


def shown_session(pane, tmp_path):
    """A whole simulated session fed and shown in the pane; returns its bars."""
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    snap = s.pipeline.snapshot()
    pane.update_from(snap)
    return snap.flow.bars


def test_item_bounding_rect_covers_every_bar_from_lowest_low_to_highest_high(pane, tmp_path):
    bars = shown_session(pane, tmp_path)
    r = pane.item.boundingRect()
    assert len(bars) >= 10
    assert r.left() <= -0.5 and r.right() >= len(bars) - 0.5
    assert r.top() <= bars.low.min() - 0.5 and r.bottom() >= bars.high.max() + 0.5


def test_finished_bars_are_drawn_once_and_only_the_live_bar_again(pane, tmp_path):
    s = make_session(tmp_path, engine=False)
    events = np.concatenate(list(s.source))
    s.pipeline.process(events[: len(events) - 200])
    pane.update_from(s.pipeline.snapshot())
    pane.graphics.grab()
    first = pane.item.pictures_built
    assert first >= 3  # every bar in view drawn once
    pane.graphics.grab()
    assert pane.item.pictures_built == first  # nothing changed: nothing redrawn
    s.pipeline.process(events[len(events) - 200 : len(events) - 199])  # one more event, same live bar
    pane.update_from(s.pipeline.snapshot())
    pane.graphics.grab()
    assert pane.item.pictures_built - first <= 1


def test_numbers_are_drawn_only_when_a_row_is_tall_and_a_cell_wide_enough():
    # bid x ask: two cells share 82% of the bar pitch, so a 60 px bar gives 24.6 px cells
    assert choose_detail(60, 12, FootprintMode.BID_ASK).numbers
    assert not choose_detail(50, 12, FootprintMode.BID_ASK).numbers  # 20.5 px cells: too narrow
    assert not choose_detail(60, 8, FootprintMode.BID_ASK).numbers  # 8 px rows: too short
    assert choose_detail(40, 12, FootprintMode.DELTA).numbers  # one 32.8 px cell
    assert choose_detail(10, 1, FootprintMode.VOLUME).cells is False  # far out: candles and POC only


def test_crosshair_reads_the_bid_and_ask_volume_of_the_row_under_the_mouse(pane):
    pipe = Pipeline(instrument("ES"))
    t0 = et(D, "10:00")
    # price 22000: 3 sold at the bid, 5 bought at the ask; 22001: 2 bought
    pipe.process(trades(t0, [(22000, 3, -1), (22000, 5, 1), (22001, 2, 1)]))
    pane.update_from(pipe.snapshot())
    text = pane.describe(0, 22000)
    assert "5500.00" in text and "bid 3 x ask 5" in text and "Δ +2" in text and "vol 8" in text
    assert "bid 0 x ask 2" in pane.describe(0.2, 22001.3)
    pane.set_ticks_per_row(2)  # rows of two ticks: 22000 and 22001 merge
    assert "bid 3 x ask 7" in pane.describe(0, 22001)


def test_signal_log_click_target_moves_the_view_to_that_bar(pane, tmp_path):
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    snap = s.pipeline.snapshot()
    pane.update_from(snap)
    i = pane.jump_to_bar(int(snap.flow.bars.start_ns[2]))
    assert i == 2 and not pane.follow
    (x0, x1), _ = pane.plot.getViewBox().viewRange()
    assert x0 < 2 < x1


@pytest.mark.parametrize("mode", list(FootprintMode))
def test_screenshot_of_each_mode(pane, tmp_path, mode):
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    pane.set_mode(mode)
    pane.visible_bars = 8
    pane.update_from(s.pipeline.snapshot())
    pane.set_follow(True)
    shot(pane, f"footprint_{mode.name.lower()}", tmp_path)


def test_screenshot_zoomed_out_with_merged_rows_in_the_light_theme(pane, tmp_path, qapp):
    s = make_session(tmp_path, engine=True)
    feed_all(s)
    pane.apply_theme(LIGHT)
    apply_theme(qapp, LIGHT)
    pane.set_ticks_per_row(2)
    pane.visible_bars = 30
    pane.update_from(s.pipeline.snapshot(), s.bands())
    pane.set_follow(True)
    shot(pane, "footprint_light_far", tmp_path)


def footers_drawn(pane, tmp_path) -> None:
    """A session shown with 8 bars in view, followed and painted (footer sprites cached)."""
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    pane.visible_bars = 8
    pane.update_from(s.pipeline.snapshot())
    pane.set_follow(True)
    pane.graphics.grab()


def test_footer_numbers_are_kept_in_the_cached_sprites(pane, tmp_path):
    footers_drawn(pane, tmp_path)
    sprites = list(pane.item._footer_cache.values())
    assert sprites and all(sp.pixmap.height() >= 3 * 13 and sp.pixmap.width() >= 40 for sp in sprites)


def test_every_footer_line_is_whole_and_clear_of_the_time_axis_ticks(pane, tmp_path):
    footers_drawn(pane, tmp_path)
    item = pane.item
    h = item.footer_height_px()
    ticks = max(0, -pane.time_axis.style["tickLength"])  # drawn up into the plot, over the footer's bottom
    sprites = list(item._footer_cache.values())
    assert sprites
    for sp in sprites:  # the footer numbers' ink (the sprites are transparent elsewhere)
        img = sp.pixmap.toImage()
        dpr = sp.pixmap.devicePixelRatio()
        inked = [y for y in range(img.height()) if any(img.pixelColor(x, y).alpha() for x in range(img.width()))]
        assert inked and inked[0] / dpr + sp.offset.y() >= 0
        assert (inked[-1] + 1) / dpr + sp.offset.y() <= h - ticks, (inked[-1], h, ticks)
    shot(pane, "footprint_footer", tmp_path)


def test_zone_bands_stop_above_the_footer_and_do_not_cover_its_numbers(pane, tmp_path):
    s = make_session(tmp_path, engine=False)
    feed_all(s)
    snap = s.pipeline.snapshot()
    bars = snap.flow.bars
    pane.visible_bars = 8
    # a band over every price from the first bar on: it covers the whole plot, footer included
    band = Band("stacked_imbalance", Side.BUY, int(bars.low.min()) - 500, int(bars.high.max()) + 500,
                int(bars.start_ns[0]))
    pane.update_from(snap, (band,))
    pane.set_follow(True)
    img = pane.graphics.grab().toImage()
    vb = pane.plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    px_per_tick = vb.height() / (y1 - y0)
    footer = pane.item.footer_px(vb.width() / (x1 - x0))
    assert footer > 0  # at 8 bars the footer is shown
    x = x0 + 0.02 * (x1 - x0)  # left edge: the gap before the first bar in view, no cells

    def color_at(price: float):
        p = pane.graphics.mapFromScene(vb.mapViewToScene(pg.Point(x, price)))
        return img.pixelColor(p.x(), p.y())

    in_footer = color_at(y0 + 0.5 * footer / px_per_tick)
    above = color_at(y0 + 2 * footer / px_per_tick)
    assert in_footer == pane.theme.color("panel", 235) or in_footer.rgb() != above.rgb()
    assert above.rgb() != QtGui.QColor(pane.theme.background).rgb()  # the band tints the plot above it
    shot(pane, "footprint_band_and_footer", tmp_path)


def test_a_split_paint_region_is_painted_part_by_part_not_as_its_bounding_rect(qapp):
    # the live bar's column and the last-price strip across the chart: Qt's exposed rect is their
    # bounding rect (the whole chart); the view's region gives the two parts, in item coordinates
    from tapeflow.ui.footprint_item import _exposed_parts

    t = QtGui.QTransform(10, 0, 0, -2, 0, 400)  # item (bar, tick) -> pixels: x * 10, 400 - 2 y
    column, strip = QtCore.QRect(0, 0, 10, 100), QtCore.QRect(0, 200, 500, 4)

    class View:
        paint_region = QtGui.QRegion(column) + strip

    class Viewport:
        def parentWidget(self):  # noqa: N802 - Qt API
            return View()

    exposed = QtCore.QRectF(0, 98, 50, 102)  # their bounding rect
    view = QtCore.QRectF(0, 0, 100, 300)
    parts = sorted((r.left(), r.top(), r.width(), r.height()) for r in _exposed_parts(t, Viewport(), exposed, view))
    assert parts == [(0.0, 98.0, 50.0, 2.0), (0.0, 150.0, 1.0, 50.0)]
    View.paint_region = QtGui.QRegion(column)  # one rectangle: Qt's rect as it is
    assert _exposed_parts(t, Viewport(), exposed, view) == [exposed]
    assert _exposed_parts(t, None, exposed, view) == [exposed]


def test_follow_moves_x_and_y_in_one_range_update(pane, tmp_path):
    """A new bar that also re-centres the price range updates the view (and its linked panes) once."""
    bars = shown_session(pane, tmp_path)
    vb = pane.plot.getViewBox()
    vb.setRange(xRange=(0, 3), yRange=(0, 20), padding=0)  # far from the live bar, both axes off
    pane._n_bars = len(bars)
    seen = []
    vb.sigRangeChanged.connect(lambda *_: seen.append(vb.viewRange()))
    pane._follow(bars)
    assert len(seen) == 1
    (x0, x1), (y0, y1) = vb.viewRange()
    n = len(bars)
    assert (x0, x1) == pytest.approx((n - pane.visible_bars - 0.5, n + 0.5))
    last = pane._last_price if pane._last_price is not None else int(bars.close[-1])
    assert (y0 + y1) / 2 == pytest.approx(last) and y1 - y0 == pytest.approx(20)
    seen.clear()
    pane._follow(bars)  # already there: no update at all
    assert seen == []


def far_out(pane, tmp_path, cut: int = 0):
    """A session (less its last ``cut`` events) with every bar in view: rows under 1.5 px, the
    candles-only level of detail; returns the session and its events."""
    s = build_session(SIM, app_paths(tmp_path), use_engine=False, bar="20s")  # 90 bars: several tiles
    events = np.concatenate(list(s.source))
    s.pipeline.process(events[: len(events) - cut])
    bars = s.pipeline.snapshot().flow.bars
    pane.visible_bars = len(bars)
    pane.update_from(s.pipeline.snapshot())
    vb = pane.plot.getViewBox()
    vb.setRange(xRange=(-0.5, len(bars) + 0.5),
                yRange=(int(bars.low.min()) - 250, int(bars.high.max()) + 250), padding=0)
    pane.graphics.scene().prepareForPaint()
    assert not choose_detail(*_px_per_bar_and_row(pane), pane.item.mode).cells
    return s, events


def _px_per_bar_and_row(pane) -> tuple[float, float]:
    vb = pane.plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    return vb.width() / (x1 - x0), vb.height() / (y1 - y0)


def test_far_out_the_finished_bars_come_from_tiles_that_look_like_drawing_them(pane, tmp_path):
    far_out(pane, tmp_path)
    tiled = pane.graphics.grab().toImage()
    assert pane.item._tiles  # the finished bars were drawn into tiles
    pane.item.caching = False  # every bar drawn straight, as before tiles
    pane.item.update()
    straight = pane.graphics.grab().toImage()
    assert tiled == straight


def test_a_finished_bar_is_added_to_the_tile_it_joins_and_only_that_one(pane, tmp_path):
    s, events = far_out(pane, tmp_path, cut=3000)
    pane.set_follow(False)  # the view stays put: the tiles are blitted at the sub-pixel phase they were drawn at
    pane.graphics.grab()
    before = {i: (tile.count, tile.pixmap.cacheKey()) for i, tile in pane.item._tiles.items()}
    n = len(pane.item.bars)
    joined = (n - 1) // COARSE_TILE
    tile = pane.item._tiles.get(joined)
    built = pane.item.pictures_built
    pane.graphics.grab()
    assert pane.item.pictures_built == built  # nothing new: every tile reused
    k = 0
    while len(s.pipeline.snapshot().flow.bars) == n:  # up to the next bar
        s.pipeline.process(events[len(events) - 3000 + k : len(events) - 3000 + k + 50])
        k += 50
    pane.update_from(s.pipeline.snapshot())
    tiled = pane.graphics.grab().toImage()
    after = {i: (tile.count, tile.pixmap.cacheKey()) for i, tile in pane.item._tiles.items()}
    changed = [i for i in after if after[i] != before.get(i)]
    assert changed == [joined]  # the bar that closed joined its tile
    assert tile is None or pane.item._tiles[joined] is tile  # drawn onto it (there was room), not anew
    assert after[joined][0] == (n - 1) - joined * COARSE_TILE + 1
    pane.item.caching = False
    pane.item.update()
    assert tiled == pane.graphics.grab().toImage()  # as if every bar were drawn straight


def test_far_out_a_new_bar_keeps_the_signal_marks_and_still_draws_them_as_made_afresh(pane, tmp_path):
    from tapeflow.signals.model import Signal

    s, _ = far_out(pane, tmp_path, cut=3000)
    pane.set_follow(False)
    bars = s.pipeline.snapshot().flow.bars
    n = len(bars)

    def sig(i: int, kind: str, side) -> Signal:
        return Signal(ts_ns=int(bars.start_ns[min(i, n - 1)]) + 1, instrument="ES", kind=kind, side=side,
                      price=int(bars.close[min(i, n - 1)]) + (i % 5), strength=3.0,
                      bar_start_ns=int(bars.start_ns[min(i, n - 1)]) + (10**12 if i >= n else 0), rule="r")

    # imbalances, absorptions and zones on the bars, and one on a bar still to come
    signals = tuple(sig(i, k, side) for i in range(0, n + 1, 2)
                    for k, side in (("imbalance", Side.BUY), ("absorption", Side.SELL), ("stacked_zone", Side.BUY)))
    hl = pane.highlights
    hl.set_content(bars.start_ns, signals, ())
    pane.graphics.grab()
    assert hl._far and hl._marks_waiting  # far-out fills; the last signal's bar is not there yet
    marks = hl._mark_fills
    pane.graphics.grab()
    starts = np.append(bars.start_ns, bars.start_ns[-1] + 10**12)  # its bar comes
    hl.set_content(starts, signals, ())
    kept = pane.graphics.grab().toImage()
    assert hl._mark_fills is not marks and not hl._marks_waiting  # made again once, for the waiting one
    marks = hl._mark_fills
    starts = np.append(starts, starts[-1] + 10**12)  # a bar more, same signals: the marks are kept
    hl.set_content(starts, signals, ())
    kept = pane.graphics.grab().toImage()
    assert hl._mark_fills is marks
    hl._mark_fills = None  # all made afresh
    hl._far_key = None
    hl._far_fills = None
    hl.update()
    assert kept == pane.graphics.grab().toImage()


def test_far_out_a_sliding_window_of_signals_regroups_only_the_ends_and_draws_as_made_afresh(pane, tmp_path):
    from tapeflow.signals.model import Signal

    s, _ = far_out(pane, tmp_path)
    pane.set_follow(False)
    bars = s.pipeline.snapshot().flow.bars
    n = len(bars)

    def sig(i: int, kind: str, side) -> Signal:
        return Signal(ts_ns=int(bars.start_ns[i]) + 1, instrument="ES", kind=kind, side=side,
                      price=int(bars.close[i]) + (i % 7) - 3, strength=3.0, bar_start_ns=int(bars.start_ns[i]),
                      rule="r")

    # the oldest signals are all sell-side (one colour first); later ones mix colours, shapes and zones
    every = [sig(i, "absorption", Side.SELL) for i in range(0, 10)]
    every += [sig(i, k, side) for i in range(10, n) for k, side in
              (("imbalance", Side.BUY), ("stacked_zone", Side.SELL), ("sweep", Side.NONE), ("imbalance", Side.SELL))]
    hl = pane.highlights
    window = 60

    names = ("_far_key", "_far_done", "_far_list", "_far_groups", "_far_zone_list")

    def afresh() -> QtGui.QImage:
        state = {k: getattr(hl, k) for k in names}
        hl._far_key = None
        hl._mark_fills = None
        hl._far_fills = None
        hl.update()
        img = pane.graphics.grab().toImage()
        for k, v in state.items():  # back to the marks kept, for the next step
            setattr(hl, k, v)
        hl._mark_fills = None
        return img

    start = 0
    for end in (window, window + 3, window + 11, window + 40, len(every)):
        before = list(hl._far_list)
        lo = max(0, end - window)
        signals = tuple(every[lo:end])  # a deque of the last signals, as the pipeline keeps
        hl.set_content(bars.start_ns, signals, ())
        img = pane.graphics.grab().toImage()
        assert hl._far and len(hl._far_list) == len(signals)
        if before:  # the marks of the signals still there are the ones made before: only the ends changed
            assert all(a is b for a, b in zip(hl._far_list, before[lo - start:], strict=False))
        start = lo
        assert img == afresh(), end
