"""Round-trip cost, per-clip metrics and mic latency for the current clip."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from workbench.clip_model import ClipModel


class MetricsPanel(QWidget):
    """Shows what the model knows; the buttons ask for the slow metrics."""

    cer_requested = Signal()
    speaker_requested = Signal()

    def __init__(self, model: ClipModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["", "value"])
        self.tree.setColumnWidth(0, 150)
        self.cer_button = QPushButton("CER (ASR)")
        self.cer_button.setToolTip("Transcribe original and decoded with the bundled Whisper model and score both")
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
        """Rebuild the tree from the model."""
        self.tree.clear()
        sections: list[tuple[str, list[tuple[str, str]]]] = []
        if self.model.roundtrip is not None:
            rows = self.model.roundtrip.summary() + [("note", n) for n in self.model.roundtrip.notices]
            sections.append(("Round trip", rows))
        if self.model.metrics:
            rows = [(k, f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in self.model.metrics.items()]
            sections.append(("Metrics", rows))
        if self.model.latency is not None:
            sections.append(("Mic round-trip latency", self.model.latency.summary()))
        for title, rows in sections:
            parent = QTreeWidgetItem([title])
            self.tree.addTopLevelItem(parent)
            for label, value in rows:
                item = QTreeWidgetItem([label, value])
                item.setToolTip(1, value)
                parent.addChild(item)
            parent.setExpanded(True)
        self.tree.resizeColumnToContents(0)  # labels such as "DistillMOS (original)" in full
        ready = self.model.decoded is not None
        self.cer_button.setEnabled(ready)
        self.speaker_button.setEnabled(ready)

    def value(self, label: str) -> str:
        """The displayed value for a row label (first match), or "" (used by tests and screenshots)."""
        for i in range(self.tree.topLevelItemCount()):
            section = self.tree.topLevelItem(i)
            for j in range(section.childCount()):
                if section.child(j).text(0) == label:
                    return section.child(j).text(1)
        return ""
