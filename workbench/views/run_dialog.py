"""Choose what a new eval run from the app covers: codecs, input conditions, metric set and output folder."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)


class RunDialog(QDialog):
    """Codecs to evaluate on the bundled speech, fast metrics only or all, and where the run is written."""

    def __init__(self, codecs: list[str], selected: str, folder: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle("New eval run on the bundled speech")
        self.codecs = QListWidget()
        for name in codecs:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name == selected else Qt.CheckState.Unchecked)
            self.codecs.addItem(item)
        self.everything = QCheckBox("also CER (Whisper) and speaker similarity: slow on a CPU")
        self.conditions = QLineEdit(placeholderText="none: the clean clips only")
        self.conditions.setToolTip("Input conditions, separated by spaces (white10 pink5 reverb0.6 tel level-36, or "
                                   "chains such as reverb0.6@white10): each ticked codec also runs on the clips under "
                                   "each, next to identity under it (the condition alone). Metrics compare with the "
                                   "clean clips.")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.folder, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("codecs", self.codecs)
        form.addRow("metrics", self.everything)
        form.addRow("input conditions", self.conditions)
        form.addRow("output folder", where)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def chosen_codecs(self) -> list[str]:
        """The ticked codecs."""
        items = (self.codecs.item(i) for i in range(self.codecs.count()))
        return [i.text() for i in items if i.checkState() == Qt.CheckState.Checked]

    def chosen_folder(self) -> str:
        """The output folder as typed or browsed ("" when none)."""
        return self.folder.text().strip()

    def chosen_conditions(self) -> list[str]:
        """The input conditions typed, in order (none: the clean clips only)."""
        return self.conditions.text().split()

    def metrics(self) -> list[str] | None:
        """The metric names to compute (None = every metric the eval engine knows)."""
        if self.everything.isChecked():
            return None
        from eval.metrics import FAST_METRICS

        return list(FAST_METRICS)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the run", self.folder.text())
        if folder:
            self.folder.setText(folder)
