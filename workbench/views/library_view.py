"""The clip browser: the bundled speech set (filter by language or text) and recent files."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from codec.errors import UserError
from workbench.library import LIBRARY_COLUMNS, RowsModel
from workbench.views.tables import sortable_table


ALL_LANGUAGES = "all languages"
COLUMN_WIDTHS = (150, 36, 70, 40)  # id, lang, speaker, seconds; the text takes the rest
# Offered in the clip's language box (any ISO 639-1 code may be typed): those of the bundled set and Whisper's most used
COMMON_LANGUAGES = ("en", "de", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "sv", "tr", "uk", "zh")


class LibraryFilter(QSortFilterProxyModel):
    """Keeps rows of one language (or all) whose id, speaker or text contains the search text."""

    def __init__(self) -> None:
        super().__init__()
        self.lang, self.text = "", ""

    def set_filter(self, lang: str, text: str) -> None:
        """Filter by language code ("" = all) and case-insensitive text."""
        self.beginFilterChange()
        self.lang, self.text = lang, text.strip().lower()
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:  # noqa: N802 (Qt API)
        """Whether a row passes the language and text filters."""
        row = self.sourceModel().rows[source_row]
        if self.lang and row["lang"] != self.lang:
            return False
        haystack = f"{row['id']} {row['speaker']} {row['text']}".lower()
        return self.text in haystack


class LibraryView(QWidget):
    """Lists clips; activating one emits `utterance_activated` or `file_activated`."""

    utterance_activated = Signal(object)  # eval.manifest.Utterance
    file_activated = Signal(str)
    clip_info_edited = Signal(str, str)  # the current clip's language and transcript, as the user set them

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = RowsModel(LIBRARY_COLUMNS)
        self.proxy = LibraryFilter()
        self.proxy.setSourceModel(self.model)
        self.table = sortable_table(self.proxy)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.activated.connect(self._activated)
        self.language = QComboBox()
        self.language.currentTextChanged.connect(self._filter)
        self.search = QLineEdit(placeholderText="filter by id, speaker or text")
        self.search.textChanged.connect(self._filter)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(110)
        self.recent.itemActivated.connect(lambda item: self.file_activated.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.status = QLabel()
        self.status.setWordWrap(True)
        filters = QHBoxLayout()
        filters.addWidget(self.language)
        filters.addWidget(self.search, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Bundled speech</b>"))
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("<b>Recent files</b>"))
        layout.addWidget(self.recent)
        layout.addWidget(self._clip_box())

    def _clip_box(self) -> QGroupBox:
        """The current clip's language and transcript, which CER needs; remembered per file."""
        box = QGroupBox("This clip")
        self.clip_lang = QComboBox(editable=True)
        self.clip_lang.addItems(["", *COMMON_LANGUAGES])
        self.clip_lang.lineEdit().setPlaceholderText("unknown")
        self.clip_transcript = QLineEdit(placeholderText="none: CER compares with the ASR of the original")
        self.clip_apply = QPushButton("Set for this clip")
        self.clip_apply.clicked.connect(lambda: self.clip_info_edited.emit(self.clip_lang.currentText(),
                                                                           self.clip_transcript.text()))
        form = QFormLayout(box)
        form.addRow("language", self.clip_lang)
        form.addRow("transcript", self.clip_transcript)
        form.addRow("", self.clip_apply)
        box.setEnabled(False)
        self.clip_box = box
        return box

    def show_clip_info(self, lang: str, transcript: str, enabled: bool = True) -> None:
        """Show the current clip's language and transcript (disabled when there is no clip)."""
        self.clip_lang.setCurrentText(lang)
        self.clip_transcript.setText(transcript)
        self.clip_box.setEnabled(enabled)

    def set_rows(self, rows: list[dict]) -> None:
        """Show the bundled set's rows and offer its languages in the filter."""
        self.model.set_rows(rows, LIBRARY_COLUMNS)
        self.language.blockSignals(True)
        self.language.clear()
        self.language.addItems([ALL_LANGUAGES] + sorted({r["lang"] for r in rows}))
        self.language.blockSignals(False)
        self._filter()
        for column, width in enumerate(COLUMN_WIDTHS):
            self.table.setColumnWidth(column, width)
        self.table.resizeRowsToContents()

    def set_recent(self, paths: list[str]) -> None:
        """Show the recent files, newest first."""
        from pathlib import Path

        from PySide6.QtWidgets import QListWidgetItem

        self.recent.clear()
        for path in paths:
            item = QListWidgetItem(Path(path).name)
            item.setToolTip(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.recent.addItem(item)

    def select_id(self, clip_id: str) -> None:
        """Highlight the row of clip `clip_id` (the one shown in the compare view), if listed."""
        for proxy_row in range(self.proxy.rowCount()):
            if self.model.rows[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]["id"] == clip_id:
                self.table.selectRow(proxy_row)
                self.table.scrollTo(self.proxy.index(proxy_row, 0))
                return
        self.table.clearSelection()

    def rows_for_test(self, count: int) -> list[dict]:
        """Clips for a listening test: the selected rows when several are selected, else the first `count` shown."""
        selected = self.table.selectionModel().selectedRows()
        indexes = selected if len(selected) > 1 else [self.proxy.index(r, 0) for r in range(self.proxy.rowCount())]
        return [self.model.rows[self.proxy.mapToSource(i).row()] for i in indexes][:count]

    def utterances(self, selected: bool = False) -> list:
        """The library's utterances: every one listed, or only the selected rows."""
        if not selected:
            return [row["utterance"] for row in self.model.rows]
        indexes = sorted(self.table.selectionModel().selectedRows(), key=lambda index: index.row())
        return [self.model.rows[self.proxy.mapToSource(i).row()]["utterance"] for i in indexes]

    def rows_with_ids(self, ids: list[str]) -> list[dict]:
        """The library's rows of clips `ids`, in that order (a resumed test's clips), whatever the filter shows."""
        by_id = {row["id"]: row for row in self.model.rows}
        missing = [clip_id for clip_id in ids if clip_id not in by_id]
        if missing:
            raise UserError(f"the test's clip {missing[0]} is not in the library ({len(missing)} missing): open the "
                            "set or folder the test was made from, then resume again")
        return [by_id[clip_id] for clip_id in ids]

    def show_status(self, text: str) -> None:
        """Show a line under the list (how many clips are shown, or why there are none)."""
        self.status.setText(text)

    def _filter(self) -> None:
        lang = self.language.currentText()
        self.proxy.set_filter("" if lang == ALL_LANGUAGES else lang, self.search.text())
        self.show_status(f"{self.proxy.rowCount()} of {self.model.rowCount()} clips")

    def _activated(self, index) -> None:
        self.utterance_activated.emit(self.model.rows[self.proxy.mapToSource(index).row()]["utterance"])
