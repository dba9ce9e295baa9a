"""Footprint pane: the footprint chart, the session profile at its right edge, crosshair and controls.

The pane is a view: :meth:`FootprintPane.update_from` takes a pipeline snapshot once per frame
and hands the bars to the cached item; it never reads the pipeline itself. Auto-follow keeps
the live bar in view until the user pans or zooms, and the Follow button brings it back.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from tapeflow.core.instruments import Instrument
from tapeflow.flow.footprint import FootprintBars
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.ui.axes import BarTimeAxis, PriceAxis, quiet_axes
from tapeflow.ui.footprint_item import FootprintItem, FootprintMode, RegionGraphicsView
from tapeflow.ui.highlight_item import Band, HighlightItem
from tapeflow.ui.profile_item import SessionProfileItem
from tapeflow.ui.text import compact, et_time
from tapeflow.ui.theme import Theme

DEFAULT_VISIBLE_BARS = 8  # wide enough for "bid x ask" numbers at a normal window size
MIN_VISIBLE_TICKS = 16
PROFILE_WIDTH_PX = 110
PRICE_AXIS_PX = 62
FOOTPRINT_RIGHT_MARGIN_PX = PROFILE_WIDTH_PX + PRICE_AXIS_PX
"""Pixels right of the footprint's bars (session profile + price axis); the delta pane matches it."""


