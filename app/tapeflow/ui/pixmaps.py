"""Transparent pixmaps that chart items and axes draw into once and copy from afterwards."""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui


def transparent_pixmap(w: float, h: float, dpr: float) -> QtGui.QPixmap:
    """A transparent pixmap of ``w`` x ``h`` logical pixels at device pixel ratio ``dpr`` (at least
    one device pixel a side)."""
    pm = QtGui.QPixmap(max(1, math.ceil(w * dpr)), max(1, math.ceil(h * dpr)))
    pm.setDevicePixelRatio(dpr)
    pm.fill(QtCore.Qt.GlobalColor.transparent)
    return pm


def tile_pixmap(x0: int, y0: int, x1: int, y1: int, ax: float, ay: float,
                dpr: float) -> tuple[QtGui.QPixmap, float, float]:
    """A transparent pixmap for a tile spanning ``x0..x1``, ``y0..y1`` device pixels around an anchor
    that falls at (``ax``, ``ay``) in the view, and where the anchor falls in the pixmap: at
    (``-x0``, ``-y0``) plus its sub-pixel phase in the view, so what the tile holds lands on the
    view's pixels as drawing it straight would."""
    pm = transparent_pixmap(x1 - x0, y1 - y0, dpr)
    return pm, -x0 + (ax - math.floor(ax)), -y0 + (ay - math.floor(ay))
