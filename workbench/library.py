"""Table models for the bundled speech list and for batch-report rows (plain data, testable without widgets)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt


class RowsModel(QAbstractTableModel):
    """A read-only table of dict rows with chosen columns; numbers sort as numbers."""

    def __init__(self, columns: list[tuple[str, str]] | None = None, rows: list[dict] | None = None):
        super().__init__()
        self.columns = columns or []  # (key, header)
        self.rows = rows or []

    def set_rows(self, rows: list[dict], columns: list[tuple[str, str]]) -> None:
        """Replace the table's content."""
        self.beginResetModel()
        self.rows, self.columns = rows, columns
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        """Number of rows."""
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        """Number of columns."""
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        """Text for display, the raw value for sorting (UserRole), a tooltip with the full text."""
        value = self.rows[index.row()].get(self.columns[index.column()][0])
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(value, float):
                return f"{value:.3f}"
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.UserRole:
            if isinstance(value, (int, float)):
                return float(value)
            return str(value) if value is not None else ""
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str) and len(value) > 40:
            return value
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        """Column headers."""
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section][1]
        return None


LIBRARY_COLUMNS = [("id", "id"), ("lang", "lang"), ("speaker", "speaker"), ("duration", "s"), ("text", "text")]


def library_rows(manifest_path=None) -> list[dict]:
    """Rows of the bundled speech set (or another manifest): id, lang, speaker, duration, text, utterance."""
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    utterances = load_manifest(manifest_path or default_manifest())
    return [
        {"id": u.id, "lang": u.lang, "speaker": u.speaker, "duration": u.duration, "text": u.text, "utterance": u}
        for u in utterances
    ]
