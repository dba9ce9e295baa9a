"""A table delegate that paints prepared cells: a background, then one line of text.

Why: Qt's stock delegate lays the text of every cell out again at each repaint (about 50 us a
cell here), so a 41 x 10 ladder repainted at 10 Hz costs 20 ms a frame. The DOM and the tape
already hold each cell as ``(text, background brush, foreground brush, bold, alignment)``; this
delegate fills the rectangle and draws the text from a cache of :class:`QStaticText` (a number
laid out once is drawn many times: prices and sizes repeat). Selection and editing are not drawn:
both tables have them off.
"""

from __future__ import annotations

from typing import Protocol

from PySide6 import QtCore, QtGui, QtWidgets

Cell = tuple[str, QtGui.QBrush | None, QtGui.QBrush, bool, int]
"""text, background (None = the view's), foreground, bold, ``Qt.AlignmentFlag`` as int."""

_PAD_PX = 3
_CACHE = 4096


class CellSource(Protocol):
    def cell(self, row: int, col: int) -> Cell: ...


class CellDelegate(QtWidgets.QStyledItemDelegate):
    """Paints ``model.cell(row, col)``; the model must provide it (see :data:`Cell`)."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._texts: dict[tuple[str, bool], tuple[QtGui.QStaticText, float]] = {}
        self._fonts: tuple[QtGui.QFont, QtGui.QFont] | None = None  # normal, bold: the view's font

    def _static(self, text: str, font: QtGui.QFont, bold: bool) -> tuple[QtGui.QStaticText, float]:
        key = (text, bold)
        got = self._texts.get(key)
        if got is None:
            if len(self._texts) > _CACHE:
                self._texts.clear()
            st = QtGui.QStaticText(text)
            st.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            st.prepare(QtGui.QTransform(), font)
            got = self._texts[key] = (st, st.size().width())
        return got

    def paint(self, p: QtGui.QPainter, option: QtWidgets.QStyleOptionViewItem, index: QtCore.QModelIndex) -> None:
        model = index.model()
        text, bg, fg, bold, align = model.cell(index.row(), index.column())  # type: ignore[attr-defined]
        r = option.rect
        if bg is not None:
            p.fillRect(r, bg)
        if not text:
            return
        if self._fonts is None:
            normal, heavy = QtGui.QFont(option.font), QtGui.QFont(option.font)
            heavy.setBold(True)
            self._fonts = (normal, heavy)
        font = self._fonts[1] if bold else self._fonts[0]
        st, w = self._static(text, font, bold)
        h = st.size().height()
        if align & QtCore.Qt.AlignmentFlag.AlignRight:
            x = r.right() - _PAD_PX - w
        elif align & QtCore.Qt.AlignmentFlag.AlignHCenter:
            x = r.left() + (r.width() - w) / 2
        else:
            x = r.left() + _PAD_PX
        y = r.top() + (r.height() - h) / 2
        p.save()
        p.setClipRect(r)
        p.setFont(font)
        p.setPen(fg.color())
        p.drawStaticText(QtCore.QPointF(x, y), st)
        p.restore()
