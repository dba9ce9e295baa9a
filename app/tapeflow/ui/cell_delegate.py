"""A table delegate that paints prepared cells: a background, then one line of text.

Why: Qt's stock delegate lays the text of every cell out again at each repaint (about 50 us a
cell here), so a 41 x 10 ladder repainted at 10 Hz costs 20 ms a frame. The DOM and the tape
already hold each cell as ``(text, background brush, foreground brush, bold, alignment)``; this
delegate fills the rectangle and draws the text from a cache of :class:`QStaticText` (a number
laid out once is drawn many times: prices and sizes repeat). Selection and editing are not drawn:
both tables have them off. :class:`CellTableView` goes one step further and paints all exposed
cells in one Python call, and repaints only the cells a model lists as changed (``dirty_cells``):
a ladder announces the block that spans its changes, which at max speed is the whole 41 x 10
ladder (7-14 ms to repaint) while ~70 of its cells changed.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

from PySide6 import QtCore, QtGui, QtWidgets

Cell = tuple[str, QtGui.QBrush | None, QtGui.QBrush, bool, int]
"""text, background (None = the view's), foreground, bold, ``Qt.AlignmentFlag`` as int."""

_PAD_PX = 3
HEADER_PAD_PX = 12  # header section padding (theme: 2 px a side) and a margin
CELL_PAD_PX = 10  # the text padding (3 px a side) and a margin
_CACHE = 4096
_RIGHT = QtCore.Qt.AlignmentFlag.AlignRight.value
_HCENTER = QtCore.Qt.AlignmentFlag.AlignHCenter.value


class CellSource(Protocol):
    def cell(self, row: int, col: int) -> Cell: ...

    # optional: ``row_cells(row)``, every cell of a row at once (``row_cells(row)[col] == cell(row, col)``):
    # :class:`CellTableView` asks for it once per row instead of once per cell


class CellDelegate(QtWidgets.QStyledItemDelegate):
    """Paints ``model.cell(row, col)``; the model must provide it (see :data:`Cell`)."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._texts: dict[tuple[str, bool], tuple[QtGui.QStaticText, float, float]] = {}
        self._fonts: tuple[QtGui.QFont, QtGui.QFont] | None = None  # normal, bold: the view's font
        self._pens: dict[int, tuple[QtGui.QBrush, QtGui.QColor]] = {}
        self._seen: set[tuple[str, bool]] = set()  # texts drawn once, not (yet) kept as static texts
        self._metrics: tuple[_Metrics, _Metrics] | None = None  # of the normal and the bold font

    def _static(self, text: str, font: QtGui.QFont, bold: bool) -> tuple[QtGui.QStaticText, float, float]:
        key = (text, bold)
        got = self._texts.get(key)
        if got is None:
            if len(self._texts) > _CACHE:
                self._texts.clear()
            st = QtGui.QStaticText(text)
            st.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            st.prepare(QtGui.QTransform(), font)
            size = st.size()
            got = self._texts[key] = (st, size.width(), size.height())
        return got

    def _pen(self, fg: QtGui.QBrush) -> QtGui.QColor:
        """The text colour of a foreground brush; models hand out the same few brushes, so the
        colour is taken once per brush instead of once per cell."""
        got = self._pens.get(id(fg))
        if got is None or got[0] is not fg:
            if len(self._pens) > _CACHE:
                self._pens.clear()
            got = self._pens[id(fg)] = (fg, fg.color())
        return got[1]

    def paint(self, p: QtGui.QPainter, option: QtWidgets.QStyleOptionViewItem, index: QtCore.QModelIndex) -> None:
        model = index.model()
        self.paint_cell(p, option.rect, model.cell(index.row(), index.column()), option.font)  # type: ignore[attr-defined]

    def paint_cell(self, p: QtGui.QPainter, r: QtCore.QRect, cell: Cell, view_font: QtGui.QFont) -> None:
        """One cell into ``r``: no painter save/restore, and no clip unless the text overflows."""
        text, bg, fg, bold, align = cell
        if bg is not None:
            p.fillRect(r, bg)
        if not text:
            return
        normal, heavy = self._fonts_of(view_font)
        font = heavy if bold else normal
        st, w, h = self._static(text, font, bold)
        left, width = r.left(), r.width()
        x = _text_x(align, left, width, w)
        y = r.top() + (r.height() - h) / 2
        overflow = w > width - 2 * _PAD_PX
        if overflow:
            p.setClipRect(r)
        p.setFont(font)
        p.setPen(self._pen(fg))
        p.drawStaticText(QtCore.QPointF(x, y), st)
        if overflow:
            p.setClipping(False)

    def _fonts_of(self, view_font: QtGui.QFont) -> tuple[QtGui.QFont, QtGui.QFont]:
        """(normal, bold) copies of the view's font, made once."""
        if self._fonts is None:
            normal, heavy = QtGui.QFont(view_font), QtGui.QFont(view_font)
            heavy.setBold(True)
            self._fonts = (normal, heavy)
            self._metrics = tuple(_Metrics(f) for f in self._fonts)
        return self._fonts

    def paint_cells(self, p: QtGui.QPainter, cells: list[tuple[int, int, int, int, Cell]],
                    view_font: QtGui.QFont, *, keep_texts: bool = True) -> None:
        """Many cells ``(x, y, width, height, cell)`` as :meth:`paint_cell` paints them, in one call:
        the painter's font and pen are set only when they change (a ladder has a few of each).

        A text seen for the first time is drawn with ``drawText`` (the same pixels as its static
        text, at half the cost of laying one out) and laid out as a :class:`QStaticText` only when
        it comes again: a tape's times are new at every print and would fill the cache for nothing.
        With ``keep_texts`` off no text is kept (cells drawn into an atlas: each is drawn once).
        """
        normal, heavy = self._fonts_of(view_font)
        metrics = self._metrics
        texts, seen, point = self._texts, self._seen, QtCore.QPointF
        pens = self._pens
        draw_static, draw_text, fill = p.drawStaticText, p.drawText, p.fillRect
        cur_font = cur_pen = None
        for left, top, width, height, (text, bg, fg, bold, align) in cells:
            if bg is not None:
                fill(left, top, width, height, bg)
            if not text:
                continue
            key = (text, bold)
            font = heavy if bold else normal
            m = metrics[bold]
            got = texts.get(key)
            st = None
            if got is not None:
                st, w, h = got
            elif keep_texts and key in seen:
                st, w, h = self._static(text, font, bold)
            else:
                if keep_texts:
                    if len(seen) > _CACHE:
                        seen.clear()
                    seen.add(key)
                w, h = m.width(text), m.height
            x = _text_x(align, left, width, w)
            if font is not cur_font:
                p.setFont(font)
                cur_font = font
            pen = pens.get(id(fg))
            color = pen[1] if pen is not None and pen[0] is fg else self._pen(fg)
            if color is not cur_pen:
                p.setPen(color)
                cur_pen = color
            clip = w > width - 2 * _PAD_PX  # overflows: clipped to its cell
            if clip:
                p.setClipRect(left, top, width, height)
            y = top + (height - h) / 2
            if st is not None:
                draw_static(point(x, y), st)
            else:
                draw_text(point(x, y + m.ascent), text)
            if clip:
                p.setClipping(False)


class _Metrics:
    """What placing a text of one font needs: its width (as :class:`QStaticText` measures it), the
    height and ascent of a static text's line."""

    def __init__(self, font: QtGui.QFont) -> None:
        fm = QtGui.QFontMetricsF(font)
        probe = QtGui.QStaticText("0")
        probe.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        probe.prepare(QtGui.QTransform(), font)
        self.height = probe.size().height()
        self.ascent = fm.ascent()
        self.width = fm.horizontalAdvance


class CellAtlas:
    """Finished cells (background and text over the view's background) kept in one opaque image.

    Why: drawing a cell (a fill, a font, a pen and a text) costs ~10 us; copying it from an image
    ~3 us, and a ladder's cells repeat (sizes, prices, changes). A cell is kept the first time it
    is painted, in a slot of its size; when the image is full the slot of the cell of that size
    painted longest ago is taken over. Anything the cells' look depends
    on besides the model's key (font, device pixel ratio, background, theme) is ``env``: a change
    empties the atlas.
    """

    SIZE = 1024  # logical pixels a side (4 MB at a device pixel ratio of 1)

    def __init__(self) -> None:
        self.image: QtGui.QImage | None = None
        self.env: tuple | None = None
        self.slots: dict[tuple, dict[tuple, tuple[int, int]]] = {}  # (w, h) -> key -> slot, oldest first
        self._shelf: dict[tuple[int, int], tuple[int, int]] = {}  # (w, h) -> next free slot on its shelf
        self._top = 0  # y of the next shelf
        self.dpr = 1

    def reset(self, env: tuple, fmt: QtGui.QImage.Format, dpr: int) -> None:
        """Empty, for cells looking as ``env`` says, in an image of ``fmt`` (the window's)."""
        if env != self.env:
            self.env = env
            self.dpr = dpr
            self.image = QtGui.QImage(self.SIZE * dpr, self.SIZE * dpr, fmt)
            self.image.setDevicePixelRatio(dpr)
            self.clear()

    def clear(self) -> None:
        self.slots.clear()
        self._shelf.clear()
        self._top = 0

    def place(self, key: tuple, w: int, h: int, busy: set[tuple[int, int]]) -> tuple[int, int] | None:
        """A slot (logical x, y in the atlas) for a new ``key`` of ``w`` x ``h``, or None (too big, or
        the only slots to take over are ``busy``: still to be copied by the paint under way)."""
        if not 0 < w <= self.SIZE or not 0 < h <= self.SIZE:
            return None
        size = (w, h)
        pool = self.slots.setdefault(size, {})
        shelf = self._shelf.get(size)
        if shelf is not None and shelf[0] + w > self.SIZE:
            shelf = None
        if shelf is None and self._top + h <= self.SIZE:
            shelf = (0, self._top)
            self._top += h
        if shelf is not None:
            x, y = shelf
            self._shelf[size] = (x + w, y)
            slot = (x, y)
        elif pool:
            oldest = next(iter(pool))
            if pool[oldest] in busy:  # hits move to the end: every slot of this size is in use
                return None
            slot = pool.pop(oldest)
        elif not busy:  # full of other sizes
            self.clear()
            return self.place(key, w, h, busy)
        else:
            return None
        pool[key] = slot
        return slot


class CellTableView(QtWidgets.QTableView):
    """A table view that paints every exposed cell of a :class:`CellSource` model in one pass.

    Why: with a Python delegate, Qt calls into Python once per cell, and that call plus the view's
    own per-cell work cost ~10 us a cell before anything is drawn: 4 ms of the ~8 ms a full repaint
    of the 41 x 10 DOM took. Looping over the cells here costs a fraction of that. Selected rows
    (row selection) get the palette's highlight behind their cells; the grid is not drawn (tables
    that show it fall back to Qt's painting), nor the focus frame.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cells = CellDelegate(self)
        self.setItemDelegate(self.cells)
        self.elide_columns: frozenset[int] = frozenset()
        """Columns whose text is cut with an ellipsis when it does not fit (free text such as a rule's
        name); other columns are clipped to their cell."""
        self._elided: dict[tuple[str, bool, int], str] = {}
        self._elided_font: str | None = None
        self.sprites = False
        """Copy cells the model has painted before from a :class:`CellAtlas` (the model must have
        ``row_keys(row)``: per column a hashable key, equal for two cells exactly when they look the
        same, and may have ``look``: what else their look depends on, such as its theme)."""
        self.atlas = CellAtlas()

    def column_px(self, header: str, samples: tuple[str, ...] = (), *, bold: bool = False) -> int:
        """Pixels a column needs to show ``header`` and each of ``samples`` (its widest usual values,
        ``bold`` when the model may bold them) in this view's fonts, padding included."""
        header_px = self.horizontalHeader().fontMetrics().horizontalAdvance(header) + HEADER_PAD_PX
        font = QtGui.QFont(self.font())
        font.setBold(bold)
        fm = QtGui.QFontMetrics(font)
        return max([header_px] + [fm.horizontalAdvance(s) + CELL_PAD_PX for s in samples])

    def _elide(self, cell: Cell, width: int, font: QtGui.QFont) -> Cell:
        """``cell`` with its text cut to ``width`` (an ellipsis at the end) when it is wider."""
        text, bold = cell[0], cell[3]
        if font.key() != self._elided_font or len(self._elided) > _CACHE:
            self._elided.clear()
            self._elided_font = font.key()
        key = (text, bold, width)
        got = self._elided.get(key)
        if got is None:
            f = QtGui.QFont(font)
            f.setBold(bold)
            got = self._elided[key] = QtGui.QFontMetrics(f).elidedText(
                text, QtCore.Qt.TextElideMode.ElideRight, max(0, width - 2 * _PAD_PX))
        return cell if got == text else (got, *cell[1:])  # type: ignore[return-value]

    def dataChanged(self, top_left: QtCore.QModelIndex, bottom_right: QtCore.QModelIndex,  # noqa: N802 - Qt API
                    roles: list[int] | None = None) -> None:
        """Repaint the cells the model says changed, not the block that spans them (no editors here)."""
        model = self.model()
        dirty = getattr(model, "dirty_cells", None)
        if dirty is None or not self.isVisible():
            super().dataChanged(top_left, bottom_right, roles or [])
            return
        shift = getattr(model, "shift_rows", 0)
        if shift:  # the rows moved: their pixels move as much, the cells unlike what moved onto them repaint
            n = model.rowCount()
            h, top = self.rowHeight(0), self.rowViewportPosition(0)
            if n > 1 and self.rowViewportPosition(n - 1) - top == (n - 1) * h:
                vp = self.viewport()  # the rows' pixels only: not the background below the last row
                vp.scroll(0, shift * h, QtCore.QRect(0, top, vp.width(), n * h) & vp.rect())
            else:
                self.viewport().update()
                return
        update = self.viewport().update
        for rect in self.cells_rects(dirty):  # one by one: uniting them in a QRegion here cost more
            update(rect)

    def cells_region(self, cells: list[tuple[int, int]]) -> QtGui.QRegion:
        """Viewport pixels of ``(row, col)`` cells (row-major), one rectangle per run of adjacent cells."""
        region = QtGui.QRegion()
        for rect in self.cells_rects(cells):
            region += rect
        return region

    def cells_rects(self, cells: list[tuple[int, int]]) -> list[QtCore.QRect]:
        """The rectangles of :meth:`cells_region`."""
        runs: list[tuple[int, int, int]] = []  # (row, first col, last col)
        for r, c in cells:
            if runs and runs[-1][0] == r and runs[-1][2] == c - 1:
                runs[-1] = (r, runs[-1][1], c)
            else:
                runs.append((r, c, c))
        cols = {c for _, c0, c1 in runs for c in (c0, c1)}
        xs = {c: (self.columnViewportPosition(c), self.columnWidth(c)) for c in cols}
        ys = {r: (self.rowViewportPosition(r), self.rowHeight(r)) for r in {r for r, _, _ in runs}}
        rect = QtCore.QRect
        return [rect(xs[c0][0], ys[r][0], xs[c1][0] + xs[c1][1] - xs[c0][0], ys[r][1]) for r, c0, c1 in runs]

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt API
        model = self.model()
        if model is None or not hasattr(model, "cell") or self.showGrid():
            super().paintEvent(event)
            return
        rows, cols = model.rowCount(), model.columnCount()
        if not rows or not cols:
            return
        area = event.rect()
        # columns left to right as (x, width, column); the cells under each rectangle of the region
        # (several when only changed cells are dirty), each painted once: a cell's text drawn twice
        # over its background would come out bolder
        geo = sorted((self.columnViewportPosition(c), self.columnWidth(c), c)
                     for c in range(cols) if not self.isColumnHidden(c))
        lefts = [x for x, _, _ in geo]
        spans: dict[int, set[int]] = {}
        row_at = self.rowAt
        for part in event.region():
            r0, r1 = row_at(part.top()), row_at(part.bottom())
            r0, r1 = max(0, r0), (rows - 1 if r1 < 0 else r1)
            k0 = max(0, bisect_right(lefts, part.left()) - 1)
            k1 = bisect_right(lefts, part.right()) - 1
            if k1 < k0:
                continue
            ks = range(k0, k1 + 1)
            for r in range(r0, r1 + 1):
                got = spans.get(r)
                if got is None:
                    spans[r] = set(ks)
                else:
                    got.update(ks)
        font = self.font()
        cell, elide = model.cell, self.elide_columns
        row_cells = getattr(model, "row_cells", None)
        todo: list[tuple[int, int, int, int, Cell]] = []
        sel = self.selectionModel()
        rows_selectable = sel is not None and sel.hasSelection() and \
            self.selectionBehavior() is QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows
        highlight = self.palette().brush(QtGui.QPalette.ColorRole.Highlight)
        root = QtCore.QModelIndex()
        atlas = self._atlas_for(model, font) if self.sprites else None
        row_keys = model.row_keys if atlas is not None else None
        slots = atlas.slots if atlas is not None else {}
        blits: list[tuple[int, int, int, int, tuple[int, int]]] = []  # cells copied from the atlas
        make: list[tuple[int, int, int, int, Cell, tuple]] = []  # cells to draw into it first
        busy: set[tuple[int, int]] = set()
        p = QtGui.QPainter(self.viewport())
        try:
            for r in sorted(spans):
                if self.isRowHidden(r):
                    continue
                y, h = self.rowViewportPosition(r), self.rowHeight(r)
                keys = row_keys(r) if row_keys is not None else None
                if rows_selectable and sel.isRowSelected(r, root):
                    p.fillRect(QtCore.QRect(area.left(), y, area.width(), h), highlight)
                    keys = None
                line = row_cells(r) if row_cells is not None and keys is None else None
                for k in sorted(spans[r]):
                    x, w, c = geo[k]
                    if keys is not None:  # (an elided text is a function of the text and the pool's width)
                        key = (c, keys[c])
                        pool = slots.get((w, h))
                        slot = pool.get(key) if pool is not None else None
                        if slot is not None:  # painted before: a copy (a blank cell is never kept)
                            pool[key] = pool.pop(key)  # painted last: taken over last
                            blits.append((x, y, w, h, slot))
                            busy.add(slot)
                            continue
                    else:
                        key = None
                    cl = line[c] if line is not None else cell(r, c)
                    if cl[0] and c in elide:
                        cl = self._elide(cl, w, font)
                    if not cl[0] and cl[1] is None:  # a blank cell is the view's background
                        continue
                    if key is not None:
                        make.append((x, y, w, h, cl, key))
                    else:
                        todo.append((x, y, w, h, cl))
            if make:
                self._draw_into_atlas(atlas, make, blits, busy, todo, font)
            self.cells.paint_cells(p, todo, font)
            if blits:
                image, dpr, draw = atlas.image, atlas.dpr, p.drawImage
                # the all-int overload: making a QPoint and a QRect per cell cost more than the copy
                if dpr == 1:
                    for x, y, w, h, (sx, sy) in blits:
                        draw(x, y, image, sx, sy, w, h)
                else:  # the source in the image's (device) pixels
                    for x, y, w, h, (sx, sy) in blits:
                        draw(x, y, image, sx * dpr, sy * dpr, w * dpr, h * dpr)
        finally:
            p.end()

    def _atlas_for(self, model, font: QtGui.QFont) -> CellAtlas | None:
        """The atlas, emptied if the cells' look changed; None when cells are not copied (the model
        has no keys, or the device pixel ratio is fractional: a copy would not match a drawn cell)."""
        if not hasattr(model, "row_keys"):
            return None
        vp = self.viewport()
        dpr = vp.devicePixelRatioF()
        if dpr != int(dpr):
            return None
        store = self.window().backingStore()
        device = store.paintDevice() if store is not None else None
        fmt = device.format() if isinstance(device, QtGui.QImage) else QtGui.QImage.Format.Format_Invalid
        if fmt == QtGui.QImage.Format.Format_Invalid:  # no backing store yet (a grab before the first show)
            fmt = QtGui.QImage.Format.Format_RGB32
        backdrop = vp.palette().color(vp.backgroundRole())
        self.atlas.reset((font.key(), int(dpr), backdrop.rgba(), fmt, getattr(model, "look", None)), fmt, int(dpr))
        self._backdrop = backdrop
        return self.atlas

    def _draw_into_atlas(self, atlas: CellAtlas, make: list, blits: list, busy: set, todo: list,
                         font: QtGui.QFont) -> None:
        """Draw the ``make`` cells into slots of the atlas (over the view's background) and add their
        copies to ``blits``; cells without a slot go to ``todo`` (drawn in place)."""
        cells = []
        ap = QtGui.QPainter()
        if not ap.begin(atlas.image):  # no image to draw into: drawn in place
            todo.extend(c[:5] for c in make)
            return
        try:
            for x, y, w, h, cl, key in make:
                slot = atlas.place(key, w, h, busy)
                if slot is None:
                    todo.append((x, y, w, h, cl))
                    continue
                busy.add(slot)
                ap.fillRect(slot[0], slot[1], w, h, self._backdrop)
                cells.append((slot[0], slot[1], w, h, cl))
                blits.append((x, y, w, h, slot))
            self.cells.paint_cells(ap, cells, font, keep_texts=False)
        finally:
            ap.end()


def _text_x(align: int, left: float, width: float, text_width: float) -> float:
    """Left edge of a text of ``text_width`` in a cell, by its horizontal alignment."""
    if align & _RIGHT:
        return left + width - 1 - _PAD_PX - text_width
    if align & _HCENTER:
        return left + (width - text_width) / 2
    return left + _PAD_PX
