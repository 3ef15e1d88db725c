"""Batch reports: start an eval run or open a run folder; a sortable table of utterances x metrics."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.library import RowsModel
from workbench.views.tables import sortable_table


class ReportView(QWidget):
    """Double-clicking a row emits `row_activated` with that row (utterance, codec, metrics, audio paths)."""

    open_requested = Signal()
    run_requested = Signal()
    cancel_requested = Signal()
    row_activated = Signal(dict)
    html_requested = Signal()  # open the run's HTML report (written first when a cancelled run has none)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = RowsModel()
        self.proxy = QSortFilterProxyModel()
        self.proxy.setSourceModel(self.model)
        self.table = sortable_table(self.proxy)
        self.table.doubleClicked.connect(self._activated)
        self.summary = RowsModel()
        summary_proxy = QSortFilterProxyModel()
        summary_proxy.setSourceModel(self.summary)
        self.summary_table = sortable_table(summary_proxy)
        self.title = QLabel("Open a run folder written by 'lfsc-eval run', or start a new run on the bundled speech.")
        self.title.setWordWrap(True)
        open_button = QPushButton("Open run folder...")
        run_button = QPushButton("New eval run...")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.html_button = QPushButton("Open HTML report")
        self.html_button.setEnabled(False)
        self.html_button.clicked.connect(self.html_requested)
        open_button.clicked.connect(self.open_requested)
        run_button.clicked.connect(self.run_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(open_button)
        top.addWidget(run_button)
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel_button)
        top.addWidget(self.html_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addWidget(QLabel("<b>Per codec and language</b> (means; the HTML report has the confidence intervals)"))
        layout.addWidget(self.summary_table, 1)
        layout.addWidget(QLabel("<b>Every clip</b>"))
        layout.addWidget(self.table, 2)
        layout.addWidget(QLabel("Double-click a row to open it in the compare view, ready for A/B."))

    def set_rows(self, title: str, rows: list[dict], columns: list[tuple[str, str]]) -> None:
        """Show a run's rows."""
        self.title.setText(title)
        self.model.set_rows(rows, columns)
        self.table.resizeColumnsToContents()

    def set_summary(self, rows: list[dict], columns: list[tuple[str, str]]) -> None:
        """Show a run's means per codec and per codec and language; the HTML report can be opened from now on."""
        self.summary.set_rows(rows, columns)
        self.summary_table.resizeColumnsToContents()
        self.html_button.setEnabled(True)

    def set_busy(self, busy: bool) -> None:
        """Show or hide the progress bar and the cancel button; a new run starts with no text of the last one."""
        if busy:
            self.progress.reset()
            self.progress.setFormat("starting")
        self.progress.setVisible(busy)
        self.cancel_button.setEnabled(busy)

    def show_progress(self, done: int, total: int, text: str) -> None:
        """Update the progress bar."""
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{text}  %v/%m" if total else text)

    def activate_row(self, proxy_row: int) -> None:
        """Open the row shown at `proxy_row` (what a double-click does)."""
        self._activated(self.proxy.index(proxy_row, 0))

    def _activated(self, index) -> None:
        self.row_activated.emit(self.model.rows[self.proxy.mapToSource(index).row()])
