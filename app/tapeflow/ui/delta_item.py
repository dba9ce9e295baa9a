"""The cumulative delta series as one pyqtgraph item: candles (or a line), reset markers, divergences.

Why one item painted in device pixels: 200 candles as cached pictures (one per 32 bars, replayed
with their cosmetic pens, plus the live candle recorded anew every frame) cost 1-2 ms a paint, and
the divergence triangles as a ``ScatterPlotItem`` almost 1 ms more (its bounds are asked for
several times a frame). Here a paint maps the exposed bars to pixels with numpy and draws them in
a handful of batched calls per colour: wicks, bodies, markers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from tapeflow.flow.footprint import FootprintBars
from tapeflow.ui.pixmaps import tile_pixmap
from tapeflow.ui.theme import Theme

BODY_HALF = 0.32
"""Half the candle body's width, in bars."""
MARKER_PX = 11.0
"""Divergence triangle size, pixels."""


TILE = 16
"""Finished candles per cached tile."""
TILE_ROOM_PX = 48.0
"""Room above and below the candles of a tile not yet full, for the next ones (pixels)."""
TILE_BUILDS_PER_PAINT = 2
"""Tiles drawn anew in one paint at most; the candles of the others are drawn straight this time.
A new y scale (the pane fits y to the candles in view) made every tile anew in that one frame
(13 tiles, ~4 ms), where drawing the same candles straight costs a fraction of that."""
STABLE_PAINTS = 3
"""Wide paints (more than a tile's bars exposed: the pane scrolled or rescaled) at one y scale before
tiles are made for it. At max speed the pane rescales every few new bars, and a tile (~0.45 ms) pays
for itself against drawing its candles straight only after a dozen scrolls at the same scale."""


@dataclass(slots=True)
class _Tile:
    """Finished candles drawn into a pixmap; (``x``, ``y``) is where (its first bar, ``value``) falls
    in it; candles between ``bottom`` and ``top`` (contracts) fit in it."""

    value: float
    count: int
    x: float
    y: float
    pixmap: QtGui.QPixmap
    top: float
    bottom: float


def _top(c: dict[str, np.ndarray], sl: slice) -> float:
    return float(max(c["high"][sl].max(), c["open"][sl].max(), c["close"][sl].max()))


def _bottom(c: dict[str, np.ndarray], sl: slice) -> float:
    return float(min(c["low"][sl].min(), c["open"][sl].min(), c["close"][sl].min()))


class DeltaStyle(StrEnum):
    CANDLES = "candles"
    LINE = "line"


def delta_candles(bars: FootprintBars) -> dict[str, np.ndarray]:
    """open/high/low/close of cumulative delta per bar, and where the cumulative sum restarted."""
    cum = bars.cum_delta.astype(np.int64)
    delta = bars.delta.astype(np.int64)
    opens = cum - delta
    reset = np.zeros(len(cum), bool)
    if len(cum) > 1:
        reset[1:] = opens[1:] != cum[:-1]
    return {"open": opens, "close": cum, "high": opens + bars.max_delta, "low": opens + bars.min_delta,
            "reset": reset}


