"""Session volume profile drawn at the right edge of the footprint (shares its price axis).

Bid and ask volume side by side per tick, POC and value area marked, the prior session's
POC/VAH/VAL as dashed lines. A session holds a thousand price levels or more, and a thousand
sub-pixel rectangles cost the raster engine ~13 ms a paint; so the bars are rendered with numpy
straight into one image at device resolution (one pixel row samples the tick under its centre),
kept until the profile or the view's transform changes, and blitted.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from tapeflow.flow.profile import ProfileSummary
from tapeflow.ui.theme import Theme


class SessionProfileItem(pg.GraphicsObject):
    """x is volume (contracts), y is price (ticks)."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        self.prices = np.zeros(0, np.int64)
        self.bid = np.zeros(0, np.int64)
        self.ask = np.zeros(0, np.int64)
        self.summary: ProfileSummary | None = None
        self.prior: ProfileSummary | None = None
        self._picture: QtGui.QPicture | None = None  # None = the image and marks must be redrawn
        self._image = QtGui.QImage()
        self._image_key: tuple | None = None
        self._rect = QtCore.QRectF(0, 0, 1, 1)

    def set_profile(
        self,
        prices: np.ndarray,
        bid: np.ndarray,
        ask: np.ndarray,
        summary: ProfileSummary | None,
        prior: ProfileSummary | None,
    ) -> bool:
        """Take the session profile; returns True if it changed (then the picture is rebuilt)."""
        same = (
            len(prices) == len(self.prices)
            and summary == self.summary
            and prior == self.prior
            and np.array_equal(bid, self.bid)
            and np.array_equal(ask, self.ask)
        )
        if same:
            return False
        self.prices, self.bid, self.ask = prices, bid, ask
        self.summary, self.prior = summary, prior
        self._picture = None
        vmax = int((bid + ask).max()) if len(bid) else 1
        lo = int(prices[0]) if len(prices) else 0
        rect = QtCore.QRectF(0, lo - 0.5, max(1, vmax), max(1, len(prices)))
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()
        return True

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._picture = None
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt API
        return QtCore.QRectF(self._rect)

    def paint(self, p: QtGui.QPainter, opt, widget=None) -> None:
        t = p.transform()
        view = self.viewRect()
        if view is None or t.m11() <= 0 or t.m22() == 0 or not len(self.prices):
            return
        dev = t.mapRect(self._rect.intersected(view)).toAlignedRect()
        if dev.isEmpty():
            return
        key = (round(t.m11(), 9), round(t.m22(), 9), round(t.dx(), 3), round(t.dy(), 3), dev.getRect())
        if self._picture is None or self._image_key != key:
            self._image = self._render(t, dev)
            self._image_key = key
            self._picture = self._draw_marks()
        p.save()
        p.resetTransform()
        p.drawImage(dev.topLeft(), self._image)
        p.restore()
        p.drawPicture(0, 0, self._picture)

    def _render(self, t: QtGui.QTransform, dev: QtCore.QRect) -> QtGui.QImage:
        """The bid and ask bars of ``dev`` (device pixels) as a premultiplied ARGB32 image."""
        th = self.theme
        sx, sy, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()
        ys = (np.arange(dev.top(), dev.top() + dev.height()) + 0.5 - dy) / sy  # ticks at each row's centre
        ticks = np.floor(ys + 0.5).astype(np.int64)
        k = ticks - int(self.prices[0])
        ok = (k >= 0) & (k < len(self.prices))
        if abs(sy) >= 4:  # rows tall enough to show the gap between levels
            ok &= np.abs(ys - ticks) <= 0.45
        k = np.clip(k, 0, len(self.prices) - 1)
        b = np.where(ok, self.bid[k], 0).astype(float)
        a = np.where(ok, self.ask[k], 0).astype(float)
        v = (np.arange(dev.left(), dev.left() + dev.width()) + 0.5 - dx) / sx  # contracts, rising
        s = self.summary
        in_va = (ticks >= s.val) & (ticks <= s.vah) if s is not None else np.zeros(len(ticks), bool)
        # each row is a run of bid pixels (v < b), a run of ask pixels (b <= v < b + a), then nothing:
        # runs counted with a search in v and laid out with one repeat (not a mask of every pixel)
        nb = np.searchsorted(v, b, side="left")
        na = np.searchsorted(v, b + a, side="left")
        (bid_in, bid_out), (ask_in, ask_out) = (_premultiplied(th, "bid"), _premultiplied(th, "ask"))
        rows, width = len(ticks), dev.width()
        values = np.zeros((rows, 3), np.uint32)
        values[:, 0] = np.where(in_va, bid_in, bid_out)
        values[:, 1] = np.where(in_va, ask_in, ask_out)
        counts = np.empty((rows, 3), np.int64)
        counts[:, 0] = nb
        counts[:, 1] = na - nb
        counts[:, 2] = width - na
        out = np.repeat(values.ravel(), counts.ravel())
        img = QtGui.QImage(out.data, width, dev.height(), width * 4, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        return img.copy()  # own the pixels: ``out`` goes away with this call

    def _draw_marks(self) -> QtGui.QPicture:
        """POC band and the prior session's levels, in data coordinates (a handful of shapes)."""
        th = self.theme
        pic = QtGui.QPicture()
        p = QtGui.QPainter(pic)
        s = self.summary
        width = self._rect.width()
        if s is not None:
            p.fillRect(QtCore.QRectF(0, s.poc - 0.45, width, 0.9), th.color("poc", 110))
        if self.prior is not None:
            pen = QtGui.QPen(th.color("text_dim"), 0)
            pen.setStyle(QtCore.Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            p.setPen(pen)
            for level in (self.prior.poc, self.prior.val, self.prior.vah):
                p.drawLine(QtCore.QPointF(0, level), QtCore.QPointF(width, level))
        p.end()
        return pic


def _premultiplied(theme: Theme, name: str) -> tuple[np.uint32, np.uint32]:
    """Theme colour ``name`` at the value area's alpha and outside it, as premultiplied ARGB32 pixels
    (converted by Qt, as it converts a straight-alpha image at each paint: the image is now made
    premultiplied once, and copies without that conversion)."""
    img = QtGui.QImage(2, 1, QtGui.QImage.Format.Format_ARGB32)
    for x, alpha in enumerate((230, 120)):
        img.setPixelColor(x, 0, theme.color(name, alpha))
    img = img.convertToFormat(QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    inside, outside = np.frombuffer(img.constBits(), np.uint32, 2)  # as stored (pixel() un-premultiplies)
    return np.uint32(inside), np.uint32(outside)
