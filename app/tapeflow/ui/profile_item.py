"""Session volume profile drawn at the right edge of the footprint (shares its price axis).

One picture, rebuilt only when the profile changed (at most once per frame); bid and ask volume
side by side per tick, POC and value area marked, the prior session's POC/VAH/VAL as dashed lines.
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
        self._picture: QtGui.QPicture | None = None
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
        if self._picture is None:
            self._picture = self._draw()
        p.drawPicture(0, 0, self._picture)

    def _draw(self) -> QtGui.QPicture:
        th = self.theme
        pic = QtGui.QPicture()
        p = QtGui.QPainter(pic)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        s = self.summary
        va_lo, va_hi = (s.val, s.vah) if s else (1, 0)
        # four colours (bid/ask, inside/outside the value area): one drawRects call each, not one call per level
        groups: dict[tuple[str, int], list[QtCore.QRectF]] = {}
        for price, b, a in zip(self.prices.tolist(), self.bid.tolist(), self.ask.tolist(), strict=True):
            alpha = 230 if va_lo <= price <= va_hi else 120
            y = price - 0.45
            if b:
                groups.setdefault(("bid", alpha), []).append(QtCore.QRectF(0, y, b, 0.9))
            if a:
                groups.setdefault(("ask", alpha), []).append(QtCore.QRectF(b, y, a, 0.9))
        for (name, alpha), rects in groups.items():
            p.setBrush(th.color(name, alpha))
            p.drawRects(rects)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
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