class DeltaCandlesItem(pg.GraphicsObject):
    """Candles in data coordinates (x = bar index, y = contracts)."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        self.style = DeltaStyle.CANDLES
        self.c: dict[str, np.ndarray] | None = None
        self.markers: list[tuple[int, float, bool]] = []  # (bar index, contracts, bearish) of divergences
        self._rect = QtCore.QRectF()
        self.caching = True  # finished candles blitted from tiles (tests switch it off to compare)
        self._tiles: dict[int, _Tile] = {}  # tile index -> finished candles drawn at _tile_scale
        self._tile_scale: tuple[float, float] | None = None
        self._wide_paints = 0  # wide paints at _tile_scale so far (see STABLE_PAINTS)
        self._first_ns: int | None = None
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # paint the exposed bars only

    def clear(self) -> None:
        """No series (as built): another instrument's candles come next, none of these tiles are theirs."""
        self.prepareGeometryChange()
        self.c = None
        self._tiles.clear()
        self._tile_scale = None
        self._wide_paints = 0
        self._first_ns = None
        self._rect = QtCore.QRectF()
        self.update()

    def set_bars(self, bars: FootprintBars) -> None:
        """New snapshot: repaints the live candle's column, or everything when the bounds grew."""
        c = delta_candles(bars)
        n = len(bars)
        starts = getattr(bars, "start_ns", None)  # (tests hand in bare series)
        first = int(starts[0]) if n and starts is not None else None
        if self.c is not None and (n < len(self.c["close"]) or first != self._first_ns):
            self._tiles.clear()  # another series (a restart, a jump back): its candles are not these
        self._first_ns = first
        same_bars = self.c is not None and len(self.c["close"]) == n
        self.c = c
        grew = False
        if n:
            lo = float(min(c["low"].min(), c["close"].min(), 0))
            hi = float(max(c["high"].max(), c["close"].max(), 0))
            r = self._rect
            if r.isNull() or r.width() != n or lo < r.top() or hi > r.bottom() or (hi - lo) < 0.5 * r.height():
                # grow with headroom: a cumulative delta that trends would otherwise change the
                # bounding rect (and repaint the whole plot) on every frame
                pad = max(1.0, (hi - lo) * 0.1)
                self.prepareGeometryChange()
                self._rect = QtCore.QRectF(-0.5, lo - pad, n, max(1.0, hi - lo + 2 * pad))
                grew = True
        if same_bars and not grew:
            self.update(QtCore.QRectF(n - 1.5, self._rect.top(), 2.0, self._rect.height()))  # the live candle only
        else:
            self.update()

    def set_markers(self, markers: list[tuple[int, float, bool]]) -> None:
        """Divergence marks: a triangle above the bar (bearish) or below it (bullish)."""
        if markers != self.markers:
            self.markers = markers
            self.update()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._tiles.clear()
        self.update()

    def set_style(self, style: DeltaStyle) -> None:
        self.style = style
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        return QtCore.QRectF(self._rect)

    def paint(self, p: QtGui.QPainter, opt, widget=None) -> None:
        c = self.c
        if c is None or not len(c["close"]):
            return
        t = p.transform()
        sx, sy, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()
        view = self.viewRect()
        if sx <= 0 or sy == 0 or view is None:
            return
        n = len(c["close"])
        exposed = opt.exposedRect if opt is not None else view
        i0 = max(0, math.floor(max(view.left(), exposed.left()) - 0.5))
        i1 = min(n - 1, math.ceil(min(view.right(), exposed.right()) + 0.5))
        if i1 < i0:
            return
        p.save()
        p.resetTransform()
        sl = slice(i0, i1 + 1)
        xs = np.arange(i0, i1 + 1, dtype=float) * sx + dx
        if self.style is DeltaStyle.LINE:
            self._paint_line(p, sl, sx, dx, sy, dy)
        elif self.caching and i0 < n - 1:
            self._paint_candle_tiles(p, i0, min(i1, n - 2), t)
            if i1 == n - 1:
                self._paint_candles(p, slice(n - 1, n), xs[-1:], sx, sy, dy)
        else:
            self._paint_candles(p, sl, xs, sx, sy, dy)
        self._paint_resets(p, sl, xs, sx, t, view)
        self._paint_markers(p, i0, i1, sx, sy, dx, dy)
        p.restore()

    def _paint_candles(self, p: QtGui.QPainter, sl: slice, xs: np.ndarray, sx: float, sy: float, dy: float) -> None:
        c = self.c
        assert c is not None
        o, cl = c["open"][sl].astype(float), c["close"][sl].astype(float)
        y_hi, y_lo = c["high"][sl] * sy + dy, c["low"][sl] * sy + dy
        y_o, y_c = o * sy + dy, cl * sy + dy
        top = np.minimum(y_o, y_c)
        height = np.maximum(np.abs(y_c - y_o), 1.0)
        half = max(0.5, BODY_HALF * sx)
        up = cl >= o
        for name, sel in (("ask", up), ("bid", ~up)):
            if not sel.any():
                continue
            color = self.theme.color(name)
            p.setPen(QtGui.QPen(color, 1))
            p.drawLines([QtCore.QLineF(x, a, x, b) for x, a, b in zip(
                xs[sel].tolist(), y_hi[sel].tolist(), y_lo[sel].tolist(), strict=True)])
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(color)
            p.drawRects([QtCore.QRectF(x - half, y, 2 * half, h) for x, y, h in zip(
                xs[sel].tolist(), top[sel].tolist(), height[sel].tolist(), strict=True)])
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)

    def _paint_candle_tiles(self, p: QtGui.QPainter, i0: int, i1: int, t: QtGui.QTransform) -> None:
        """Finished candles ``i0..i1`` blitted from tiles of ``TILE`` candles drawn once at this scale
        (a new bar scrolls the pane and repainted all 200 candles, ~1.4 ms); a candle that finishes
        is drawn onto its tile when it fits (a tile not yet full has room above and below)."""
        sx, sy, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()
        st = self._tile_scale
        # the same scale to within float noise: following the live bar, the view spans
        # (n - 200.5, n + 0.5), and its pixels per bar differ in the last digit from one n to the next
        if st is None or abs(st[0] - sx) > 1e-9 * abs(sx) or abs(st[1] - sy) > 1e-9 * abs(sy):
            self._tiles.clear()
            self._tile_scale = (sx, sy)
            self._wide_paints = 0
        if i1 - i0 >= TILE:
            self._wide_paints += 1
        c = self.c
        assert c is not None
        last = len(c["close"]) - 1  # the live candle is never in a tile
        builds = TILE_BUILDS_PER_PAINT if self._wide_paints >= STABLE_PAINTS else 0
        straight: list[tuple[int, int]] = []  # runs of finished candles drawn straight (no tile yet)
        for k in range(i0 // TILE, i1 // TILE + 1):
            a = k * TILE
            b = min(a + TILE, last)
            tile = self._tiles.get(k)
            if tile is not None and tile.count < b - a:
                new = slice(a + tile.count, b)
                if _top(c, new) <= tile.top and _bottom(c, new) >= tile.bottom:
                    painter = QtGui.QPainter(tile.pixmap)
                    xs = np.arange(new.start, new.stop, dtype=float) * sx + (tile.x - a * sx)
                    self._paint_candles(painter, new, xs, sx, sy, tile.y - tile.value * sy)
                    painter.end()
                    tile.count = b - a
                else:
                    tile = None
            if tile is None:
                if builds <= 0:
                    self._tiles.pop(k, None)
                    lo, hi = max(a, i0), min(b - 1, i1)
                    if straight and straight[-1][1] == lo - 1:
                        straight[-1] = (straight[-1][0], hi)
                    else:
                        straight.append((lo, hi))
                    continue
                builds -= 1
                tile = self._tiles[k] = self._draw_tile(a, b, t, p.device())
            ax, ay = a * sx + dx, tile.value * sy + dy
            p.drawPixmap(QtCore.QPointF(ax - tile.x, ay - tile.y), tile.pixmap)
        for lo, hi in straight:
            if hi >= lo:
                self._paint_candles(p, slice(lo, hi + 1), np.arange(lo, hi + 1, dtype=float) * sx + dx, sx, sy, dy)

    def _draw_tile(self, a: int, b: int, t: QtGui.QTransform, device) -> _Tile:
        c = self.c
        assert c is not None
        sx, sy, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()
        hi, lo = _top(c, slice(a, b)), _bottom(c, slice(a, b))
        room = 0.0 if b - a == TILE else TILE_ROOM_PX / abs(sy)
        top, bottom = hi + room, lo - room
        half = max(0.5, BODY_HALF * sx)
        x0 = math.floor(-half) - 3
        x1 = math.ceil((TILE - 1) * sx + half) + 3
        y0 = -math.ceil(room * abs(sy)) - 3
        y1 = math.ceil((hi - bottom) * abs(sy)) + 4
        dpr = device.devicePixelRatioF() if device is not None else 1.0
        # the pane's transform with the anchor (bar a, value hi) at (-x0, -y0), keeping its sub-pixel phase
        pm, tx, ty = tile_pixmap(x0, y0, x1, y1, a * sx + dx, hi * sy + dy, dpr)
        painter = QtGui.QPainter(pm)
        xs = np.arange(a, b, dtype=float) * sx + (tx - a * sx)
        self._paint_candles(painter, slice(a, b), xs, sx, sy, ty - hi * sy)
        painter.end()
        return _Tile(hi, b - a, tx, ty, pm, top, bottom)

    def _paint_line(self, p: QtGui.QPainter, sl: slice, sx: float, dx: float, sy: float, dy: float) -> None:
        c = self.c
        assert c is not None
        a = max(0, sl.start - 1)  # the segment into the first bar exposed starts at the bar before it
        xs = (np.arange(a, sl.stop, dtype=float) * sx + dx).tolist()
        ys = (c["close"][a:sl.stop] * sy + dy).tolist()
        keep = (~c["reset"][a + 1:sl.stop]).tolist()  # no segment across a reset
        p.setPen(QtGui.QPen(self.theme.color("last"), 2))
        p.drawLines([QtCore.QLineF(xs[k], ys[k], xs[k + 1], ys[k + 1]) for k in range(len(keep)) if keep[k]])

    def _paint_resets(self, p: QtGui.QPainter, sl: slice, xs: np.ndarray, sx: float, t: QtGui.QTransform,
                      view: QtCore.QRectF) -> None:
        c = self.c
        assert c is not None
        hits = np.flatnonzero(c["reset"][sl])
        if not len(hits):
            return
        y0, y1 = t.map(QtCore.QPointF(0, view.top())).y(), t.map(QtCore.QPointF(0, view.bottom())).y()
        p.setPen(QtGui.QPen(self.theme.color("warning"), 1, QtCore.Qt.PenStyle.DashLine))
        p.drawLines([QtCore.QLineF(x - sx / 2, y0, x - sx / 2, y1) for x in xs[hits].tolist()])

    def _paint_markers(self, p: QtGui.QPainter, i0: int, i1: int, sx: float, sy: float, dx: float, dy: float) -> None:
        """Triangles pointing down above a bearish divergence's high, up below a bullish one's low."""
        th, s = self.theme, MARKER_PX / 2
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        for bear in (True, False):
            p.setBrush(th.color("bid_strong" if bear else "ask_strong"))
            for i, y, b in self.markers:
                if b is not bear or not i0 <= i <= i1:
                    continue
                x, py = i * sx + dx, y * sy + dy
                if bear:  # tip on the high, body above it
                    tri = (QtCore.QPointF(x - s, py - 2 * s), QtCore.QPointF(x + s, py - 2 * s), QtCore.QPointF(x, py))
                else:
                    tri = (QtCore.QPointF(x - s, py + 2 * s), QtCore.QPointF(x + s, py + 2 * s), QtCore.QPointF(x, py))
                p.drawPolygon(QtGui.QPolygonF(list(tri)))
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
