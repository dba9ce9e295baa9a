"""The footprint chart as one pyqtgraph item: a cached ``QPicture`` per finished bar.

Why this shape (vnpy's per-bar picture cache, pyqtgraph's ``customGraphicsItem``): drawing text
is the cost of a Python footprint, so every finished bar is drawn once into a picture and then
replayed; each frame only rebuilds the live (last) bar, and only bars the view exposes are
painted. Pictures are recorded in *pixels* relative to the bar's own top-left corner, so panning
reuses them as they are; a zoom (new pixels per bar or per tick) starts a new cache, filled
lazily for the bars in view. x is the bar index, y is the price in ticks.

Level of detail (from pixels per row and per bar): numbers only when they can be read, coloured
cells when rows are at least a couple of pixels high, just the candle and its POC when far out.
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
from tapeflow.ui.text import compact
from tapeflow.ui.theme import Theme

TEXT_MIN_ROW_PX = 10.0  # rows thinner than this show no numbers
TEXT_MIN_CELL_PX = 24.0  # cells narrower than this show no numbers
CELLS_MIN_ROW_PX = 1.5  # below this only candles and POC are drawn
FOOTER_MIN_BAR_PX = 34.0  # bars narrower than this have no footer numbers
FOOTER_LINES = 3  # volume, delta, cumulative delta
FOOTER_FONT_PX = 11
FOOTER_TOP_PX = 2.0  # space above the first footer line
COARSE_TILE = 16  # finished bars per cached tile far out
TILE_ROOM_PX = 48.0  # a tile not yet full has this much room above and below its bars for the next ones

# horizontal layout of one bar, as fractions of the bar pitch (1.0 = one bar index)
_CANDLE_L, _CANDLE_R = -0.46, -0.40
_CELLS_L, _CELLS_R = -0.38, 0.44


class FootprintMode(StrEnum):
    """What each row of a bar shows."""

    BID_ASK = "bid x ask"
    DELTA = "delta"
    VOLUME = "volume"
    PROFILE = "profile"


@dataclass(frozen=True, slots=True)
class Detail:
    """Level of detail chosen from the current zoom (pixels per bar, per row)."""

    numbers: bool
    cells: bool
    font_px: int


def choose_detail(px_per_bar: float, px_per_row: float, mode: FootprintMode) -> Detail:
    """Numbers only where they fit: bid x ask needs two numbers side by side in one bar."""
    cell_w = px_per_bar * (_CELLS_R - _CELLS_L) / (2 if mode is FootprintMode.BID_ASK else 1)
    numbers = px_per_row >= TEXT_MIN_ROW_PX and cell_w >= TEXT_MIN_CELL_PX
    font_px = int(max(8, min(13, px_per_row * 0.72)))
    return Detail(numbers=numbers, cells=px_per_row >= CELLS_MIN_ROW_PX, font_px=font_px)


class FootprintItem(pg.GraphicsObject):
    """Draws a :class:`FootprintBars` series; feed it with :meth:`set_bars` once per frame."""

    def __init__(self, theme: Theme, *, mode: FootprintMode = FootprintMode.BID_ASK, ticks_per_row: int = 1) -> None:
        super().__init__()
        self.theme = theme
        self.mode = mode
        self.ticks_per_row = max(1, int(ticks_per_row))
        self.show_footer = True
        self.footer_clearance_px = 0.0
        """Space kept free under the footer's last line: the time axis draws its ticks up into the
        plot, over the footer (the pane sets it from the axis)."""
        self._footer_line: float | None = None
        self.bars: FootprintBars | None = None
        self._cache: dict[int, Sprite] = {}  # closed bar index -> drawn bar at _scale_key
        self._footer_cache: dict[int, Sprite] = {}
        self._colors: tuple[Theme, dict[str, QtGui.QColor]] | None = None
        self._tiles: dict[int, CoarseTile] = {}  # far out: tile index -> finished bars drawn at _scale_key
        self._live: tuple[tuple, Sprite] | None = None  # (content key, drawn bar) of the last bar
        self._scale_key: tuple[int, int] | None = None
        self._rect = QtCore.QRectF()
        self._y_lo = 0
        self._y_hi = 0
        self.pictures_built = 0  # how many bar pictures were drawn (tests and benchmark read it)
        self._dpr = 1.0
        self.caching = True  # the benchmark switches it off to measure the uncached cost
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    # ---------------------------------------------------------------- data

    def set_bars(self, bars: FootprintBars) -> bool:
        """Take a new snapshot; returns True if anything drawn changed."""
        old = self.bars
        n = len(bars)
        if old is not None and old is not bars and len(old) and n:
            restarted = n < len(old) or int(bars.start_ns[0]) != int(old.start_ns[0])
            if restarted:
                self.invalidate()
        changed = old is None or n != len(old) or self._live_key(bars) != (self._live[0] if self._live else None)
        if old is not None and n > len(old):
            # a bar closed: its cached live picture is not valid for the closed bar's final state
            self._cache.pop(len(old) - 1, None)
            self._footer_cache.pop(len(old) - 1, None)
        self.bars = bars
        if n:
            lo = int(bars.low.min())
            hi = int(bars.high.max())
        else:
            lo = hi = 0
        rect = QtCore.QRectF(-0.5, lo - 0.5, max(n, 1), hi - lo + self.ticks_per_row)
        grew = False
        if rect != self._rect:
            view = self.viewRect()
            union = view is not None and self.show_footer
            # the footer makes the view part of the bounding rect: a new high or low inside the view
            # changes nothing Qt must know, and telling it would repaint the whole chart
            grew = not union or rect.united(view) != self._rect.united(view)
            if grew:
                self.prepareGeometryChange()
            self._rect = rect
            self._y_lo, self._y_hi = lo, hi
        if changed:
            view = self.viewRect()
            if old is not None and n == len(old) and not grew and view is not None:
                # only the live bar changed: repaint its column (bar and footer), not the whole chart
                self.update(QtCore.QRectF(n - 1.5, view.top(), 2.0, view.height()))
            else:
                self.update()
        return changed

    def set_mode(self, mode: FootprintMode) -> None:
        if mode != self.mode:
            self.mode = mode
            self.invalidate()

    def set_ticks_per_row(self, n: int) -> None:
        n = max(1, int(n))
        if n != self.ticks_per_row:
            self.ticks_per_row = n
            self.invalidate()
            if self.bars is not None:
                self.set_bars(self.bars)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.invalidate()

    def invalidate(self) -> None:
        """Forget every cached picture (mode, row size, theme or data restart)."""
        self._forget()
        self.update()

    def _forget(self) -> None:
        self._cache.clear()
        self._footer_cache.clear()
        self._tiles.clear()
        self._live = None

    def _live_key(self, bars: FootprintBars) -> tuple | None:
        if not len(bars):
            return None
        i = len(bars) - 1
        return (i, int(bars.volume[i]), int(bars.high[i]), int(bars.low[i]), int(bars.close[i]), int(bars.trades[i]))

    # ---------------------------------------------------------------- geometry

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        # the footer sits at the bottom of the view, so the view is part of what is drawn
        view = self.viewRect()
        return self._rect.united(view) if view is not None and self.show_footer else QtCore.QRectF(self._rect)

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph API
        super().viewTransformChanged()  # drops pyqtgraph's cached view rect
        self.prepareGeometryChange()

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802, N803 - pyqtgraph API
        """Auto-range sees the bars only: the footer follows the view, so counting it would grow the view forever."""
        r = self._rect
        if r.isNull() or self.bars is None or not len(self.bars):
            return None
        return (r.left(), r.right()) if ax == 0 else (r.top(), r.bottom())

    def data_rect(self) -> QtCore.QRectF:
        """Bars only: x from the first to the last bar, y from the lowest low to the highest high."""
        return QtCore.QRectF(self._rect)

    # ---------------------------------------------------------------- painting

    def paint(self, p: QtGui.QPainter, opt, widget=None) -> None:
        bars = self.bars
        if bars is None or not len(bars):
            return
        t = p.transform()
        sx, sy = t.m11(), t.m22()
        if sx <= 0 or sy == 0:
            return
        self._dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
        key = (round(sx * 64), round(sy * 64), round(self._dpr * 4))
        if key != self._scale_key or not self.caching:
            self._forget()
            self._scale_key = key
        view = self.viewRect()
        if view is None:
            return
        n = len(bars)
        # only the bars in the exposed parts: a live-bar update exposes one column, not the chart.
        # Qt hands the item the bounding rect of what is exposed; the view's region is finer: the
        # last-price line moving exposes a strip across the chart, and with the live bar's column
        # beside it the bounding rect was the whole chart (every bar repainted, every frame)
        parts = _exposed_parts(t, widget, opt.exposedRect if opt is not None else view, view)
        spans = [(max(0, math.floor(r.left() - 0.5)), min(n - 1, math.ceil(r.right() + 0.5)), r) for r in parts]
        spans = [sp for sp in spans if sp[0] <= sp[1]]
        if not spans:
            return
        i0, i1 = min(sp[0] for sp in spans), max(sp[1] for sp in spans)
        tpr = self.ticks_per_row
        detail = choose_detail(sx, abs(sy) * tpr, self.mode)
        p.save()
        p.resetTransform()
        if not detail.cells:
            # and only those reaching the exposed prices: a strip across every bar touches a few of them
            # (a mask over i0..i1, not np.unique: its first call imports numpy.ma, ~25 ms inside a frame)
            pad = tpr + 4.0 / abs(sy)
            keep = np.zeros(i1 - i0 + 1, bool)
            for a, b, r in spans:
                keep[a - i0 : b - i0 + 1] |= ((bars.high[a : b + 1] + pad >= r.top())
                                              & (bars.low[a : b + 1] - pad <= r.bottom()))
            idx = np.flatnonzero(keep) + i0
            if len(idx):
                if self.caching:
                    self._paint_coarse_tiles(p, t, idx)
                else:
                    self._paint_coarse(p, t, idx)
        else:
            for i in sorted({i for a, b, _ in spans for i in range(a, b + 1)}):
                sprite = self._picture(i, sx, sy, detail)
                top = _row_top(int(bars.high[i]), tpr)
                sprite.draw(p, t.map(QtCore.QPointF(i, top)))
        if self.show_footer and sx >= FOOTER_MIN_BAR_PX:
            self._paint_footer(p, t, view, i0, i1, sx)
        p.restore()

    def _paint_coarse_tiles(self, p: QtGui.QPainter, t: QtGui.QTransform, idx: np.ndarray) -> None:
        """:meth:`_paint_coarse` for the bars ``idx``, the finished ones blitted from tiles of
        ``COARSE_TILE`` bars drawn once at this zoom: a new bar scrolls the chart and repaints it
        whole, and drawing 200 candles again cost ~2.5 ms of that frame. A tile holding the last
        finished bars is drawn again when another bar joins it; the live bar is drawn straight."""
        bars = self.bars
        assert bars is not None
        last = len(bars) - 1
        live = idx[-1] == last
        closed = idx[:-1] if live else idx
        if len(closed):
            for k in sorted(set((closed // COARSE_TILE).tolist())):
                tile = self._coarse_tile(k, t)
                anchor = t.map(QtCore.QPointF(tile.bar, tile.price))
                p.drawPixmap(QtCore.QPointF(anchor.x() - tile.x, anchor.y() - tile.y), tile.pixmap)
        if live:
            self._paint_coarse(p, t, idx[-1:])

    def _coarse_tile(self, k: int, t: QtGui.QTransform) -> CoarseTile:
        """Tile ``k`` (finished bars ``k * COARSE_TILE`` on) at this zoom, drawn if missing; bars that
        finished since it was drawn are added onto it when they fit its pixmap (it is drawn taller
        than its bars until it is full), else it is drawn again."""
        bars = self.bars
        assert bars is not None
        a = k * COARSE_TILE
        b = min(a + COARSE_TILE, len(bars) - 1)  # the live bar is never in a tile
        tile = self._tiles.get(k)
        if tile is not None:
            if tile.count == b - a:
                return tile
            new = slice(a + tile.count, b)
            if tile.count < b - a and int(bars.high[new].max()) <= tile.top and int(bars.low[new].min()) >= tile.bottom:
                self.pictures_built += 1
                local = QtGui.QTransform(tile.sx, 0, 0, tile.sy, tile.x - a * tile.sx, tile.y - tile.price * tile.sy)
                painter = QtGui.QPainter(tile.pixmap)
                self._paint_coarse(painter, local, np.arange(new.start, new.stop))
                painter.end()
                tile.count = b - a
                return tile
        self.pictures_built += 1
        sx, sy = t.m11(), t.m22()
        ay, tpr = abs(sy), self.ticks_per_row
        hi, lo = int(bars.high[a:b].max()), int(bars.low[a:b].min())
        # room for the bars still to join: a tile that is not full is drawn taller than its bars
        room = 0 if b - a == COARSE_TILE else max(8, math.ceil(TILE_ROOM_PX / max(ay, 1e-9)))
        top, bottom = hi + room, lo - room
        # device box of the bars relative to the anchor (bar a, price hi): candles, wicks, POC ticks
        x0 = math.floor(_CANDLE_L * sx) - 3
        x1 = math.ceil((COARSE_TILE - 1) * sx + max(_CELLS_R * sx * 0.2, _CANDLE_R * sx)) + 3
        y1 = math.ceil((hi - bottom + 1 + tpr) * ay) + 4
        y0 = -math.ceil(ay * (top - hi + tpr + 1)) - 4
        # the chart's transform with the anchor moved to (-x0, -y0), keeping its sub-pixel phase
        anchor = t.map(QtCore.QPointF(a, hi))
        pm, tx, ty = tile_pixmap(x0, y0, x1, y1, anchor.x(), anchor.y(), self._dpr)
        local = QtGui.QTransform(sx, 0, 0, sy, tx - a * sx, ty - hi * sy)
        painter = QtGui.QPainter(pm)
        self._paint_coarse(painter, local, np.arange(a, b))
        painter.end()
        tile = self._tiles[k] = CoarseTile(a, hi, b - a, tx, ty, pm, sx, sy, top, bottom)
        return tile

    def _paint_coarse(self, p: QtGui.QPainter, t: QtGui.QTransform, idx: np.ndarray) -> None:
        """Far out (rows under 1.5 px): every bar ``idx`` is a candle and a POC tick, drawn straight
        in device pixels with a handful of batched calls. The per-bar sprites cost ~2.5 ms for 200
        bars in Python loop and blits alone; this is a fraction of that, and the picture is the same
        as :meth:`_draw_bar` draws at this level of detail. Plain Python floats: it mostly draws the
        live bar or a tile's few bars, where numpy's cost per call was most of it (~0.2 ms a bar)."""
        bars = self.bars
        assert bars is not None
        tpr = self.ticks_per_row
        sx, sy, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()
        cx0, cx1 = _CANDLE_L * sx, _CANDLE_R * sx
        half = (cx0 + cx1) / 2
        body_w = max(1.0, cx1 - cx0)
        pen_w = max(1.0, (cx1 - cx0) * 0.25)
        poc_dy = tpr * abs(sy) / 2
        poc_x1 = _CELLS_R * sx * 0.2
        line, rect = QtCore.QLineF, QtCore.QRectF
        wicks: dict[bool, list[QtCore.QLineF]] = {True: [], False: []}
        bodies: dict[bool, list[QtCore.QRectF]] = {True: [], False: []}
        pocs: list[QtCore.QLineF] = []
        for i, o, c, hi, lo, vol, poc in zip(
            idx.tolist(), bars.open[idx].tolist(), bars.close[idx].tolist(), bars.high[idx].tolist(),
            bars.low[idx].tolist(), bars.volume[idx].tolist(), bars.poc[idx].tolist(), strict=True,
        ):
            x = float(i) * sx + dx
            up = c >= o
            y_top = ((c if up else o) + 0.5) * sy + dy  # sy < 0: y_top is the smaller pixel y
            y_bottom = ((o if up else c) - 0.5) * sy + dy
            wicks[up].append(line(x + half, (hi + 0.5) * sy + dy, x + half, (lo - 0.5) * sy + dy))
            bodies[up].append(rect(x + cx0, y_top, body_w, max(1.0, y_bottom - y_top)))
            if vol > 0:
                y = ((poc // tpr) * tpr + tpr - 0.5) * sy + dy + poc_dy
                pocs.append(line(x + cx0 - 1, y, x + poc_x1, y))
        colors = self._coarse_colors()
        for name, up in (("ask", True), ("bid", False)):
            if not wicks[up]:
                continue
            color = colors[name]
            p.setPen(QtGui.QPen(color, pen_w))
            p.drawLines(wicks[up])
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(color)
            p.drawRects(bodies[up])
        if pocs:
            p.setPen(QtGui.QPen(colors["poc"], 2.0))
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            p.drawLines(pocs)

    def _coarse_colors(self) -> dict[str, QtGui.QColor]:
        got = self._colors
        if got is None or got[0] is not self.theme:
            got = self._colors = (self.theme, {n: self.theme.color(n) for n in ("ask", "bid", "poc")})
        return got[1]

    def _picture(self, i: int, sx: float, sy: float, detail: Detail) -> Sprite:
        bars = self.bars
        assert bars is not None
        if i == len(bars) - 1:
            lk = self._live_key(bars)
            if self._live is not None and self._live[0] == lk:
                return self._live[1]
            sprite = Sprite(self._draw_bar(i, sx, sy, detail), self._dpr, self._bar_box(i, sx, sy))
            self._live = (lk, sprite)
            return sprite
        sprite = self._cache.get(i)
        if sprite is None:
            sprite = Sprite(self._draw_bar(i, sx, sy, detail), self._dpr, self._bar_box(i, sx, sy))
            if self.caching:
                self._cache[i] = sprite
        return sprite

    def _bar_box(self, i: int, sx: float, sy: float) -> QtCore.QRect:
        """Pixel box of bar ``i`` relative to its origin (bar centre x, top edge of its highest row)."""
        bars = self.bars
        assert bars is not None
        tpr = self.ticks_per_row
        top = _row_top(int(bars.high[i]), tpr)
        bottom = (int(bars.low[i]) // tpr) * tpr - 0.5
        x0 = math.floor(_CANDLE_L * sx) - 2
        return QtCore.QRect(x0, -2, math.ceil(_CELLS_R * sx) + 2 - x0, math.ceil((top - bottom) * abs(sy)) + 4)

    def _draw_bar(self, i: int, sx: float, sy: float, d: Detail) -> QtGui.QPicture:
        """One bar in pixels, origin at the bar centre x and the top edge of its highest row."""
        self.pictures_built += 1
        bars = self.bars
        assert bars is not None
        th = self.theme
        tpr = self.ticks_per_row
        b_open, b_close = int(bars.open[i]), int(bars.close[i])
        b_high, b_low = int(bars.high[i]), int(bars.low[i])
        top = _row_top(b_high, tpr)
        ay = abs(sy)

        def y_of(price: float) -> float:  # pixels below the top edge
            return (top - price) * ay

        pic = QtGui.QPicture()
        p = QtGui.QPainter(pic)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        up = b_close >= b_open
        body = th.color("ask" if up else "bid")
        # candle strip: wick from high to low, body from open to close
        cx0, cx1 = _CANDLE_L * sx, _CANDLE_R * sx
        wick_x = (cx0 + cx1) / 2
        p.setPen(QtGui.QPen(body, max(1.0, (cx1 - cx0) * 0.25)))
        p.drawLine(QtCore.QPointF(wick_x, y_of(b_high + 0.5)), QtCore.QPointF(wick_x, y_of(b_low - 0.5)))
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        if up:
            y_a, y_b = y_of(b_close + 0.5), y_of(b_open - 0.5)
        else:
            y_a, y_b = y_of(b_open + 0.5), y_of(b_close - 0.5)
        p.fillRect(QtCore.QRectF(cx0, y_a, max(1.0, cx1 - cx0), max(1.0, y_b - y_a)), body)

        x0, x1 = _CELLS_L * sx, _CELLS_R * sx
        rows = bars.rows(i, tpr)
        price = rows["price"]
        bid, ask = rows["bid"], rows["ask"]
        vol = bid + ask + rows["unknown"]
        poc_row = _row_of(price, int(bars.poc[i]), tpr)
        row_h = tpr * ay
        if d.cells and len(price):
            va_lo, va_hi = int(bars.val[i]), int(bars.vah[i])
            va_color = th.color("value_area", 70)
            for r in range(len(price)):
                if price[r] + tpr - 1 >= va_lo and price[r] <= va_hi:
                    p.fillRect(QtCore.QRectF(x0, y_of(price[r] + tpr - 0.5), x1 - x0, row_h), va_color)
            self._draw_cells(p, d, x0, x1, price, bid, ask, vol, y_of, row_h)
        if poc_row is not None:
            y = y_of(price[poc_row] + tpr - 0.5)
            pen = QtGui.QPen(th.color("poc"), 1.5 if d.cells else 2.0)
            p.setPen(pen)
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            if d.cells:
                p.drawRect(QtCore.QRectF(x0 + 0.75, y + 0.75, x1 - x0 - 1.5, max(1.0, row_h - 1.5)))
            else:
                p.drawLine(QtCore.QPointF(cx0 - 1, y + row_h / 2), QtCore.QPointF(x1 * 0.2, y + row_h / 2))
        p.end()
        return pic

    def _draw_cells(self, p, d, x0, x1, price, bid, ask, vol, y_of, row_h) -> None:
        th = self.theme
        tpr = self.ticks_per_row
        mode = self.mode
        vmax = max(1, int(vol.max()) if len(vol) else 1)
        ys = [y_of(pr + tpr - 0.5) for pr in price.tolist()]
        h = max(1.0, row_h - (1.0 if row_h > 4 else 0.0))
        mid = (x0 + x1) / 2
        if mode is FootprintMode.BID_ASK:
            side_max = max(1, int(max(bid.max(), ask.max())) if len(bid) else 1)
            for y, b, a in zip(ys, bid.tolist(), ask.tolist(), strict=True):
                if b:
                    p.fillRect(QtCore.QRectF(x0, y, mid - x0 - 0.5, h), th.color("bid", _alpha(b, side_max)))
                if a:
                    p.fillRect(QtCore.QRectF(mid + 0.5, y, x1 - mid - 0.5, h), th.color("ask", _alpha(a, side_max)))
        elif mode is FootprintMode.DELTA:
            dl = ask - bid
            dmax = max(1, int(np.abs(dl).max()) if len(dl) else 1)
            for y, v in zip(ys, dl.tolist(), strict=True):
                if v:
                    color = th.color("ask" if v > 0 else "bid", _alpha(abs(v), dmax))
                    p.fillRect(QtCore.QRectF(x0, y, x1 - x0, h), color)
        elif mode is FootprintMode.VOLUME:
            for y, v in zip(ys, vol.tolist(), strict=True):
                if v:
                    p.fillRect(QtCore.QRectF(x0, y, x1 - x0, h), th.color("neutral", _alpha(v, vmax)))
        else:  # PROFILE: horizontal bars, bid part then ask part
            w = x1 - x0
            for y, b, a in zip(ys, bid.tolist(), ask.tolist(), strict=True):
                wb, wa = w * b / vmax, w * a / vmax
                if wb:
                    p.fillRect(QtCore.QRectF(x0, y, wb, h), th.color("bid", 200))
                if wa:
                    p.fillRect(QtCore.QRectF(x0 + wb, y, wa, h), th.color("ask", 200))
        if not d.numbers:
            return
        font = QtGui.QFont()
        font.setPixelSize(d.font_px)
        p.setFont(font)
        align_c = QtCore.Qt.AlignmentFlag.AlignVCenter
        pen_text, pen_dim = QtGui.QPen(th.color("text")), QtGui.QPen(th.color("text_dim"))
        pad = 3.0
        if mode is FootprintMode.BID_ASK:
            left = align_c | QtCore.Qt.AlignmentFlag.AlignRight
            right = align_c | QtCore.Qt.AlignmentFlag.AlignLeft
            for y, b, a in zip(ys, bid.tolist(), ask.tolist(), strict=True):
                p.setPen(pen_text if b else pen_dim)
                p.drawText(QtCore.QRectF(x0, y, mid - x0 - pad, h), left, compact(b))
                p.setPen(pen_text if a else pen_dim)
                p.drawText(QtCore.QRectF(mid + pad, y, x1 - mid - pad, h), right, compact(a))
        else:
            vals = (ask - bid) if mode is FootprintMode.DELTA else vol
            center = align_c | QtCore.Qt.AlignmentFlag.AlignHCenter
            for y, v in zip(ys, vals.tolist(), strict=True):
                p.setPen(pen_text if v else pen_dim)
                p.drawText(QtCore.QRectF(x0, y, x1 - x0, h), center, compact(v))

    # ---------------------------------------------------------------- footer

    def _footer_font(self) -> QtGui.QFont:
        font = QtGui.QFont()
        font.setPixelSize(FOOTER_FONT_PX)
        return font

    def footer_line_px(self) -> float:
        """Height of one footer line: the font's full height (ascent and descent), whole pixels."""
        if self._footer_line is None:
            self._footer_line = float(math.ceil(QtGui.QFontMetricsF(self._footer_font()).height()))
        return self._footer_line

    def footer_height_px(self) -> float:
        """The footer band: its lines, the space above them and the axis ticks' clearance below."""
        return FOOTER_TOP_PX + FOOTER_LINES * self.footer_line_px() + 2.0 + self.footer_clearance_px

    def footer_px(self, px_per_bar: float) -> float:
        """Height of the footer band at the bottom of the view at this zoom (0: none drawn)."""
        return self.footer_height_px() if self.show_footer and px_per_bar >= FOOTER_MIN_BAR_PX else 0.0

    def _paint_footer(
        self, p: QtGui.QPainter, t: QtGui.QTransform, view: QtCore.QRectF, i0: int, i1: int, sx: float
    ) -> None:
        """Volume, delta and cumulative delta under each bar, pinned to the bottom of the view."""
        bottom = t.map(QtCore.QPointF(0, view.top())).y()  # view.top() is the lowest price (y up)
        h = self.footer_height_px()
        left = t.map(QtCore.QPointF(view.left(), 0)).x()
        right = t.map(QtCore.QPointF(view.right(), 0)).x()
        p.fillRect(QtCore.QRectF(left, bottom - h, right - left, h), self.theme.color("panel", 235))
        for i in range(i0, i1 + 1):
            sprite = self._footer_cache.get(i) if i < len(self.bars) - 1 else None
            if sprite is None:
                box = QtCore.QRect(math.floor(_CELLS_L * sx) - 1, 0, math.ceil((_CELLS_R - _CELLS_L) * sx) + 2,
                                   math.ceil(self.footer_height_px()))
                sprite = Sprite(self._draw_footer(i, sx), self._dpr, box)
                if i < len(self.bars) - 1 and self.caching:
                    self._footer_cache[i] = sprite
            sprite.draw(p, QtCore.QPointF(t.map(QtCore.QPointF(i, 0)).x(), bottom - h))

    def _draw_footer(self, i: int, sx: float) -> QtGui.QPicture:
        bars = self.bars
        assert bars is not None
        th = self.theme
        pic = QtGui.QPicture()
        p = QtGui.QPainter(pic)
        p.setFont(self._footer_font())
        line = self.footer_line_px()
        x0, w = _CELLS_L * sx, (_CELLS_R - _CELLS_L) * sx
        center = QtCore.Qt.AlignmentFlag.AlignCenter
        vol, delta, cum = int(bars.volume[i]), int(bars.delta[i]), int(bars.cum_delta[i])
        lines = (
            (compact(vol), "text"),
            (f"{delta:+,}", "ask" if delta >= 0 else "bid"),
            (f"{cum:+,}", "ask" if cum >= 0 else "bid"),
        )
        for k, (val, color) in enumerate(lines):
            p.setPen(th.color(color))
            p.drawText(QtCore.QRectF(x0, FOOTER_TOP_PX + k * line, w, line), center, val)
        p.end()
        return pic


