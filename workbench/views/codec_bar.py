"""The codec toolbar: codec, input condition and device choices, round trip, cancel and the LFSC checkpoint."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QToolBar, QWidget

CONDITION_HINT = ("What the codec hears: the clean clip, or the clip under a condition (noise at an SNR, a room, the "
                  "telephone band, a level). Type any spec, such as reverb0.6@white10; metrics still compare with "
                  "the clean clip.")


class CodecBar(QToolBar):
    """Choices for the next round trip; the buttons ask for it, its cancel and a checkpoint."""

    codec_chosen = Signal(str)
    device_chosen = Signal(str)
    roundtrip_requested = Signal()
    cancel_requested = Signal()
    checkpoint_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Codec", parent)
        self.setObjectName("codec")
        self.codec_combo = QComboBox()
        self.codec_combo.setMinimumContentsLength(14)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Where model codecs run: auto = GPU when present, else CPU")
        self.condition_combo = QComboBox(editable=True)
        self.condition_combo.lineEdit().setPlaceholderText("clean input")
        self.condition_combo.setToolTip(CONDITION_HINT)
        self.condition_combo.setMinimumContentsLength(18)  # "reverb0.6@white10" whole, not cut at '@'
        self.condition_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.roundtrip_button = QPushButton("Round trip")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.checkpoint_button = QPushButton("Set LFSC checkpoint...")
        for widget in (QLabel(" codec "), self.codec_combo, QLabel(" input "), self.condition_combo, self.device_combo,
                       self.roundtrip_button, self.cancel_button, self.checkpoint_button):
            self.addWidget(widget)
        self.codec_combo.currentTextChanged.connect(self.codec_chosen)
        self.device_combo.currentTextChanged.connect(self.device_chosen)
        self.roundtrip_button.clicked.connect(self.roundtrip_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.checkpoint_button.clicked.connect(self.checkpoint_requested)

    def set_choices(self, devices: tuple[str, ...], conditions: list[tuple[str, str]]) -> None:
        """Offer these devices and (condition, description) input conditions; the selection is the first of each."""
        self.device_combo.clear()
        self.device_combo.addItems(devices)
        self.condition_combo.clear()
        for index, (condition, description) in enumerate(conditions):
            self.condition_combo.addItem(condition)
            self.condition_combo.setItemData(index, description, Qt.ItemDataRole.ToolTipRole)

    def set_codecs(self, codecs: list[tuple[str, str, bool]], current: str) -> None:
        """List (name, tooltip, available) codecs, the unavailable ones greyed, and select `current` quietly."""
        self.codec_combo.blockSignals(True)
        self.codec_combo.clear()
        for index, (name, tooltip, available) in enumerate(codecs):
            self.codec_combo.addItem(name)
            self.codec_combo.setItemData(index, tooltip, Qt.ItemDataRole.ToolTipRole)
            self.codec_combo.model().item(index).setEnabled(available)
        self.codec_combo.setCurrentText(current)
        self.codec_combo.blockSignals(False)

    def codec(self) -> str:
        """The selected codec."""
        return self.codec_combo.currentText()

    def select_codec(self, name: str) -> None:
        """Select codec `name`."""
        self.codec_combo.setCurrentText(name)

    def condition(self) -> str:
        """The input condition as typed or chosen ("" = the clean clip)."""
        return self.condition_combo.currentText()

    def set_condition(self, condition: str) -> None:
        """Choose or type an input condition."""
        self.condition_combo.setCurrentText(condition)

    def device(self) -> str:
        """The device choice (auto, cpu or cuda)."""
        return self.device_combo.currentText()

    def set_device(self, device: str) -> None:
        """Choose where model codecs run."""
        self.device_combo.setCurrentText(device)

    def set_cancellable(self, cancellable: bool) -> None:
        """Enable the cancel button while there is work it stops."""
        self.cancel_button.setEnabled(cancellable)

    def set_checkpoint_ready(self, ready: bool) -> None:
        """Make the checkpoint button stand out until LFSC has a checkpoint."""
        self.checkpoint_button.setText("LFSC checkpoint..." if ready else "Set LFSC checkpoint...")
        self.checkpoint_button.setStyleSheet("" if ready else "font-weight: bold; color: #d98c00;")
