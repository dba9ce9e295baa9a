"""Signal log: every rule that fired, newest on top; a click jumps the footprint to its bar."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.signals.model import Action, Signal
from tapeflow.ui.cell_delegate import CellTableView
from tapeflow.ui.table_model import FixedColumnsModel
from tapeflow.ui.text import et_time, widest_price_text
from tapeflow.ui.theme import Theme

COLUMNS = ("Time ET", "Rule", "Kind", "Side", "Price", "Strength", "Action")
TIME, RULE, KIND, SIDE, PRICE, STRENGTH, ACTION = range(len(COLUMNS))
PRIORITY = (TIME, RULE, SIDE, PRICE, KIND, ACTION, STRENGTH)
"""Which columns a narrow pane keeps: the first ones that fit (the row's tooltip tells the rest)."""
TEXT_COLUMNS = (RULE, KIND)  # free text: as wide as fits, cut with an ellipsis
TEXT_SAMPLES = {  # (least readable, widest usual): rule names are the user's, kinds the detectors'
    RULE: ("bar volume 2000", "diagonal imbalance 3x"),
    KIND: ("stacked_imbalance", "volume_node_breakout"),
}
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
        self._fmt: dict[int, tuple] = {}  # id(signal) -> (signal, texts, brush, keys)
        self._fmt_key: tuple | None = None
        self._row_cells: dict[int, tuple] = {}  # row -> its cells (row_cells), until the signals change
        self._brushes: dict[str, QtGui.QBrush] = {}  # colour name -> brush, for the theme

    def set_signals(self, signals: tuple[Signal, ...]) -> None:
        self.beginResetModel()
        self.signals = tuple(reversed(signals))
        self._row_cells.clear()
        self.endResetModel()

    def row_count(self) -> int:
        return len(self.signals)

    def row_values(self, row: int) -> tuple[str, ...]:
        s = self.signals[row]
        side = "BUY" if s.side == Side.BUY else "SELL" if s.side == Side.SELL else "-"
        return (et_time(s.ts_ns), s.rule, s.kind, side, self.instrument.format_price(s.price),
                f"{s.strength:.2f}", str(s.action))

    def _fresh(self) -> None:
        """Drop what was formatted for another theme or instrument (or too much of it)."""
        key = (self.theme, self.instrument)
        if key != self._fmt_key or len(self._fmt) > _FORMAT_CACHE:
            self._fmt.clear()
            self._row_cells.clear()
            self._brushes.clear()
            self._fmt_key = key

    def _formatted(self, row: int) -> tuple[Signal, tuple[str, ...], QtGui.QBrush, tuple]:
        """A signal, its texts, colour and cell keys (:meth:`row_keys`), made once per signal: new
        signals re-list the whole log (newest on top), and formatting every visible row again at
        each one cost ~4 ms a frame."""
        self._fresh()
        s = self.signals[row]
        got = self._fmt.get(id(s))
        if got is None or got[0] is not s:
            name = "ask" if s.side == Side.BUY else "bid" if s.side == Side.SELL else "text"
            texts = self.row_values(row)
            brush = self._brushes.get(name)
            if brush is None:
                brush = self._brushes[name] = QtGui.QBrush(self.theme.color(name))
            got = self._fmt[id(s)] = (s, texts, brush, tuple((t, name) for t in texts))
        return got

    def row_keys(self, row: int) -> tuple:
        """Per column what its cell looks like (text, colour name), for the view's atlas of cells."""
        return self._formatted(row)[3]

    @property
    def look(self) -> Theme:
        """What the cells' look depends on besides :meth:`row_keys`."""
        return self.theme

    def cell(self, row: int, col: int) -> tuple:
        """What :class:`~tapeflow.ui.cell_delegate.CellDelegate` paints: text, background, foreground, bold, align."""
        _, texts, fg, _ = self._formatted(row)
        return texts[col], None, fg, False, _LEFT

    def row_cells(self, row: int) -> tuple:
        """Every :meth:`cell` of ``row``, made once until the signals change (not once per cell)."""
        self._fresh()
        got = self._row_cells.get(row)
        if got is None:
            _, texts, fg, _ = self._formatted(row)
            got = self._row_cells[row] = tuple((t, None, fg, False, _LEFT) for t in texts)
        return got

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self.row_values(index.row())[index.column()]
        if role == QtCore.Qt.ItemDataRole.ForegroundRole:
            s = self.signals[index.row()]
            name = "ask" if s.side == Side.BUY else "bid" if s.side == Side.SELL else "text"
            return QtGui.QBrush(self.theme.color(name))
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:  # every column: a narrow pane hides some
            s = self.signals[index.row()]
            time, rule, kind, side, price, strength, action = self.row_values(index.row())
            head = f"{time} {rule} ({kind}): {side} {price}, strength {strength}, {action}"
            inputs = ", ".join(f"{k}={v}" for k, v in s.inputs.items())
            return f"{head}\n{inputs}" if inputs else head
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
        self.table.sprites = True  # the log's cells repeat (rules, kinds, sides, prices): copied once painted
        self.table.setModel(self.model)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(18)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.elide_columns = frozenset(TEXT_COLUMNS)
        self.table.horizontalHeader().setMinimumSectionSize(16)
        self.table.clicked.connect(self._clicked)
        self.table.viewport().installEventFilter(self)
        self.fit_columns()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    # ---------------------------------------------------------------- geometry

    def column_px(self, col: int) -> tuple[int, int]:
        """(least, wanted) pixels of column ``col`` in the view's fonts: a fixed column needs its
        header and widest usual value; a text column can be cut down to a short rule name."""
        t = self.table
        if col in TEXT_SAMPLES:
            least, widest = TEXT_SAMPLES[col]
            return t.column_px(COLUMNS[col], (least,)), t.column_px(COLUMNS[col], (widest,))
        inst = self.model.instrument
        samples = {TIME: ("00:00:00",), SIDE: ("SELL", "BUY"), STRENGTH: ("99.99",),
                   PRICE: (widest_price_text(inst),),
                   ACTION: tuple(str(a) for a in Action)}[col]
        px = t.column_px(COLUMNS[col], samples)
        return px, px

    def fit_columns(self) -> None:
        """Show the columns that fit the table's width, most useful first (:data:`PRIORITY`): each
        at its least width, then the text columns grow towards their wanted width and the rule's
        name takes what is left. Nothing scrolls sideways; hidden columns are in the tooltip."""
        t = self.table
        avail = t.viewport().width()
        px = {c: self.column_px(c) for c in range(len(COLUMNS))}
        shown: list[int] = []
        used = 0
        for c in PRIORITY:
            if len(shown) >= 2 and used + px[c][0] > avail:  # the time and the rule always show
                break
            shown.append(c)
            used += px[c][0]
        widths = {c: px[c][0] for c in shown}
        left = max(0, avail - used)
        for c in TEXT_COLUMNS:
            if c in widths:
                grow = min(left, px[c][1] - px[c][0])
                widths[c] += grow
                left -= grow
        widths[RULE] += left
        for c in range(len(COLUMNS)):
            t.setColumnHidden(c, c not in widths)
            if c in widths:
                t.setColumnWidth(c, widths[c])

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.table.viewport() and event.type() == QtCore.QEvent.Type.Resize:
            self.fit_columns()
        return False

    def _clicked(self, index: QtCore.QModelIndex) -> None:
        if index.isValid():
            self.jump_to_bar.emit(int(self.model.signals[index.row()].bar_start_ns))

    def apply_theme(self, theme: Theme) -> None:
        self.model.theme = theme
        self._key = None
        self.fit_columns()

    def set_engine_note(self, note: str) -> None:
        """Why this instrument has no rule engine (empty: it has one)."""
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def set_instrument(self, instrument: Instrument) -> None:
        self.model.instrument = instrument
        self._key = None  # the next frame is another instrument's log
        self.fit_columns()

    def update_from(self, snap: PipelineSnapshot) -> bool:
        sig = snap.signals
        key = (len(sig), sig[-1].ts_ns if sig else 0)
        if key == self._key:
            return False
        self._key = key
        self.model.set_signals(sig)
        return True