class Sprite:
    """A bar's recorded picture, rasterized once: replaying a QPicture costs about as much as drawing
    it again (every fill and text re-runs), while blitting a pixmap is a copy. Device-pixel sized."""

    __slots__ = ("offset", "pixmap")

    def __init__(self, picture: QtGui.QPicture, dpr: float = 1.0, rect: QtCore.QRect | None = None) -> None:
        # the recorded bounds miss text drawn outside any fill, so callers pass the box they drew in
        br = rect if rect is not None else picture.boundingRect()
        self.offset = QtCore.QPointF(br.x(), br.y())
        w, h = max(1, br.width()), max(1, br.height())
        pm = QtGui.QPixmap(max(1, round(w * dpr)), max(1, round(h * dpr)))
        pm.setDevicePixelRatio(dpr)
        pm.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(pm)
        painter.drawPicture(QtCore.QPointF(-br.x(), -br.y()), picture)
        painter.end()
        self.pixmap = pm

    def draw(self, p: QtGui.QPainter, at: QtCore.QPointF) -> None:
        p.drawPixmap(at + self.offset, self.pixmap)


@dataclass(slots=True)
class CoarseTile:
    """Finished bars ``bar .. bar + count - 1`` drawn far out (candles and POC ticks) into a pixmap;
    (``x``, ``y``) is where the anchor (bar ``bar``, price ``price``) falls in it, in pixels, at the
    scale (``sx``, ``sy``) it was drawn at; bars from ``bottom`` to ``top`` (ticks) fit in it."""

    bar: int
    price: int
    count: int
    x: float
    y: float
    pixmap: QtGui.QPixmap
    sx: float
    sy: float
    top: int
    bottom: int


