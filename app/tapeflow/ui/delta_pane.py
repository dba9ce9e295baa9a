"""Cumulative delta pane: one candle (or a line point) per footprint bar, x linked to the footprint.

Candle of bar i: opens at the cumulative delta before the bar, closes at ``cum_delta[i]``, high
and low from the bar's running max/min delta. The closed bars are one cached picture, rebuilt only
when a bar closes; the live bar is drawn on its own each frame. Resets (where the cumulative sum
restarts, e.g. at each session) get a dashed vertical marker; divergence signals a triangle.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.core.events import Side
from tapeflow.flow.footprint import FootprintBars
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.ui.axes import BarTimeAxis, ContractsAxis
from tapeflow.ui.footprint_pane import FOOTPRINT_RIGHT_MARGIN_PX
from tapeflow.ui.theme import Theme

CHUNK_BARS = 32
"""Closed candles per cached picture."""


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
        self._closed_pic: QtGui.QPicture | None = None  # None: the closed bars' pictures must be brought up to date
        self._chunks: dict[int, QtGui.QPicture] = {}  # chunk k = closed bars [k * CHUNK_BARS, (k + 1) * CHUNK_BARS)
        self._tail_pic = QtGui.QPicture()  # the closed bars after the last full chunk
        self._closed_n = -1
        self._rect = QtCore.QRectF()

    def set_bars(self, bars: FootprintBars) -> None:
        c = delta_candles(bars)
        n = len(bars)
        old = self.c
        if old is not None and (len(old["close"]) > n or (n and len(old["close"]) and (
                old["open"][0] != c["open"][0] or old["close"][0] != c["close"][0]))):
            self._chunks.clear()  # the series restarted (a backward jump): no closed bar is the same
        if n - 1 != self._closed_n or (self.c is not None and len(self.c["close"]) > n):
            self._closed_pic = None
        same_bars = self.c is not None and len(self.c["close"]) == n and self._closed_pic is not None
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

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._closed_pic = None
        self._chunks.clear()
        self.update()

    def set_style(self, style: DeltaStyle) -> None:
        self.style = style
        self._closed_pic = None
        self._chunks.clear()
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        return QtCore.QRectF(self._rect)

    def paint(self, p: QtGui.QPainter, opt, widget=None) -> None:
        c = self.c
        if c is None or not len(c["close"]):
            return
        n = len(c["close"])
        if self._closed_pic is None:
            # closed bars in chunks of CHUNK_BARS: full chunks never change, so a new bar redraws
            # the last, partial chunk only (at max speed a bar closes on almost every chart frame)
            closed = n - 1
            for k in range(closed // CHUNK_BARS):
                if k not in self._chunks:
                    self._chunks[k] = self._draw(k * CHUNK_BARS, (k + 1) * CHUNK_BARS, resets=False)
            self._tail_pic = self._draw(closed - closed % CHUNK_BARS, closed, resets=False)
            self._closed_pic = self._draw_resets(0, closed)
            self._closed_n = closed
        for k in range(self._closed_n // CHUNK_BARS):
            p.drawPicture(0, 0, self._chunks[k])
        p.drawPicture(0, 0, self._tail_pic)
        p.drawPicture(0, 0, self._closed_pic)
        p.drawPicture(0, 0, self._draw(n - 1, n))

    def _draw(self, a: int, b: int, *, resets: bool = True) -> QtGui.QPicture:
        c = self.c
        assert c is not None
        th = self.theme
        pic = QtGui.QPicture()
        p = QtGui.QPainter(pic)
        if self.style is DeltaStyle.LINE:
            pen = QtGui.QPen(th.color("last"), 2)
            pen.setCosmetic(True)
            p.setPen(pen)
            lo = max(0, a - 1)
            for i in range(lo + 1, b):
                if not c["reset"][i]:
                    p.drawLine(QtCore.QPointF(i - 1, float(c["close"][i - 1])), QtCore.QPointF(i, float(c["close"][i])))
        else:
            # one wick call and one body call per colour: a pen per candle made replaying the
            # picture cost ~6 ms for 200 candles, batched it is a fraction of a millisecond
            o, cl = c["open"][a:b].astype(float), c["close"][a:b].astype(float)
            hi, lo = c["high"][a:b].astype(float), c["low"][a:b].astype(float)
            xs = np.arange(a, b, dtype=float)
            up = cl >= o
            for name, sel in (("ask", up), ("bid", ~up)):
                if not sel.any():
                    continue
                col = th.color(name)
                pen = QtGui.QPen(col, 1)
                pen.setCosmetic(True)
                p.setPen(pen)
                p.drawLines([QtCore.QLineF(x, y0, x, y1)
                             for x, y0, y1 in zip(xs[sel].tolist(), lo[sel].tolist(), hi[sel].tolist(), strict=True)])
                p.setPen(QtCore.Qt.PenStyle.NoPen)
                p.setBrush(col)
                y_body = np.minimum(o[sel], cl[sel])
                h_body = np.maximum(np.abs(cl[sel] - o[sel]), 1e-9)
                p.drawRects([QtCore.QRectF(x - 0.32, y, 0.64, h)
                             for x, y, h in zip(xs[sel].tolist(), y_body.tolist(), h_body.tolist(), strict=True)])
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        if resets:
            self._resets(p, a, b)
        p.end()
        return pic

    def _draw_resets(self, a: int, b: int) -> QtGui.QPicture:
        """The session-reset markers of bars ``a..b``: they span the item's height, which grows."""
        pic = QtGui.QPicture()
        p = QtGui.QPainter(pic)
        self._resets(p, a, b)
        p.end()
        return pic

    def _resets(self, p: QtGui.QPainter, a: int, b: int) -> None:
        c = self.c
        assert c is not None
        pen = QtGui.QPen(self.theme.color("warning"), 1, QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        p.setPen(pen)
        span = self._rect
        for i in np.flatnonzero(c["reset"][a:b]) + a:
            p.drawLine(QtCore.QPointF(i - 0.5, span.top()), QtCore.QPointF(i - 0.5, span.bottom()))


class DeltaPane(QtWidgets.QWidget):
    """Cumulative delta dock content; call :meth:`link_x` with the footprint plot."""

    def __init__(self, theme: Theme, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("delta")
        self.style_box = QtWidgets.QComboBox()
        self.style_box.addItems([s.value for s in DeltaStyle])
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(QtWidgets.QLabel("Cumulative delta"))
        top.addWidget(self.style_box)
        top.addStretch(1)
        self.value_label = QtWidgets.QLabel("")
        # a fixed size: a label whose text width changes asks its layout (and the dock, and the main
        # window) to lay out again at every new value, which cost ~2 ms a frame at max speed
        self.value_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        fm = self.value_label.fontMetrics()
        self.value_label.setFixedSize(fm.horizontalAdvance("+99,999,999") + 8, fm.height() + 4)
        top.addWidget(self.value_label)
        self.time_axis = BarTimeAxis()
        self.value_axis = ContractsAxis("right")
        self.plot = pg.PlotWidget(axisItems={"bottom": self.time_axis, "right": self.value_axis})
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("left")
        self.plot.showAxis("right")
        # as wide as the footprint's profile + price axis, so bar i sits at the same x in both panes
        self.plot.getAxis("right").setWidth(FOOTPRINT_RIGHT_MARGIN_PX)
        self.item = DeltaCandlesItem(theme)
        self.plot.addItem(self.item)
        self.zero = pg.InfiniteLine(pos=0, angle=0, movable=False)
        self.plot.addItem(self.zero, ignoreBounds=True)
        self.markers = pg.ScatterPlotItem(size=11)
        self.plot.addItem(self.markers)
        self.plot.getViewBox().setMouseEnabled(x=True, y=False)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        self.style_box.currentTextChanged.connect(lambda t: self.item.set_style(DeltaStyle(t)))
        self.plot.getViewBox().sigXRangeChanged.connect(lambda *_: self._autoscale_y())
        self._key: tuple | None = None
        self._div_key: tuple | None = None
        self.theme = theme
        self.apply_theme(theme)

    def link_x(self, plot: pg.PlotItem) -> None:
        self.plot.setXLink(plot)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.plot.setBackground(theme.background)
        for name in ("bottom", "right"):
            ax = self.plot.getAxis(name)
            ax.setTextPen(theme.text_dim)
            ax.setPen(theme.grid)
        self.zero.setPen(pg.mkPen(theme.grid, width=1))
        self.item.set_theme(theme)
        self._key = None

    def update_from(self, snap: PipelineSnapshot, *, full: bool = True) -> bool:
        """One frame; divergence markers are re-placed on full frames only (10 Hz on the timer),
        and so is a new bar (it scrolls the view, linked to the footprint's, and repaints it all)."""
        bars = snap.flow.bars
        if not full and self._key is not None and len(bars) != self._key[0]:
            return False
        key = (len(bars), int(bars.cum_delta[-1]) if len(bars) else 0, int(bars.max_delta[-1]) if len(bars) else 0,
               int(bars.min_delta[-1]) if len(bars) else 0, len(snap.signals) if full else -1)
        if key == self._key or (not full and self._key is not None and key[:4] == self._key[:4]):
            return False
        self._key = key
        self.time_axis.start_ns = bars.start_ns
        self.item.set_bars(bars)
        self._autoscale_y()
        if full:
            # the number at 10 Hz: repainting the label repaints the dock behind it (~1.5 ms)
            if len(bars):
                self.value_label.setText(f"{int(bars.cum_delta[-1]):+,}")
            self._divergences(bars, snap)
        # apply range changes now: pyqtgraph would apply them inside the paint and paint the scene twice
        self.plot.scene().prepareForPaint()
        return True

    def _autoscale_y(self) -> None:
        """Fit y to the candles of the bars in view (x follows the footprint)."""
        c = self.item.c
        if c is None or not len(c["close"]):
            return
        (x0, x1), _ = self.plot.getViewBox().viewRange()
        a, b = max(0, int(x0)), min(len(c["close"]), int(x1) + 2)
        if b <= a:
            a, b = 0, len(c["close"])
        lo = float(min(c["low"][a:b].min(), c["close"][a:b].min()))
        hi = float(max(c["high"][a:b].max(), c["close"][a:b].max()))
        vb = self.plot.getViewBox()
        _, (y0, y1) = vb.viewRange()
        if y0 <= lo and hi <= y1 and (hi - lo) >= 0.6 * (y1 - y0):
            return  # still fits and fills the pane: keep the range (a new range repaints the whole plot)
        pad = max(1.0, (hi - lo) * 0.08)
        vb.setYRange(lo - pad, hi + pad, padding=0)

    def _divergences(self, bars: FootprintBars, snap: PipelineSnapshot) -> None:
        divs = [s for s in snap.signals if "divergence" in s.kind.lower()]
        key = (len(bars), len(divs), divs[-1].ts_ns if divs else 0, self.theme.name)
        if key == self._div_key:
            return
        self._div_key = key
        if not divs or not len(bars):
            self.markers.setData([], [])
            return
        c = self.item.c
        assert c is not None
        xs, ys, brushes, symbols = [], [], [], []
        bear_brush, bull_brush = pg.mkBrush(self.theme.bid_strong), pg.mkBrush(self.theme.ask_strong)
        idx = np.searchsorted(bars.start_ns, np.array([s.bar_start_ns for s in divs], np.int64), side="right") - 1
        for s, i in zip(divs, idx.tolist(), strict=True):
            if 0 <= i < len(bars):
                bear = s.side == Side.SELL
                xs.append(i)
                ys.append(float(c["high"][i] if bear else c["low"][i]))
                brushes.append(bear_brush if bear else bull_brush)
                symbols.append("t" if bear else "t1")
        self.markers.setData(xs, ys, brush=brushes, symbol=symbols, pen=None)
