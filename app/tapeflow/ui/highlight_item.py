"""Rule-engine highlights over the footprint: imbalance cells, zones extended to the right, markers.

Signals and zones are few (tens to hundreds), so the overlay is one picture in data coordinates
(bar index, ticks), rebuilt only when the set of signals, zones or bars changes. The look
depends on the detector kind: stacked imbalances and other zones become bands extended to the
live bar, imbalances outline their cell, absorption is a ring, anything else a small triangle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from tapeflow.core.events import Side
from tapeflow.signals.model import Signal
from tapeflow.ui.theme import Theme


@dataclass(frozen=True, slots=True)
class Band:
    """A price zone from a bar onwards (ticks, UTC ns); what a ``signals.zones.Zone`` draws as."""

    kind: str
    side: Side
    low: int
    high: int
    bar_start_ns: int
    strength: float = 0.0


def bands_from_zones(zones: Sequence[object]) -> tuple[Band, ...]:
    """Duck-typed conversion so the UI does not depend on the zone record's module being present."""
    out = []
    for z in zones:
        try:
            out.append(Band(str(z.kind), Side(int(z.side)), int(z.low), int(z.high), int(z.bar_start_ns),
                            float(getattr(z, "strength", 0.0))))
        except (AttributeError, TypeError, ValueError):
            continue
    return tuple(out)


def marker_shape(kind: str) -> str:
    """How a signal kind is drawn: ``cell``, ``zone``, ``ring``, ``triangle`` or ``none``.

    Threshold crossings (``*_cross``) are not tied to a price level of the bar: they stay in the
    signal log and off the chart, where they would only hide the numbers.
    """
    k = kind.lower()
    if k.endswith("_cross"):
        return "none"
    if "stacked" in k or "zone" in k:
        return "zone"
    if "imbalance" in k:
        return "cell"
    if "absorption" in k:
        return "ring"
    return "triangle"


@dataclass(slots=True)
class _Fills:
    """Rectangles of one colour (data units) and their x extents, to cull the ones not exposed."""

    color: QtGui.QColor
    rects: list[QtCore.QRectF]
    x0: np.ndarray
    x1: np.ndarray


def _fills(color: QtGui.QColor, rects: list[QtCore.QRectF]) -> _Fills:
    x0 = np.fromiter((r.left() for r in rects), float, len(rects))
    x1 = np.fromiter((r.right() for r in rects), float, len(rects))
    return _Fills(color, rects, x0, x1)


FAR_ROW_PX = 4.0
"""Rows shorter than this (pixels) get filled marks instead of outlined ones."""


def _close(a: QtCore.QPointF, b: QtCore.QPointF) -> bool:
    """Same zoom to within 2 %: the far-out fills are sized in pixels, so a new zoom redraws them."""
    return abs(a.x() - b.x()) <= 0.02 * b.x() and abs(a.y() - b.y()) <= 0.02 * b.y()


