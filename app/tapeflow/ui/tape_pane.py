"""Time and sales: the last trades, newest on top, coloured by aggressor, large lots highlighted.

The model keeps a reference to the snapshot's tape array (already a copy) and filters it with
numpy once per update; new prints are inserted at the top (the rows already shown stay as they
are), and a row is formatted once, when Qt first asks for it, then answered from a small cache.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.ui.cell_delegate import CellTableView
from tapeflow.ui.table_model import FixedColumnsModel
from tapeflow.ui.text import et_time, widest_price_text
from tapeflow.ui.theme import Theme

MAX_ROWS = 500
_FORMAT_CACHE = 4 * MAX_ROWS
COLUMNS = ("Time ET", "Price", "Size", "Side")
_LEFT = int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter)
_RIGHT = int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
_ALIGN = (_LEFT, _RIGHT, _RIGHT, _LEFT)  # per column: price and size to the right
_ROLES = frozenset(int(r) for r in (QtCore.Qt.ItemDataRole.DisplayRole, QtCore.Qt.ItemDataRole.ForegroundRole,
                                    QtCore.Qt.ItemDataRole.BackgroundRole, QtCore.Qt.ItemDataRole.FontRole))


def _side_text(side: int) -> str:
    return "BUY" if side == Side.BUY else "SELL" if side == Side.SELL else ""


class TapeModel(FixedColumnsModel):
    """Rows newest first; ``min_size`` hides small prints; ``large_lot`` marks big ones."""

    columns = COLUMNS

    def __init__(self, instrument: Instrument, theme: Theme) -> None:
        super().__init__()
        self.instrument = instrument
        self.theme = theme
        self.min_size = 1
        self.large_lot = 20
        self.rows = np.zeros(0, dtype=[("ts_event", "<i8"), ("price", "<i8"), ("size", "<i4"), ("side", "i1")])
        self._fmt: dict[tuple, tuple] = {}  # print -> (texts, foreground, background, bold)
        self._fmt_key: tuple | None = None
        self._bold = QtGui.QFont()
        self._bold.setBold(True)
        self._row_cells: dict[int, tuple] = {}  # row -> its cells (row_cells), until the rows change
        self._brushes: dict[tuple[int, bool], tuple[QtGui.QBrush, QtGui.QBrush | None]] = {}
        self._prices: dict[int, str] = {}  # price -> text, for the instrument in _fmt_key
        self._fields: tuple[int, int, int, int] = (0, 1, 2, 3)  # of ts_event, price, size, side in a row
        self._fields_dtype: np.dtype | None = None

    def set_tape(self, tape: np.ndarray) -> None:
        """Newest first; when the new tape continues the old one only the new prints are inserted."""
        keep = tape[tape["size"] >= self.min_size] if self.min_size > 1 else tape
        keep = keep[::-1][:MAX_ROWS]
        k = self._new_rows(keep)
        if k == 0 or (not len(keep) and not len(self.rows)):
            return
        self._row_cells.clear()
        n_old = len(self.rows)
        if len(keep) == n_old:
            # full (MAX_ROWS): new prints push the oldest out (at max speed all of them); the row
            # count stays and the rows' content changes, announced as such: inserting and removing
            # rows (as this did) left the view's row count out of step with the model's and the view
            # did not repaint, and a reset made it lay out the 500 rows again
            self.rows = keep
            self.dataChanged.emit(self.index(0, 0), self.index(n_old - 1, len(self.columns) - 1))
        elif k is not None and len(keep) == n_old + k:
            self.beginInsertRows(QtCore.QModelIndex(), 0, k - 1)
            self.rows = keep
            self.endInsertRows()
        else:  # not a continuation of the rows shown (a jump, a new filter)
            self.beginResetModel()
            self.rows = keep
            self.endResetModel()

    def _new_rows(self, keep: np.ndarray) -> int | None:
        """How many prints at the top of ``keep`` are new, or None when it does not continue the rows shown."""
        old = self.rows
        if not len(old) or not len(keep) or keep.dtype != old.dtype:
            return None
        fields = ("ts_event", "price", "size", "side")
        first = tuple(old[0][f] for f in fields)
        ts = keep["ts_event"]
        hits = np.flatnonzero(ts[: len(keep)] == first[0])
        for k in hits.tolist():
            if tuple(keep[k][f] for f in fields) == first:
                n = min(len(old), len(keep) - k)
                if np.array_equal(keep[k : k + n], old[:n]):
                    return k
        return None

    def _fresh(self) -> None:
        """Drop what was formatted for another theme, large lot or instrument (or too much of it)."""
        key_now = (self.theme, self.large_lot, self.instrument)
        if key_now != self._fmt_key or len(self._fmt) > _FORMAT_CACHE:
            self._fmt.clear()
            self._brushes.clear()
            self._row_cells.clear()
            if self._fmt_key is None or key_now[2] is not self._fmt_key[2]:
                self._prices.clear()
            self._fmt_key = key_now

    def _formatted(self, row: int) -> tuple:
        self._fresh()
        rows = self.rows
        if rows.dtype is not self._fields_dtype:
            names = rows.dtype.names
            self._fields = tuple(names.index(f) for f in ("ts_event", "price", "size", "side"))
            self._fields_dtype = rows.dtype
        item = rows[row].item()  # one tuple of plain ints: field by field from numpy cost ~4 us
        t_i, p_i, s_i, d_i = self._fields
        ts, price, size, side = key = (item[t_i], item[p_i], item[s_i], item[d_i])
        got = self._fmt.get(key)
        if got is None:
            big = size >= self.large_lot
            price_text = self._prices.get(price)
            if price_text is None:
                if len(self._prices) > _FORMAT_CACHE:
                    self._prices.clear()
                price_text = self._prices[price] = self.instrument.format_price(price)
            texts = (et_time(ts, millis=True), price_text, str(size), _side_text(side))
            fg, bg = self._colours(side, big)
            got = self._fmt[key] = (texts, fg, bg, big)
        return got

    def _colours(self, side: int, big: bool) -> tuple[QtGui.QBrush, QtGui.QBrush | None]:
        """Foreground and background brushes of a print, made once per kind (and theme)."""
        got = self._brushes.get((side, big))
        if got is None:
            name = "ask" if side == Side.BUY else "bid" if side == Side.SELL else "neutral"
            fg = QtGui.QBrush(self.theme.color(name + ("_strong" if big else "")))
            bg = QtGui.QBrush(self.theme.color("ask" if side == Side.BUY else "bid", 70)) if big else None
            got = self._brushes[(side, big)] = (fg, bg)
        return got

    def row_count(self) -> int:
        return len(self.rows)

    def row_values(self, row: int) -> tuple[str, str, int, str]:
        r = self.rows[row]
        return (
            et_time(int(r["ts_event"]), millis=True),
            self.instrument.format_price(int(r["price"])),
            int(r["size"]),
            _side_text(int(r["side"])),
        )

    def cell(self, row: int, col: int) -> tuple:
        """What :class:`~tapeflow.ui.cell_delegate.CellDelegate` paints: text, background, foreground, bold, align."""
        texts, fg, bg, big = self._formatted(row)
        return texts[col], bg, fg, big, _ALIGN[col]

    def row_cells(self, row: int) -> tuple:
        """Every :meth:`cell` of ``row``, made once until the rows change (not once per cell)."""
        self._fresh()
        got = self._row_cells.get(row)
        if got is None:
            texts, fg, bg, big = self._formatted(row)
            got = self._row_cells[row] = tuple((t, bg, fg, big, a) for t, a in zip(texts, _ALIGN, strict=True))
        return got

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        role_ = QtCore.Qt.ItemDataRole
        if role == role_.TextAlignmentRole:
            return _RIGHT if index.column() in (1, 2) else None
        if role not in _ROLES:
            return None
        texts, fg, bg, big = self._formatted(index.row())
        if role == role_.DisplayRole:
            return texts[index.column()]
        if role == role_.ForegroundRole:
            return fg
        if role == role_.BackgroundRole:
            return bg
        if role == role_.FontRole and big:
            return self._bold
        return None


class TapePane(QtWidgets.QWidget):
    """Time and sales dock content."""

    def __init__(self, instrument: Instrument, theme: Theme, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tape")
        self.model = TapeModel(instrument, theme)
        self._key: tuple | None = None
        self.min_box = QtWidgets.QSpinBox()
        self.min_box.setRange(1, 1000)
        self.min_box.setPrefix("min ")
        self.large_box = QtWidgets.QSpinBox()
        self.large_box.setRange(2, 5000)
        self.large_box.setPrefix("large ")
        self.large_box.setValue(self.model.large_lot)
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(self.min_box)
        top.addWidget(self.large_box)
        top.addStretch(1)
        self.table = CellTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(17)
        self.table.setShowGrid(False)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.size_columns()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.min_box.valueChanged.connect(self._filters_changed)
        self.large_box.valueChanged.connect(self._filters_changed)
        self._tape = np.zeros(0)

    def column_samples(self) -> tuple[tuple[str, ...], ...]:
        """The widest text each column usually shows: a price with five digits before the point,
        a print of 9999 lots."""
        return ("00:00:00.000",), (widest_price_text(self.model.instrument),), ("9999",), ("SELL", "BUY")

    def size_columns(self) -> None:
        """Each column as wide as its header and usual values need in the view's fonts (bold: large
        lots are bold); Side, the last, takes what is left, so there is no horizontal scroll bar."""
        t, header = self.table, self.table.horizontalHeader()
        widths = [t.column_px(h, samples, bold=True) for h, samples in zip(COLUMNS, self.column_samples(), strict=True)]
        header.setStretchLastSection(False)  # a stretched section keeps its width from before as its least
        header.setMinimumSectionSize(min(widths))
        for c, w in enumerate(widths):
            t.setColumnWidth(c, w)
        header.setStretchLastSection(True)

    def _filters_changed(self) -> None:
        self.model.min_size = self.min_box.value()
        self.model.large_lot = self.large_box.value()
        self._key = None
        if len(self._tape):
            self.model.set_tape(self._tape)

    def apply_theme(self, theme: Theme) -> None:
        self.model.theme = theme
        self._key = None
        self.size_columns()

    def set_instrument(self, instrument: Instrument) -> None:
        self.model.instrument = instrument
        self._key = None  # the next frame is another instrument's tape
        self.size_columns()

    def update_from(self, snap: PipelineSnapshot) -> bool:
        tape = snap.flow.tape
        key = (len(tape), int(tape["ts_event"][-1]) if len(tape) else 0, snap.flow.events_seen)
        if key == self._key:
            return False
        self._key = key
        self._tape = tape
        self.model.set_tape(tape)
        return True

    def settings(self) -> dict:
        return {"min_size": self.min_box.value(), "large_lot": self.large_box.value()}

    def restore(self, s: dict) -> None:
        self.min_box.setValue(int(s.get("min_size", 1)))
        self.large_box.setValue(int(s.get("large_lot", 20)))