class FootprintPane(QtWidgets.QWidget):
    """Footprint chart dock content.

    With several instruments open each has its own pane: ``activated`` says the user clicked this
    chart (it becomes the selected instrument) and ``crosshair_time`` gives the start of the bar under
    the mouse (None when it leaves), which the window shows on the other charts (:meth:`show_time`)."""

    activated = QtCore.Signal()
    crosshair_time = QtCore.Signal(object)

    def __init__(self, instrument: Instrument, theme: Theme, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("footprint")
        self.instrument = instrument
        self.theme = theme
        self.follow = True
        self.visible_bars = DEFAULT_VISIBLE_BARS
        self._last_price: int | None = None
        self._n_bars = 0
        self._programmatic = False

        self.mode_box = QtWidgets.QComboBox()
        self.mode_box.addItems([m.value for m in FootprintMode])
        self.rows_box = QtWidgets.QSpinBox()
        self.rows_box.setRange(1, 40)
        self.rows_box.setPrefix("rows: ")
        self.rows_box.setSuffix(" tick")
        self.footer_box = QtWidgets.QCheckBox("footer")
        self.footer_box.setChecked(True)
        self.follow_button = QtWidgets.QPushButton("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.readout = QtWidgets.QLabel("")
        self.readout.setObjectName("footprintReadout")
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for w in (QtWidgets.QLabel("Mode"), self.mode_box, self.rows_box, self.footer_box, self.follow_button):
            bar.addWidget(w)
        bar.addWidget(self.readout, 1)

        self.time_axis = BarTimeAxis()
        self.price_axis = PriceAxis(instrument, "right")
        self.graphics = RegionGraphicsView()
        self.plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0, axisItems={"bottom": self.time_axis})
        self.plot.hideAxis("left")
        self.plot.getViewBox().disableAutoRange()  # follow mode and the user own the range
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.item = FootprintItem(theme)
        # the time axis's ticks reach up into the plot (negative length): keep the footer's numbers above them
        self.item.footer_clearance_px = max(0.0, -float(self.time_axis.style["tickLength"])) + 1.0
        self.highlights = HighlightItem(theme)
        self.highlights.footer_px = self.item.footer_px
        self.plot.addItem(self.item)
        self.plot.addItem(self.highlights)
        self.last_line = pg.InfiniteLine(angle=0, movable=False)
        self.plot.addItem(self.last_line, ignoreBounds=True)
        self.cross_v = pg.InfiniteLine(angle=90, movable=False)
        self.cross_h = pg.InfiniteLine(angle=0, movable=False)
        for line in (self.cross_v, self.cross_h):
            line.setVisible(False)
            self.plot.addItem(line, ignoreBounds=True)
        self.tooltip = pg.TextItem(anchor=(0, 1))
        self.tooltip.setVisible(False)
        self.plot.addItem(self.tooltip, ignoreBounds=True)

        self.profile_plot: pg.PlotItem = self.graphics.addPlot(row=0, col=1, axisItems={"right": self.price_axis})
        self.price_axis.setWidth(PRICE_AXIS_PX)
        self.profile_plot.setMaximumWidth(FOOTPRINT_RIGHT_MARGIN_PX)
        self.profile_plot.setMinimumWidth(FOOTPRINT_RIGHT_MARGIN_PX)
        self.profile_plot.hideAxis("left")
        self.profile_plot.showAxis("right")
        self.profile_plot.hideAxis("bottom")
        self.profile_plot.setMenuEnabled(False)
        self.profile_plot.hideButtons()
        self.profile_plot.setYLink(self.plot)
        self.profile_plot.setMouseEnabled(x=False, y=True)
        self.profile_plot.getViewBox().disableAutoRange()  # x set to the largest volume, y linked
        self.profile = SessionProfileItem(theme)
        self.profile_plot.addItem(self.profile)
        quiet_axes(self.plot)
        quiet_axes(self.profile_plot)
        # no BSP index of the scene's items: every scroll moves all of them (the view's child group),
        # and Qt re-indexed each one; the scene holds a dozen items, which a paint just walks
        self.graphics.scene().setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.NoIndex)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)

        self.mode_box.currentTextChanged.connect(lambda t: self.item.set_mode(FootprintMode(t)))
        self.rows_box.valueChanged.connect(self.set_ticks_per_row)
        self.footer_box.toggled.connect(self._set_footer)
        self.follow_button.toggled.connect(self.set_follow)
        self.plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.viewport().installEventFilter(self)
        self.apply_theme(theme)

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 - Qt API
        """A press anywhere on the chart selects its instrument (the press still pans and zooms)."""
        if event.type() == QtCore.QEvent.Type.MouseButtonPress:
            self.activated.emit()
        return False

    # ---------------------------------------------------------------- settings

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.graphics.setBackground(theme.background)
        for ax in (self.time_axis, self.price_axis):
            ax.setTextPen(theme.text_dim)
            ax.setPen(theme.grid)
        self.item.set_theme(theme)
        self.highlights.set_theme(theme)
        self.profile.set_theme(theme)
        self.last_line.setPen(pg.mkPen(theme.last, width=1, style=QtCore.Qt.PenStyle.DashLine))
        for line in (self.cross_v, self.cross_h):
            line.setPen(pg.mkPen(theme.text_dim, width=1, style=QtCore.Qt.PenStyle.DotLine))
        self.tooltip.setColor(theme.text)
        self.tooltip.fill = pg.mkBrush(theme.panel)

    def set_ticks_per_row(self, n: int) -> None:
        self.item.set_ticks_per_row(n)
        self.highlights.ticks_per_row = n
        if self.rows_box.value() != n:
            self.rows_box.setValue(n)

    def set_mode(self, mode: FootprintMode) -> None:
        self.mode_box.setCurrentText(mode.value)

    def _set_footer(self, on: bool) -> None:
        self.item.show_footer = on
        self.item.prepareGeometryChange()
        self.item.update()

    def set_follow(self, on: bool) -> None:
        self.follow = on
        if self.follow_button.isChecked() != on:
            self.follow_button.setChecked(on)
        if on and self.item.bars is not None:
            self._follow(self.item.bars, force=True)

    def settings(self) -> dict:
        return {"mode": self.item.mode.value, "ticks_per_row": self.item.ticks_per_row,
                "footer": self.item.show_footer, "visible_bars": self.visible_bars}

    def restore(self, s: dict) -> None:
        with contextlib.suppress(ValueError):
            self.set_mode(FootprintMode(s.get("mode", FootprintMode.BID_ASK.value)))
        self.set_ticks_per_row(int(s.get("ticks_per_row", 1)))
        self.footer_box.setChecked(bool(s.get("footer", True)))
        self.visible_bars = int(s.get("visible_bars", DEFAULT_VISIBLE_BARS))

    # ---------------------------------------------------------------- frames

    def update_from(self, snap: PipelineSnapshot, bands: tuple[Band, ...] = (), *, full: bool = True,
                    profile: bool | None = None) -> bool:
        """One frame: returns True if anything was redrawn.

        ``full=False`` (the frame timer between two table-pane frames) updates the live bar only;
        the signal overlay, whose picture costs the most to rebuild, and anything that repaints the
        whole chart (a new bar, which scrolls the view, or a re-centred price range) wait for the
        next full frame (10 Hz). At max speed a bar closes almost every frame, and repainting every
        chart in full on every frame is what stalled the window. ``profile`` says whether the session
        profile is brought up to date (default: on full frames); the frame timer does it on another
        frame than the full one, so no frame pays for both (it has its own plot: a scrolled chart
        does not repaint it).
        """
        flow = snap.flow
        bars = flow.bars
        # a new bar waits for the next full frame (the profile, if asked for, does not)
        pending = not full and self.item.bars is not None and len(bars) != len(self.item.bars)
        changed = False
        if not pending:
            changed = self.item.set_bars(bars)
            self.time_axis.start_ns = bars.start_ns
        if full:
            changed |= self.highlights.set_content(bars.start_ns, snap.signals, bands)
        want_profile = full if profile is None else profile
        if want_profile and self.profile.set_profile(flow.profile_prices, flow.profile_bid, flow.profile_ask,
                                                     flow.profile, flow.prior_profile):
            changed = True
            vmax = float((flow.profile_bid + flow.profile_ask).max()) if len(flow.profile_bid) else 1.0
            want = max(1.0, vmax) * 1.04
            (_, x1), _ = self.profile_plot.getViewBox().viewRange()
            if not 0.8 * x1 <= want <= x1:  # rescale in steps, not on every print
                self.profile_plot.setXRange(0, want * 1.1, padding=0)
        if pending:
            self.graphics.scene().prepareForPaint()
            return changed
        if flow.last_price is not None and flow.last_price != self._last_price:
            self._last_price = flow.last_price
            self.last_line.setPos(flow.last_price)
        if self.follow and len(bars):
            self._follow(bars, force=self._n_bars == 0, recentre=full)
        self._n_bars = len(bars)
        # apply range changes now: pyqtgraph would apply them inside the paint and paint the scene twice
        self.graphics.scene().prepareForPaint()
        return changed

    def _follow(self, bars: FootprintBars, *, force: bool = False, recentre: bool = True) -> None:
        """Keep the live bar at the right edge; re-centre price only when it nears an edge (and
        ``recentre`` allows it: a new price range repaints the whole chart)."""
        n = len(bars)
        vb = self.plot.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        want_x = (n - self.visible_bars - 0.5, n + 0.5)
        last = self._last_price if self._last_price is not None else int(bars.close[-1])
        ny0, ny1 = y0, y1
        if force or y1 <= y0:
            # fit the bars that will be in view (with a margin), at least a screenful of rows
            a = max(0, n - self.visible_bars)
            lo, hi = int(bars.low[a:].min()), int(bars.high[a:].max())
            tpr = self.item.ticks_per_row
            span = max(hi - lo + 8 * tpr, MIN_VISIBLE_TICKS * tpr)
            mid = (lo + hi) / 2
            ny0, ny1 = mid - span / 2, mid + span / 2
        else:
            span = y1 - y0
            if recentre and not (y0 + 0.2 * span <= last <= y1 - 0.2 * span):
                ny0, ny1 = last - span / 2, last + span / 2
        # x and y in one call: two calls update the view (its linked delta pane, axes, items) twice
        ranges = {}
        if force or (abs(x0 - want_x[0]) > 1e-6 or abs(x1 - want_x[1]) > 1e-6):
            ranges["xRange"] = want_x
        if (ny0, ny1) != (y0, y1):
            ranges["yRange"] = (ny0, ny1)
        if not ranges:
            return
        self._programmatic = True
        try:
            vb.setRange(**ranges, padding=0)
        finally:
            self._programmatic = False

    def _user_moved(self, *_args) -> None:
        if not self._programmatic and self.follow:
            (x0, x1), _ = self.plot.getViewBox().viewRange()
            self.visible_bars = max(3, round(x1 - x0))
            self.set_follow(False)

    def jump_to_bar(self, bar_start_ns: int) -> int | None:
        """Centre the view on the bar that holds ``bar_start_ns`` (signal log clicks); stops following."""
        i = self.highlights.bar_index(bar_start_ns)
        bars = self.item.bars
        if i is None or bars is None:
            return None
        self.set_follow(False)
        half = self.visible_bars / 2
        vb = self.plot.getViewBox()
        vb.setXRange(i - half, i + half, padding=0)
        (_, _), (y0, y1) = vb.viewRange()
        mid = (int(bars.high[i]) + int(bars.low[i])) / 2
        vb.setYRange(mid - (y1 - y0) / 2, mid + (y1 - y0) / 2, padding=0)
        return i

    # ---------------------------------------------------------------- crosshair

    def _mouse_moved(self, pos) -> None:
        vb = self.plot.getViewBox()
        if not self.plot.sceneBoundingRect().contains(pos):
            for w in (self.cross_v, self.cross_h, self.tooltip):
                w.setVisible(False)
            self.crosshair_time.emit(None)
            return
        pt = vb.mapSceneToView(pos)
        self.crosshair_time.emit(self.bar_time(pt.x()))
        text = self.describe(pt.x(), pt.y())
        for w in (self.cross_v, self.cross_h):
            w.setVisible(True)
        self.cross_v.setPos(round(pt.x()))
        self.cross_h.setPos(pt.y())
        self.readout.setText(text)
        self.tooltip.setText(text)
        self.tooltip.setPos(pt.x() + 0.05, pt.y() + 0.5)
        self.tooltip.setVisible(bool(text))

    def bar_time(self, x: float) -> int | None:
        """Start (UTC ns) of the bar at ``x`` (a bar index), None off the bars."""
        bars = self.item.bars
        i = round(x)
        if bars is None or not 0 <= i < len(bars):
            return None
        return int(bars.start_ns[i])

    def show_time(self, ts_ns: int | None) -> int | None:
        """The linked crosshair: a vertical line on the bar that holds ``ts_ns`` (another chart's
        time under the mouse) and that time in the readout; None hides it. Returns the bar index."""
        bars = self.item.bars
        i = None
        if ts_ns is not None and bars is not None and len(bars):
            k = int(np.searchsorted(bars.start_ns, ts_ns, side="right")) - 1
            i = k if 0 <= k < len(bars) else None
        self.cross_h.setVisible(False)
        self.tooltip.setVisible(False)
        self.cross_v.setVisible(i is not None)
        if i is None:
            self.readout.setText("")
            return None
        self.cross_v.setPos(i)
        self.readout.setText(f"{et_time(int(ts_ns))}  (linked)")
        return i

    def describe(self, x: float, y: float) -> str:
        """The numbers of the row under a point (bar index, ticks): what the crosshair shows."""
        bars = self.item.bars
        if bars is None or not len(bars):
            return ""
        i = round(x)
        if not 0 <= i < len(bars):
            return ""
        tpr = self.item.ticks_per_row
        tick = math.floor(y + 0.5)
        row_price = (tick // tpr) * tpr
        rows = bars.rows(i, tpr)
        price = self.instrument.format_price(row_price)
        head = f"{et_time(int(bars.start_ns[i]))}  {price}"
        hit = [k for k, p in enumerate(rows["price"].tolist()) if p == row_price]
        if not hit:
            return head
        k = hit[0]
        b, a = int(rows["bid"][k]), int(rows["ask"][k])
        return f"{head}  bid {compact(b)} x ask {compact(a)}  Δ {a - b:+d}  vol {b + a + int(rows['unknown'][k])}"
