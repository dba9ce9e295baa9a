"""A read-only table model with fixed, named columns: the part the tape and signal log share."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtCore


class FixedColumnsModel(QtCore.QAbstractTableModel):
    """Subclasses set ``columns`` and implement ``row_count()`` and ``data()``."""

    columns: Sequence[str] = ()

    def row_count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return self.row_count()

    def columnCount(self, parent: QtCore.QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return len(self.columns)

    def headerData(self, section: int, orientation, role: int = QtCore.Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == QtCore.Qt.ItemDataRole.DisplayRole and orientation == QtCore.Qt.Orientation.Horizontal:
            return self.columns[section]
        return None
