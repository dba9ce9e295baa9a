"""Cumulative delta pane: one candle (or a line point) per footprint bar, x linked to the footprint.

Candle of bar i: opens at the cumulative delta before the bar, closes at ``cum_delta[i]``, high
and low from the bar's running max/min delta. The series is one item (:mod:`tapeflow.ui.delta_item`)
that repaints only the live candle's column between new bars. Resets (where the cumulative sum
restarts, e.g. at each session) get a dashed vertical marker; divergence signals a triangle.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from tapeflow.core.events import Side
from tapeflow.flow.footprint import FootprintBars
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.ui.axes import BarTimeAxis, ContractsAxis, quiet_axes
from tapeflow.ui.delta_item import DeltaCandlesItem, DeltaStyle
from tapeflow.ui.footprint_pane import FOOTPRINT_RIGHT_MARGIN_PX
from tapeflow.ui.theme import Theme


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
        # and opaque: a transparent label has the dock behind it repainted first (its styled frame:
        # 1-2 ms for this little rectangle); filled with the same window colour it repaints alone
        self.value_label.setAutoFillBackground(True)
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
        quiet_axes(self.plot.getPlotItem())
        # no BSP index of the scene's items: each scroll moves them all (see the footprint pane)
        self.plot.scene().setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.NoIndex)
        self.item = DeltaCandlesItem(theme)
        self.plot.addItem(self.item)
        self.zero = pg.InfiniteLine(pos=0, angle=0, movable=False)
        self.plot.addItem(self.zero, ignoreBounds=True)
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

    def clear(self) -> None:
        """Forget the series shown: the next frame draws another instrument's from scratch (its bars
        may start at the same time and be as many, so nothing cached may be taken for its own)."""
        self.item.clear()
        self.item.set_markers([])
        self._key = None
        self._div_key = None
        self.value_label.setText("")

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
            self.item.set_markers([])
            return
        c = self.item.c
        assert c is not None
        marks = []
        idx = np.searchsorted(bars.start_ns, np.array([s.bar_start_ns for s in divs], np.int64), side="right") - 1
        for s, i in zip(divs, idx.tolist(), strict=True):
            if 0 <= i < len(bars):
                bear = s.side == Side.SELL
                marks.append((i, float(c["high"][i] if bear else c["low"][i]), bear))
        self.item.set_markers(marks)