def _exposed_parts(t: QtGui.QTransform, widget, exposed: QtCore.QRectF,
                   view: QtCore.QRectF) -> list[QtCore.QRectF]:
    """The exposed rectangles in item coordinates, within the view: the paint event's region of the
    view that paints (``widget`` is its viewport; see :class:`RegionGraphicsView`) when it is known
    and made of several rectangles, else Qt's bounding ``exposed`` rect."""
    view_widget = widget.parentWidget() if widget is not None else None
    region = getattr(view_widget, "paint_region", None)
    clip = exposed.intersected(view)
    if region is None or region.rectCount() < 2:
        return [clip]
    inv, ok = t.inverted()
    if not ok:
        return [clip]
    parts = [inv.mapRect(QtCore.QRectF(r)).intersected(clip) for r in region]
    return [r for r in parts if not r.isEmpty()] or [clip]


class RegionGraphicsView(pg.GraphicsLayoutWidget):
    """A graphics layout whose paint event's region its items can read (``paint_region``) while it
    paints: Qt gives each item only the bounding rect of what is exposed."""

    paint_region: QtGui.QRegion | None = None

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt API
        self.paint_region = ev.region()
        try:
            super().paintEvent(ev)
        finally:
            self.paint_region = None


def _alpha(v: int, vmax: int) -> int:
    """Cell fill opacity by share of the bar's largest cell: never invisible, never opaque."""
    return int(40 + 175 * min(1.0, v / vmax))


def _row_top(high: int, tpr: int) -> float:
    """Top edge (ticks) of the row holding ``high``: rows are aligned to multiples of ``tpr``."""
    return (high // tpr) * tpr + tpr - 0.5


def _row_of(prices: np.ndarray, tick: int, tpr: int) -> int | None:
    """Index of the row holding ``tick``."""
    if not len(prices):
        return None
    r = int(np.searchsorted(prices, (tick // tpr) * tpr))
    return r if r < len(prices) and int(prices[r]) == (tick // tpr) * tpr else None
