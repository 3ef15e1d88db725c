"""Round-trip cost and per-clip metrics of every decoded version side by side, and mic latency, for the current clip."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from workbench.clip_model import ClipModel

VALUE_CHARS = 28  # longer texts are sentences, not values: "6.80 kbps (3037 B)" is whole, a missing reason elided


class MetricsPanel(QWidget):
    """Shows what the model knows, the versions side by side; the buttons ask for the slow metrics of B."""

    cer_requested = Signal()
    speaker_requested = Signal()

    def __init__(self, model: ClipModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["", "value"])
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # labels and headers, never a value (see _fit)
        self.tree.header().setStretchLastSection(False)
        self.tree.setIndentation(12)  # the room is the values'
        self.cer_button = QPushButton("CER (ASR)")
        self.cer_button.setToolTip("Transcribe the original and version B with the bundled Whisper model, score both")
        self.speaker_button = QPushButton("Speaker similarity")
        self.cer_button.clicked.connect(self.cer_requested)
        self.speaker_button.clicked.connect(self.speaker_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.cer_button)
        buttons.addWidget(self.speaker_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        model.metrics_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the tree from the model: one column per decoded version, side by side."""
        self.tree.clear()
        versions = self.model.versions
        self.tree.setColumnCount(1 + max(len(versions), 1))
        self.tree.setHeaderLabels(["", *(v.label for v in versions)] if versions else ["", "value"])
        for column, version in enumerate(versions, start=1):
            self.tree.headerItem().setToolTip(column, f"{version.label} ({version.info.codec})" if version.info
                                              else version.label)
        sections: list[tuple[str, list[tuple[str, list[str]]]]] = []
        with_info = [v.info for v in versions if v.info is not None]
        if with_info:
            summaries = [dict(v.info.summary() + [("note", n) for n in v.info.notices[:1]]) if v.info else {}
                         for v in versions]
            sections.append(("Round trip", side_by_side(summaries)))
        metrics = [{k: f"{x:.3f}" if isinstance(x, float) else str(x) for k, x in v.metrics.items()} for v in versions]
        if any(metrics):
            sections.append(("Metrics", side_by_side(metrics)))
        if self.model.latency is not None:
            sections.append(("Mic round-trip latency", [(k, [x]) for k, x in self.model.latency.summary()]))
        for title, rows in sections:
            parent = QTreeWidgetItem([title])
            self.tree.addTopLevelItem(parent)
            for label, values in rows:
                item = QTreeWidgetItem([label, *values])
                item.setToolTip(0, label)
                for column, value in enumerate(values, start=1):
                    item.setToolTip(column, value)
                parent.addChild(item)
            parent.setExpanded(True)
        self._fit()
        ready = self.model.decoded is not None
        self.cer_button.setEnabled(ready)
        self.speaker_button.setEnabled(ready)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """A wider or narrower dock gives the labels more or less room."""
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        # Values are shown whole (a column is as wide as its widest value; a long version name in the header is
        # elided), sentences (a reason a metric is missing, a note) are elided like the labels, which take the room
        # left; every cut text is whole in its tooltip.
        metrics = self.tree.fontMetrics()
        rows = [section.child(j) for i in range(self.tree.topLevelItemCount())
                for section in [self.tree.topLevelItem(i)] for j in range(section.childCount())]
        for column in range(1, self.tree.columnCount()):
            values = [row.text(column) for row in rows if len(row.text(column)) <= VALUE_CHARS]
            self.tree.setColumnWidth(column, max([metrics.horizontalAdvance(v) + 12 for v in values] + [48]))
        # The room as if the vertical scroll bar were shown: it appears once the rows are laid out, after this.
        width = self.tree.width() - 2 * self.tree.frameWidth() - self.tree.verticalScrollBar().sizeHint().width()
        room = width - sum(self.tree.columnWidth(c) for c in range(1, self.tree.columnCount()))
        self.tree.setColumnWidth(0, max(min(self.tree.sizeHintForColumn(0) + 8, room), 90))

    def value(self, label: str, version: str | None = None) -> str:
        """The displayed value of a row (first match) for a version by label (the one compared as B by default),
        or "" (used by tests and screenshots)."""
        labels = [v.label for v in self.model.versions]
        wanted = version or (self.model.compared.label if self.model.compared else "")
        column = 1 + labels.index(wanted) if wanted in labels else 1
        for i in range(self.tree.topLevelItemCount()):
            section = self.tree.topLevelItem(i)
            for j in range(section.childCount()):
                if section.child(j).text(0) == label:
                    return section.child(j).text(column)
        return ""


def side_by_side(columns: list[dict[str, str]]) -> list[tuple[str, list[str]]]:
    """Rows of (label, one value per column) over every label any column has, in first-seen order."""
    labels = list(dict.fromkeys(label for column in columns for label in column))
    return [(label, [column.get(label, "") for column in columns]) for label in labels]