class HighlightItem(pg.GraphicsObject):
    """Overlay for the footprint plot (same coordinates as :class:`FootprintItem`)."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        self.ticks_per_row = 1
        self._key: tuple | None = None
        self._signals: tuple[Signal, ...] = ()
        self._bands: tuple[Band, ...] = ()
        self._start_ns = np.zeros(0, np.int64)
        self._picture: QtGui.QPicture | None = None
        self._far = False  # the picture was drawn with far-out (filled) marks
        self._px = QtCore.QPointF(1.0, 1.0)  # pixels per bar and per tick it was drawn for
        self._far_key: tuple | None = None  # the zoom, row size and theme the far-out marks were made for
        self._far_done: tuple[Signal, ...] = ()  # the signals whose far-out marks are made, oldest first
        self._far_list: list[tuple | None] = []  # their marks, in the same order
        self._far_groups: dict[tuple[str, int], tuple[list, list, list]] = {}  # colour -> rects, lefts, rights
        self._far_zone_list: list[tuple[int, int, str]] = []  # (bar index, price, colour) of zone signals
        self._far_fills: list[_Fills] | None = None  # far-out content, painted straight with culling
        self._mark_fills: list[_Fills] | None = None  # far-out signal marks (part of _far_fills)
        self._marks_key: tuple | None = None  # the zoom, row size, theme and signals they were made for
        self._marks_of: tuple[Signal, ...] = ()
        self._marks_waiting = False  # a signal's bar was not in the bars yet: its mark is still to make
        self._rect = QtCore.QRectF()
        self.footer_px: Callable[[float], float] | None = None  # the footprint's footer height at a zoom
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # paint what is exposed only

    def set_content(self, start_ns: np.ndarray, signals: tuple[Signal, ...], bands: tuple[Band, ...]) -> bool:
        """Bars' start times (to place signals) plus what to draw; True if the overlay changed."""
        key = (len(start_ns), int(start_ns[0]) if len(start_ns) else 0, len(signals),
               signals[-1].ts_ns if signals else 0, bands, self.ticks_per_row)
        if key == self._key:
            return False
        self._key = key
        self._signals, self._bands, self._start_ns = signals, bands, start_ns
        self._picture = None
        self._far_fills = None
        self.prepareGeometryChange()
        self._rect = self._bounds()
        self.update()
        return True

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._picture = None
        self._far_fills = None
        self.update()

    def bar_index(self, bar_start_ns: int) -> int | None:
        """Index of the bar that starts at (or contains) ``bar_start_ns``."""
        if not len(self._start_ns):
            return None
        i = int(np.searchsorted(self._start_ns, bar_start_ns, side="right")) - 1
        return i if i >= 0 else None

    def _bar_indices(self, starts: list[int]) -> list[int]:
        """:meth:`bar_index` of many start times at once (-1 = before the first bar)."""
        if not starts or not len(self._start_ns):
            return [-1] * len(starts)
        idx = np.searchsorted(self._start_ns, np.asarray(starts, np.int64), side="right") - 1
        return idx.tolist()

    def _bounds(self) -> QtCore.QRectF:
        prices = [s.price for s in self._signals] + [b.low for b in self._bands] + [b.high for b in self._bands]
        if not prices:
            return QtCore.QRectF()
        n = max(1, len(self._start_ns))
        return QtCore.QRectF(-1, min(prices) - 1, n + 2, max(prices) - min(prices) + 2)

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        return QtCore.QRectF(self._rect)

    def paint(self, p: QtGui.QPainter, opt, widget=None) -> None:
        t = p.transform()
        px = QtCore.QPointF(abs(t.m11()), abs(t.m22()))  # pixels per bar, per tick
        footer = self.footer_px(px.x()) if self.footer_px is not None else 0.0
        view = self.viewRect()
        if footer > 0 and view is not None and px.y() > 0:
            # the footprint's footer (volume and delta numbers) is pinned to the bottom of the view:
            # zones extended to the right must stop above it, not wash over its numbers
            p.save()
            cut = footer / px.y()
            p.setClipRect(QtCore.QRectF(view.left(), view.top() + cut, view.width(), max(0.0, view.height() - cut)),
                          QtCore.Qt.ClipOperation.IntersectClip)
            self._paint(p, opt, px)
            p.restore()
        else:
            self._paint(p, opt, px)

    def _paint(self, p: QtGui.QPainter, opt, px: QtCore.QPointF) -> None:
        far = px.y() * self.ticks_per_row < FAR_ROW_PX
        moved = far and not _close(px, self._px)
        if far:
            if self._far_fills is None or far != self._far or moved:
                if moved or far != self._far:
                    self._px = px  # else keep it: the far-out marks cached for it stay valid
                self._far = far
                self._picture = None
                self._far_fills = self._far_content()
            self._paint_fills(p, opt)
            return
        if self._picture is None or far != self._far:
            self._far = far
            self._far_fills = None
            self._picture = self._draw()
        p.drawPicture(0, 0, self._picture)

    def _paint_fills(self, p: QtGui.QPainter, opt) -> None:
        """Far out, only the fills that reach the exposed bars: between two new bars Qt repaints the
        live bar's column (and the strip the last-price line moved over), not the chart, and
        replaying the whole overlay for that cost ~1.5 ms a frame."""
        exposed = opt.exposedRect if opt is not None else None
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        for fills in self._far_fills or ():
            rects = fills.rects
            if exposed is not None:
                keep = np.flatnonzero((fills.x1 >= exposed.left()) & (fills.x0 <= exposed.right()))
                if not len(keep):
                    continue
                if len(keep) < len(rects):
                    rects = [rects[k] for k in keep.tolist()]
            p.setBrush(fills.color)
            p.drawRects(rects)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)

    def _far_content(self) -> list[_Fills]:
        """Bands, signal marks and signal zones as filled rectangles grouped by colour (data units).

        The marks' fills are kept while the signals, the zoom, the row size and the theme stay:
        a new bar (the usual reason to come here at max speed) only stretches the bands and zones
        to the new live bar, and grouping the marks of the last 500 signals again cost ~1.5 ms."""
        th = self.theme
        right = len(self._start_ns) + 0.5
        sig = self._signals
        marks_key = (self._px.x(), self._px.y(), self.ticks_per_row, id(th), len(sig),
                     id(sig[0]) if sig else 0, id(sig[-1]) if sig else 0)
        if marks_key != self._marks_key or self._mark_fills is None or self._marks_waiting:
            marks = self._far_marks()
            groups = self._far_groups
            self._mark_fills = [_Fills(th.color(name, alpha), rects, np.array(groups[(name, alpha)][1], float),
                                       np.array(groups[(name, alpha)][2], float))
                                for (name, alpha), rects in marks.items()]
            self._marks_key = marks_key
            self._marks_of = sig  # the signals whose ids the key holds stay alive while it is kept
        out: dict[tuple[str, int], list[QtCore.QRectF]] = {}
        for b, i in zip(self._bands, self._bar_indices([b.bar_start_ns for b in self._bands]), strict=True):
            if i >= 0:
                out.setdefault(("ask" if b.side == Side.BUY else "bid", 60), []).append(
                    QtCore.QRectF(i - 0.45, b.low - 0.5, right - i, b.high - b.low + 1))
        for i, price, base in self._far_zone_list:
            out.setdefault((base, 55), []).append(QtCore.QRectF(i - 0.45, price - 0.5, right - i, 1))
        # the same order of colours as when every group was made here: bands, marks, zones
        bands = [_fills(th.color(name, alpha), rects) for (name, alpha), rects in out.items() if alpha == 60]
        zones = [_fills(th.color(name, alpha), rects) for (name, alpha), rects in out.items() if alpha != 60]
        return bands + self._mark_fills + zones

    def _far_marks(self) -> dict[tuple[str, int], list[QtCore.QRectF]]:
        """Far-out marks as filled rectangles grouped by colour; also fills :attr:`_far_zone_list`.

        At max speed the overlay is redrawn at every new bar, and working out every signal's mark
        again (the last 500 signals) cost ~5 ms a time; a signal's mark never changes, so each is
        made once and kept until the zoom, row size or theme changes. The groups are kept too: the
        signals come as a sliding window (a few new ones at the end, as many old ones gone from the
        start), so the marks of the old ones leave the front of their colour's list and the new
        ones join at the end, instead of grouping all the signals again (~0.5 ms a frame)."""
        key = (self._px.x(), self._px.y(), self.ticks_per_row, id(self.theme))
        sig = self._signals
        done = self._far_done
        n_old = len(done)
        d = -1
        if key == self._far_key and n_old and sig:
            first = sig[0]
            d = next((k for k in range(n_old) if done[k] is first), -1)
            kept = n_old - d
            if d >= 0 and (len(sig) < kept or any(a is not b for a, b in zip(done[d:], sig[:kept], strict=True))):
                d = -1
        if d < 0:  # another zoom or theme, or signals that do not continue the ones grouped: from scratch
            self._far_key = key
            d = 0
            self._far_list = []
            self._far_groups = {}
            self._far_zone_list = []
        marks = self._far_list
        groups = self._far_groups
        if d:
            cut: dict[tuple[str, int], int] = {}
            zones_cut = 0
            for mark in marks[:d]:
                if mark is None:
                    continue
                if mark[0] == "zone":
                    zones_cut += 1
                else:
                    cut[(mark[0], 255)] = cut.get((mark[0], 255), 0) + 1
            del marks[:d]
            for colour, k in cut.items():
                g = groups[colour]
                del g[0][:k], g[1][:k], g[2][:k]
                if not g[0]:
                    del groups[colour]
            del self._far_zone_list[:zones_cut]
        start = len(marks)  # signals sig[:start] have their marks
        self._marks_waiting = False
        todo = sig[start:]
        if todo:
            last_start = int(self._start_ns[-1]) if len(self._start_ns) else -1
            # one pixel (the half of the 2 px pen outside the shape) in data units
            ox, oy = 1.0 / max(self._px.x(), 1e-9), 1.0 / max(self._px.y(), 1e-9)
            for s, i in zip(todo, self._bar_indices([s.bar_start_ns for s in todo]), strict=True):
                if s.bar_start_ns > last_start:
                    self._marks_waiting = True
                    break  # its bar is not in this snapshot yet: made next time (with the ones after it)
                shape = marker_shape(s.kind)
                mark: tuple | None = None
                if i >= 0 and shape != "none":
                    base = "ask_strong" if s.side == Side.BUY else "bid_strong" if s.side == Side.SELL else "warning"
                    y = s.price
                    if shape == "zone":
                        mark = ("zone", i, y, base)
                        self._far_zone_list.append(mark[1:])
                    else:
                        if shape == "cell":
                            x0 = i if s.side == Side.BUY else i - 0.38
                            r = QtCore.QRectF(x0 - ox, y - 0.5 - oy, 0.41 + 2 * ox, 1 + 2 * oy)
                        elif shape == "ring":
                            r = QtCore.QRectF(i - 0.3 - ox, y - 1.2 - oy, 0.6 + 2 * ox, 2.4 + 2 * oy)
                        else:
                            r = QtCore.QRectF(i - 0.62 - ox, y - 0.45 - oy, 0.15 + 2 * ox, 0.9 + 2 * oy)
                        mark = (base, r)
                        g = groups.get((base, 255))
                        if g is None:
                            g = groups[(base, 255)] = ([], [], [])
                        g[0].append(r)
                        g[1].append(r.left())
                        g[2].append(r.right())
                marks.append(mark)
        self._far_done = sig[:len(marks)]  # kept alive: the identities above compare against them
        # colours in the order they first appear among the signals (the order they are painted in)
        order: list[tuple[str, int]] = []
        if len(groups) > 1:
            for mark in marks:
                if mark is not None and mark[0] != "zone" and (mark[0], 255) not in order:
                    order.append((mark[0], 255))
                    if len(order) == len(groups):
                        break
        else:
            order = list(groups)
        return {colour: list(groups[colour][0]) for colour in order}

    def _draw(self) -> QtGui.QPicture:
        """Far out, outlines (a 2 px stroke, which the raster engine strokes slowly, ~15 us each)
        become fills of the same outer size: at that scale the cell inside is under 4 px anyway."""
        th = self.theme
        pic = QtGui.QPicture()
        p = QtGui.QPainter(pic)
        right = len(self._start_ns) + 0.5
        # bar of every band and signal in one searchsorted; pens and colours made once per kind
        band_i = self._bar_indices([b.bar_start_ns for b in self._bands])
        for b, i in zip(self._bands, band_i, strict=True):
            if i < 0:
                continue
            color = th.color("ask" if b.side == Side.BUY else "bid", 60)
            p.fillRect(QtCore.QRectF(i - 0.45, b.low - 0.5, right - i, b.high - b.low + 1), color)
        pens: dict[str, QtGui.QPen] = {}
        colors: dict[tuple[str, int], QtGui.QColor] = {}

        def color(name: str, alpha: int = 255) -> QtGui.QColor:
            c = colors.get((name, alpha))
            if c is None:
                c = colors[(name, alpha)] = th.color(name, alpha)
            return c

        current: str | None = None
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        if self._far:
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            for (name, alpha), rects in self._far_marks().items():
                p.setBrush(color(name, alpha))
                p.drawRects(rects)
            for i, price, base in self._far_zone_list:
                p.fillRect(QtCore.QRectF(i - 0.45, price - 0.5, right - i, 1), color(base, 55))
            p.end()
            return pic
        for s, i in zip(self._signals, self._bar_indices([s.bar_start_ns for s in self._signals]), strict=True):
            if i < 0:
                continue
            shape = marker_shape(s.kind)
            if shape == "none":
                continue
            base = "ask_strong" if s.side == Side.BUY else "bid_strong" if s.side == Side.SELL else "warning"
            if base != current:
                pen = pens.get(base)
                if pen is None:
                    pen = pens[base] = QtGui.QPen(color(base), 2)
                    pen.setCosmetic(True)
                p.setPen(pen)
                current = base
            if shape == "cell":
                x0 = i if s.side == Side.BUY else i - 0.38
                p.drawRect(QtCore.QRectF(x0, s.price - 0.5, 0.41, 1))
            elif shape == "zone":
                p.fillRect(QtCore.QRectF(i - 0.45, s.price - 0.5, right - i, 1), color(base, 55))
            elif shape == "ring":
                p.drawEllipse(QtCore.QPointF(i, s.price), 0.3, 1.2)
            else:  # a small arrow in the gap left of the bar, pointing at the level: never over numbers
                y = s.price
                tri = QtGui.QPolygonF([QtCore.QPointF(i - 0.62, y - 0.45),
                                       QtCore.QPointF(i - 0.62, y + 0.45),
                                       QtCore.QPointF(i - 0.47, y)])
                p.setBrush(color(base))
                p.drawPolygon(tri)
                p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.end()
        return pic
