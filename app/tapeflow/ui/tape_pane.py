"""Time and sales: the last trades, newest on top, coloured by aggressor, large lots highlighted.

The model keeps a reference to the snapshot's tape array (already a copy) and filters it with
numpy once per frame; rows are formatted only when Qt asks for the visible ones.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.ui.text import et_time
from tapeflow.ui.theme import Theme

MAX_ROWS = 500
COLUMNS = ("Time ET", "Price", "Size", "Side")


class TapeModel(QtCore.QAbstractTableModel):
    """Rows newest first; ``min_size`` hides small prints; ``large_lot`` marks big ones."""

    def __init__(self, instrument: Instrument, theme: Theme) -> None:
        super().__init__()
        self.instrument = instrument
        self.theme = theme
        self.min_size = 1
        self.large_lot = 20
        self.rows = np.zeros(0, dtype=[("ts_event", "<i8"), ("price", "<i8"), ("size", "<i4"), ("side", "i1")])

    def set_tape(self, tape: np.ndarray) -> None:
        keep = tape[tape["size"] >= self.min_size] if self.min_size > 1 else tape
        keep = keep[::-1][:MAX_ROWS]
        self.beginResetModel()
        self.rows = keep
        self.endResetModel()

    def rowCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return len(self.rows)

    def columnCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = QtCore.Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == QtCore.Qt.ItemDataRole.DisplayRole and orientation == QtCore.Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def row_values(self, row: int) -> tuple[str, str, int, str]:
        r = self.rows[row]
        side = int(r["side"])
        return (
            et_time(int(r["ts_event"]), millis=True),
            self.instrument.format_price(int(r["price"])),
            int(r["size"]),
            "BUY" if side == Side.BUY else "SELL" if side == Side.SELL else "",
        )

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        role_ = QtCore.Qt.ItemDataRole
        r = self.rows[index.row()]
        big = int(r["size"]) >= self.large_lot
        side = int(r["side"])
        if role == role_.DisplayRole:
            return str(self.row_values(index.row())[index.column()])
        if role == role_.ForegroundRole:
            name = "ask" if side == Side.BUY else "bid" if side == Side.SELL else "neutral"
            return QtGui.QBrush(self.theme.color(name + ("_strong" if big else "")))
        if role == role_.BackgroundRole and big:
            return QtGui.QBrush(self.theme.color("ask" if side == Side.BUY else "bid", 70))
        if role == role_.FontRole and big:
            f = QtGui.QFont()
            f.setBold(True)
            return f
        if role == role_.TextAlignmentRole and index.column() in (1, 2):
            return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
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
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(17)
        self.table.setShowGrid(False)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        for c, w in enumerate((96, 70, 46)):
            self.table.setColumnWidth(c, w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.min_box.valueChanged.connect(self._filters_changed)
        self.large_box.valueChanged.connect(self._filters_changed)
        self._tape = np.zeros(0)

    def _filters_changed(self) -> None:
        self.model.min_size = self.min_box.value()
        self.model.large_lot = self.large_box.value()
        self._key = None
        if len(self._tape):
            self.model.set_tape(self._tape)

    def apply_theme(self, theme: Theme) -> None:
        self.model.theme = theme
        self._key = None

    def set_instrument(self, instrument: Instrument) -> None:
        self.model.instrument = instrument

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
