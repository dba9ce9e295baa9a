"""Cumulative delta pane: candle values, where they are drawn and in which colour, markers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
import pytest

from tapeflow.ui.delta_item import DeltaCandlesItem, delta_candles
from tapeflow.ui.theme import DARK, apply_theme


class Bars(SimpleNamespace):
    """What the delta series reads of a footprint: per-bar delta, cumulative delta, running extremes."""

    def __len__(self) -> int:
        return len(self.delta)


def bars(delta: list[int], cum: list[int], max_d: list[int], min_d: list[int]) -> Bars:
    return Bars(delta=np.array(delta), cum_delta=np.array(cum), max_delta=np.array(max_d), min_delta=np.array(min_d))


# bar 0: +40 (ran to +50, dipped to -10); bar 1: -30 from 40 (ran +5, -35); bar 2: new session, +20 from 0
B = bars([40, -30, 20], [40, 10, 20], [50, 5, 25], [-10, -35, -5])


def test_candles_open_at_the_previous_close_and_a_restart_is_marked():
    c = delta_candles(B)
    assert c["open"].tolist() == [0, 40, 0]
    assert c["close"].tolist() == [40, 10, 20]
    assert c["high"].tolist() == [50, 45, 25]
    assert c["low"].tolist() == [-10, 5, -5]
    assert c["reset"].tolist() == [False, False, True]


@pytest.fixture
def plot(qtbot, qapp):
    apply_theme(qapp, DARK)
    w = pg.PlotWidget()
    w.setBackground(DARK.background)
    w.hideAxis("left")
    w.hideAxis("bottom")
    w.resize(300, 300)
    qtbot.addWidget(w)
    w.show()
    return w


def _color_at(w: pg.PlotWidget, x: float, y: float):
    img = w.grab().toImage()
    pt = w.plotItem.vb.mapViewToScene(pg.Point(x, y))
    pos = w.mapFromScene(pt)
    return img.pixelColor(pos.x(), pos.y())


def test_rising_candles_are_drawn_in_the_ask_colour_falling_in_the_bid_colour(plot):
    item = DeltaCandlesItem(DARK)
    plot.addItem(item)
    item.set_bars(B)
    plot.setXRange(-0.5, 2.5, padding=0)
    plot.setYRange(-20, 60, padding=0)
    assert _color_at(plot, 0, 20) == DARK.color("ask")  # body of bar 0 (0 -> 40)
    assert _color_at(plot, 1, 25) == DARK.color("bid")  # body of bar 1 (40 -> 10)
    assert _color_at(plot, 0, 58) == DARK.color("background")  # above bar 0's high: nothing
    item.set_markers([(1, 45.0, True)])
    # a bearish divergence: a triangle above the high of bar 1, in the strong bid colour
    above = _color_at(plot, 1, 45 + 4 * 80 / plot.plotItem.vb.height())
    assert above == DARK.color("bid_strong")


def test_finished_candles_come_from_tiles_that_look_like_drawing_them(plot, tmp_path):
    from test_ui_support import SIM

    from tapeflow.appdirs import app_paths
    from tapeflow.ui.delta_item import STABLE_PAINTS, TILE
    from tapeflow.ui.session import build_session

    s = build_session(SIM, app_paths(tmp_path), use_engine=False, bar="20s")
    events = np.concatenate(list(s.source))
    s.pipeline.process(events[:-3000])
    item = DeltaCandlesItem(DARK)
    plot.addItem(item)
    item.set_bars(s.pipeline.snapshot().flow.bars)
    n = len(item.c["close"])
    c = item.c
    plot.plotItem.vb.setRange(xRange=(-0.5, n + 3.5), padding=0,
                              yRange=(float(c["low"].min()) - 200, float(c["high"].max()) + 200))
    for _ in range(STABLE_PAINTS + n // TILE):  # tiles are made once the scale has held for a few paints
        tiled = plot.grab().toImage()
    assert len(item._tiles) >= 2


    assert tiled == _straight(item, plot)
    joined = (n - 1) // TILE
    tile = item._tiles.get(joined)
    k = 0
    while len(s.pipeline.snapshot().flow.bars) == n:  # up to the next bar
        s.pipeline.process(events[len(events) - 3000 + k : len(events) - 3000 + k + 50])
        k += 50
    item.set_bars(s.pipeline.snapshot().flow.bars)
    tiled = plot.grab().toImage()
    assert item._tiles[joined].count == (n - 1) - joined * TILE + 1  # the finished candle joined its tile
    assert tile is None or item._tiles[joined] is tile  # drawn onto it (there was room), not anew
    assert tiled == _straight(item, plot)


def test_a_new_y_scale_draws_straight_then_makes_few_tiles_a_paint(plot, tmp_path):
    from tapeflow.ui.delta_item import STABLE_PAINTS, TILE, TILE_BUILDS_PER_PAINT

    item = _whole_session_item(plot, tmp_path)
    c = item.c
    n = len(c["close"])
    assert (n - 1) // TILE + 1 > 2 * TILE_BUILDS_PER_PAINT  # enough tiles to need several paints
    vb = plot.plotItem.vb
    lo, hi = float(c["low"].min()), float(c["high"].max())
    vb.setRange(xRange=(-0.5, n + 0.5), yRange=(lo - 100, hi + 100), padding=0)
    for _ in range(STABLE_PAINTS + n // TILE + 2):
        plot.grab()
    assert len(item._tiles) == (n - 2) // TILE + 1  # all made by now
    vb.setRange(yRange=(lo - 300, hi + 300), padding=0)  # a new scale: every tile is stale
    want = _straight(item, plot)
    assert item._tile_scale is not None
    for _ in range(STABLE_PAINTS - 1):  # a scale that may not last: every candle drawn straight
        assert plot.grab().toImage() == want
        assert not item._tiles
    first = plot.grab().toImage()
    assert len(item._tiles) == TILE_BUILDS_PER_PAINT  # it held: a few tiles a paint
    assert first == want
    for _ in range(n // TILE + 2):
        img = plot.grab().toImage()
        assert img == want
    assert len(item._tiles) == (n - 2) // TILE + 1


def test_a_scroll_whose_scale_differs_only_in_float_noise_keeps_the_tiles(plot, tmp_path):
    from tapeflow.ui.delta_item import STABLE_PAINTS, TILE

    item = _whole_session_item(plot, tmp_path)
    c = item.c
    n = len(c["close"])
    vb = plot.plotItem.vb
    lo, hi = float(c["low"].min()) - 100, float(c["high"].max()) + 100
    span = n - 20.3  # ranges as a linked view gets them: the same span, to within float noise
    vb.setRange(xRange=(1 / 3, 1 / 3 + span), yRange=(lo, hi), padding=0)
    for _ in range(STABLE_PAINTS + n // TILE + 2):
        plot.grab()
    tiles = dict(item._tiles)
    assert tiles
    scale = item._tile_scale
    for k in range(1, 200):  # some bars on, where the scale differs in the last digit
        vb.setRange(xRange=(0.1 * k + 1 / 3, 0.1 * k + 1 / 3 + span), padding=0)
        if vb.childTransform().m11() != scale[0]:
            break
    assert vb.childTransform().m11() != scale[0]
    img = plot.grab().toImage()
    assert all(item._tiles.get(k) is t for k, t in tiles.items())  # none made again
    item.caching = False
    item.update()
    straight = plot.grab().toImage()
    # blitted at whole pixels, as tiles are after any scroll: a candle is where drawing it straight
    # puts it, give or take the pixel a sub-pixel position rounds to
    a, b = _pixels(img), _pixels(straight)
    near = np.zeros(a.shape, bool)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            near |= a == np.roll(np.roll(b, dy, 0), dx, 1)
    assert near.all()


def _straight(item: DeltaCandlesItem, plot: pg.PlotWidget):
    """The plot grabbed with every candle drawn straight (no tiles), then tiles switched back on."""
    item.caching = False
    item.update()
    img = plot.grab().toImage()
    item.caching = True
    item.update()
    return img


def _whole_session_item(plot: pg.PlotWidget, tmp_path) -> DeltaCandlesItem:
    """Delta candles of the whole sample session in 10 s bars, on ``plot``."""
    from test_ui_support import SIM

    from tapeflow.appdirs import app_paths
    from tapeflow.ui.session import build_session

    s = build_session(SIM, app_paths(tmp_path), use_engine=False, bar="10s")
    s.pipeline.process(np.concatenate(list(s.source)))
    item = DeltaCandlesItem(DARK)
    plot.addItem(item)
    item.set_bars(s.pipeline.snapshot().flow.bars)
    return item


def _pixels(img) -> np.ndarray:
    img = img.convertToFormat(img.Format.Format_RGB32)
    return np.frombuffer(img.constBits(), np.uint32, img.width() * img.height()).reshape(img.height(), img.width())
