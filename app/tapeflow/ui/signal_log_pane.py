"""Signal log: every rule that fired, newest on top; a click jumps the footprint to its bar."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.signals.model import Signal
from tapeflow.ui.cell_delegate import CellTableView
from tapeflow.ui.table_model import FixedColumnsModel
from tapeflow.ui.text import et_time
from tapeflow.ui.theme import Theme

COLUMNS = ("Time ET", "Rule", "Kind", "Side", "Price", "Strength", "Action")
_LEFT = int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter)
_FORMAT_CACHE = 4096


class SignalModel(FixedColumnsModel):
    """Signals newest first, one row each."""

    columns = COLUMNS

    def __init__(self, instrument: Instrument, theme: Theme) -> None:
        super().__init__()
        self.instrument = instrument
        self.theme = theme
        self.signals: tuple[Signal, ...] = ()  # newest first
        self._fmt: dict[int, tuple[Signal, tuple[str, ...], QtGui.QBrush]] = {}  # id(signal) -> texts, colour
        self._fmt_key: tuple | None = None

    def set_signals(self, signals: tuple[Signal, ...]) -> None:
        self.beginResetModel()
        self.signals = tuple(reversed(signals))
        self.endResetModel()

    def row_count(self) -> int:
        return len(self.signals)

    def row_values(self, row: int) -> tuple[str, ...]:
        s = self.signals[row]
        side = "BUY" if s.side == Side.BUY else "SELL" if s.side == Side.SELL else "-"
        return (et_time(s.ts_ns), s.rule, s.kind, side, self.instrument.format_price(s.price),
                f"{s.strength:.2f}", str(s.action))

    def _formatted(self, row: int) -> tuple[tuple[str, ...], QtGui.QBrush]:
        """A signal's texts and colour, made once per signal: new signals re-list the whole log
        (newest on top), and formatting every visible row again at each one cost ~4 ms a frame."""
        key = (self.theme, self.instrument)
        if key != self._fmt_key or len(self._fmt) > _FORMAT_CACHE:
            self._fmt.clear()
            self._fmt_key = key
        s = self.signals[row]
        got = self._fmt.get(id(s))
        if got is None or got[0] is not s:
            name = "ask" if s.side == Side.BUY else "bid" if s.side == Side.SELL else "text"
            got = self._fmt[id(s)] = (s, self.row_values(row), QtGui.QBrush(self.theme.color(name)))
        return got[1], got[2]

    def cell(self, row: int, col: int) -> tuple:
        """What :class:`~tapeflow.ui.cell_delegate.CellDelegate` paints: text, background, foreground, bold, align."""
        texts, fg = self._formatted(row)
        return texts[col], None, fg, False, _LEFT

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self.row_values(index.row())[index.column()]
        if role == QtCore.Qt.ItemDataRole.ForegroundRole:
            s = self.signals[index.row()]
            name = "ask" if s.side == Side.BUY else "bid" if s.side == Side.SELL else "text"
            return QtGui.QBrush(self.theme.color(name))
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            s = self.signals[index.row()]
            return ", ".join(f"{k}={v}" for k, v in s.inputs.items()) or None
        return None


class SignalLogPane(QtWidgets.QWidget):
    """Signal log dock content; emits ``jump_to_bar(bar_start_ns)`` on a click."""

    jump_to_bar = QtCore.Signal(object)  # bar_start_ns: int64 does not fit a Qt int

    def __init__(self, instrument: Instrument, theme: Theme, *, engine_note: str = "",
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signals")
        self.model = SignalModel(instrument, theme)
        self._key: tuple | None = None
        self.note = QtWidgets.QLabel(engine_note)
        self.note.setWordWrap(True)
        self.note.setVisible(bool(engine_note))
        self.table = CellTableView()
        self.table.setModel(self.model)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(18)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.clicked.connect(self._clicked)
        for c, w in enumerate((64, 130, 130, 40, 66, 56)):
            self.table.setColumnWidth(c, w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    def _clicked(self, index: QtCore.QModelIndex) -> None:
        if index.isValid():
            self.jump_to_bar.emit(int(self.model.signals[index.row()].bar_start_ns))

    def apply_theme(self, theme: Theme) -> None:
        self.model.theme = theme
        self._key = None

    def set_instrument(self, instrument: Instrument) -> None:
        self.model.instrument = instrument

    def update_from(self, snap: PipelineSnapshot) -> bool:
        sig = snap.signals
        key = (len(sig), sig[-1].ts_ns if sig else 0)
        if key == self._key:
            return False
        self._key = key
        self.model.set_signals(sig)
        return True
