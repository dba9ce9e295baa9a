"""Axis labels at the UI edge: bar index -> ET time of the bar's start, ticks -> exchange price.

Why our own painting: pyqtgraph's generic axis lays every label out again (text bounding
boxes, fill ratios, a picture recorded then replayed) whenever the range moves, about 1 ms an
axis. In follow mode the time axes move at every new bar, so that was ~2 ms of every chart frame.
These axes pick one level of whole-unit ticks themselves, draw each label from a cache of
:class:`QStaticText`, and keep the drawn labels as a pixmap until the range changes.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from tapeflow.core.instruments import Instrument
from tapeflow.ui.pixmaps import transparent_pixmap
from tapeflow.ui.text import et_time

MIN_LABEL_PX = 64.0
"""Least horizontal room per time label (``HH:MM`` plus a gap), pixels."""
MIN_ROW_LABEL_PX = 28.0
"""Least vertical room between two labels of a vertical axis, pixels."""
BAR_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 960)
_LABEL_CACHE = 2048


def nice_step(min_step: float, mantissas: tuple[int, ...] = (1, 2, 5)) -> int:
    """Smallest whole ``m * 10**k`` (m in ``mantissas``) at least ``min_step``, at least 1."""
    if min_step <= 1:
        return 1
    k = 10 ** max(0, math.floor(math.log10(min_step)))
    while True:
        for m in mantissas:
            if m * k >= min_step:
                return int(m * k)
        k *= 10


class FastAxis(pg.AxisItem):
    """An axis that paints one level of ticks and cached labels straight onto the painter.

    Subclasses give :meth:`labels`: ``(value, text)`` for the range in view. Sizes stay as the
    panes set them (``setWidth``/``setHeight``); grid lines and axis titles are not drawn.
    """

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)
        self._texts: dict[str, QtGui.QStaticText] = {}
        self._sizes: dict[str, tuple[float, float]] = {}  # their sizes (asking Qt each time made a QSizeF)
        self._font_key: str | None = None
        self._paint_key: tuple | None = None
        self._marks: list[float] = []
        self._pixmap = QtGui.QPixmap()

    def labels(self, lo: float, hi: float, length_px: float) -> list[tuple[float, str]]:
        raise NotImplementedError

    def _static(self, text: str, font: QtGui.QFont, key: str | None = None) -> QtGui.QStaticText:
        """The prepared label ``text`` (``key``: ``font.key()``, if the caller has it: ~5 us a call)."""
        if key is None:
            key = font.key()
        if key != self._font_key or len(self._texts) > _LABEL_CACHE:
            self._texts.clear()
            self._sizes.clear()
            self._font_key = key
        st = self._texts.get(text)
        if st is None:
            st = self._texts[text] = QtGui.QStaticText(text)
            st.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            st.prepare(QtGui.QTransform(), font)
        return st

    def content_key(self) -> object:
        """What the labels depend on besides the range (subclasses: the bars' times, the instrument)."""
        return None

    def paint(self, p: QtGui.QPainter, opt, widget=None) -> None:
        t = p.transform()
        if self.orientation not in ("right", "bottom") or self.grid is not False or t.isScaling() or t.isRotating():
            super().paint(p, opt, widget)
            return
        bounds = self.mapRectFromParent(self.geometry())
        lo, hi = (float(v) for v in self.range)
        if hi <= lo or bounds.width() <= 0 or bounds.height() <= 0:
            return
        font = self.style["tickFont"] or p.font()
        dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
        key = (lo, hi, bounds.width(), bounds.height(), font.key(), self.pen().color().rgba(),
               self.textPen().color().rgba(), dpr, self.content_key())
        if key != self._paint_key:
            # the labels are drawn once per range into a pixmap: the axis is also repainted whenever
            # a live bar's column next to it is, and laying the labels out each time cost ~0.5 ms
            self._marks, self._pixmap = self._render(bounds, lo, hi, font, dpr)
            self._paint_key = key
        p.drawPixmap(bounds.topLeft(), self._pixmap)
        tick_len = self.style["tickLength"]  # ticks reach into the plot, outside the pixmap
        p.setPen(self.tickPen())
        if self.orientation == "right":
            x0 = bounds.left()
            p.drawLines([QtCore.QLineF(x0, y, x0 + tick_len, y) for y in self._marks])
        else:
            y0 = bounds.top()
            p.drawLines([QtCore.QLineF(x, y0, x, y0 + tick_len) for x in self._marks])

    def _render(self, bounds: QtCore.QRectF, lo: float, hi: float, font: QtGui.QFont,
                dpr: float) -> tuple[list[float], QtGui.QPixmap]:
        """Tick positions (item pixels) and the axis line with its labels in a pixmap of ``bounds``."""
        vertical = self.orientation == "right"
        length = bounds.height() if vertical else bounds.width()
        scale = length / (hi - lo)
        labels = [(bounds.top() + (hi - v) * scale if vertical else bounds.left() + (v - lo) * scale, text)
                  for v, text in self.labels(lo, hi, length) if lo <= v <= hi]
        w, h = bounds.width(), bounds.height()
        pm = transparent_pixmap(w, h, dpr)
        p = QtGui.QPainter(pm)
        p.translate(-bounds.left(), -bounds.top())
        p.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        p.setPen(self.pen())
        if vertical:
            x = bounds.left() + 1
            p.drawLine(QtCore.QLineF(x, bounds.top(), x, bounds.bottom()))
        else:
            y = bounds.top() + 1
            p.drawLine(QtCore.QLineF(bounds.left(), y, bounds.right(), y))
        offset = max(0, self.style["tickLength"]) + self.style["tickTextOffset"][0 if vertical else 1]
        p.setFont(font)
        p.setPen(self.textPen())
        font_key = font.key()
        top_edge, bottom_edge, left_edge, right_edge = bounds.top(), bounds.bottom(), bounds.left(), bounds.right()
        sizes = self._sizes
        for pos, text in labels:
            if not text:
                continue
            st = self._static(text, font, font_key)
            wh = sizes.get(text)
            if wh is None:
                size = st.size()
                wh = sizes[text] = (size.width(), size.height())
            # a label cut by the edge reads as another number: leave it out
            if vertical:
                top = pos - wh[1] / 2
                if top_edge <= top and top + wh[1] <= bottom_edge:
                    p.drawStaticText(QtCore.QPointF(left_edge + offset, top), st)
            else:
                left = pos - wh[0] / 2
                if left_edge <= left and left + wh[0] <= right_edge:
                    p.drawStaticText(QtCore.QPointF(left, top_edge + offset), st)
        p.end()
        return [pos for pos, _ in labels], pm


def quiet_axes(plot: pg.PlotItem) -> None:
    """No SI-prefix bookkeeping on any axis of ``plot``, shown or hidden: with it on, every range
    change re-set each axis title as HTML and re-sized the axis (~0.1 ms an axis, every scroll)."""
    for name in ("left", "right", "top", "bottom"):
        plot.getAxis(name).enableAutoSIPrefix(False)


class BarTimeAxis(FastAxis):
    """x is a bar index (bars are evenly spaced whatever their duration); labels show ET start time."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self.start_ns = np.zeros(0, np.int64)

    def content_key(self) -> object:
        n = len(self.start_ns)
        return (n, int(self.start_ns[0]) if n else 0, int(self.start_ns[-1]) if n else 0)

    def bar_step(self, lo: float, hi: float, length_px: float) -> int:
        """Bars between labels: whole bars, far enough apart that ``HH:MM`` labels never overlap."""
        px_per_bar = length_px / max(1e-9, hi - lo)
        need = MIN_LABEL_PX / max(px_per_bar, 1e-9)
        return next((s for s in BAR_STEPS if s >= need), BAR_STEPS[-1])

    def labels(self, lo: float, hi: float, length_px: float) -> list[tuple[float, str]]:
        step = self.bar_step(lo, hi, length_px)
        n = len(self.start_ns)
        first = max(0, math.ceil(lo / step) * step)
        last = min(n - 1, math.floor(hi))
        return [(float(i), et_time(int(self.start_ns[i]))[:5]) for i in range(first, last + 1, step)]


class PriceAxis(FastAxis):
    """y is ticks; labels are prices (``5500.25``) at whole-tick steps, at every zoom."""

    def __init__(self, instrument: Instrument, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.instrument = instrument

    def content_key(self) -> object:
        return self.instrument

    def labels(self, lo: float, hi: float, length_px: float) -> list[tuple[float, str]]:
        step = nice_step(MIN_ROW_LABEL_PX * (hi - lo) / length_px, (1, 2, 4, 5))
        first, last = math.ceil(lo / step) * step, math.floor(hi / step) * step
        return [(float(v), self.instrument.format_price(v)) for v in range(first, last + 1, step)]


class ContractsAxis(FastAxis):
    """A count of contracts (cumulative delta): whole numbers at 1-2-5 steps, thousands separated."""

    def labels(self, lo: float, hi: float, length_px: float) -> list[tuple[float, str]]:
        step = nice_step(MIN_ROW_LABEL_PX * (hi - lo) / length_px)
        first, last = math.ceil(lo / step) * step, math.floor(hi / step) * step
        return [(float(v), f"{v:,}") for v in range(first, last + 1, step)]
