"""The decoded versions of the current clip: listen to any of them, rename or remove one, and pick A and B."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.clip_model import ClipModel

KEY = Qt.ItemDataRole.UserRole


class VersionsView(QWidget):
    """Lists the original and every version; a click asks to hear it, an edit to rename it."""

    listen_requested = Signal(str)  # key
    rename_requested = Signal(str, str)  # key, new label
    remove_requested = Signal(str)  # key
    pair_requested = Signal(str, str)  # keys of A and B

    def __init__(self, model: ClipModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.list = QListWidget()
        self.list.setToolTip("Click to hear a version at the same position; double-click or F2 to rename it")
        self.list.itemClicked.connect(lambda item: self.listen_requested.emit(item.data(KEY)))
        self.list.itemChanged.connect(lambda item: self.rename_requested.emit(item.data(KEY), item.text()))
        self.a_combo, self.b_combo = QComboBox(), QComboBox()
        for combo in (self.a_combo, self.b_combo):
            combo.activated.connect(self._pair_picked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove)
        pickers = QFormLayout()
        pickers.addRow("A", self.a_combo)
        pickers.addRow("B", self.b_combo)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addLayout(pickers)
        model.clip_changed.connect(self.refresh)
        model.decoded_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list and the A / B pickers from the model."""
        heard = self.heard()
        entries = self.model.entries()
        self.list.blockSignals(True)
        self.list.clear()
        for key, label, tip in entries:
            item = QListWidgetItem(label)
            item.setData(KEY, key)
            item.setToolTip(tip)
            if self.model.version(key) is not None:  # a version's name is the user's; the others' are not
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.show_heard(heard)
        for combo, key in ((self.a_combo, self.model.pair[0]), (self.b_combo, self.model.pair[1])):
            combo.clear()
            for entry_key, label, _ in entries:
                combo.addItem(label, entry_key)
            combo.setCurrentIndex(combo.findData(key))
        self.remove_button.setEnabled(bool(self.model.versions))

    def show_heard(self, key: str) -> None:
        """Highlight the signal being heard (none when it is not listed, such as the difference)."""
        self.list.blockSignals(True)
        rows = [i for i in range(self.list.count()) if self.list.item(i).data(KEY) == key]
        self.list.setCurrentRow(rows[0] if rows else -1)
        self.list.blockSignals(False)

    def heard(self) -> str:
        """Key of the highlighted signal, or ""."""
        item = self.list.currentItem()
        return item.data(KEY) if item is not None else ""

    def labels(self) -> list[str]:
        """The listed names, in order (the original first)."""
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _pair_picked(self) -> None:
        a, b = self.a_combo.currentData(), self.b_combo.currentData()
        if a and b:
            self.pair_requested.emit(a, b)

    def _remove(self) -> None:
        key = self.heard()
        if self.model.version(key) is not None:
            self.remove_requested.emit(key)
