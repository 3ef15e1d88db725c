"""The listening toolbar: play, the A / B / D signal buttons, the loop region and the spectrogram options."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QPushButton, QSpinBox, QToolBar, QWidget

SIGNAL_BUTTONS = {"a": "A", "b": "B", "difference": "B - A (D)"}  # the compared signals, by the keys that play them
PLAY, PAUSE = "Play (space)", "Pause (space)"


class ListenBar(QToolBar):
    """Emits what the listener asks for; shows which signals exist and which one is heard."""

    play_requested = Signal()
    signal_requested = Signal(str)
    loop_toggled = Signal(bool)
    view_options_changed = Signal(bool, int)  # log frequency, dB range

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Listen", parent)
        self.setObjectName("listen")
        self.play_button = QPushButton(PLAY)
        self.signal_buttons = {name: QPushButton(text) for name, text in SIGNAL_BUTTONS.items()}
        for name, button in self.signal_buttons.items():
            button.setCheckable(True)
            button.setEnabled(False)  # until a clip is open
            button.clicked.connect(lambda _=False, n=name: self.signal_requested.emit(n))
        self.loop_box = QCheckBox("loop region")
        self.log_box = QCheckBox("log frequency")
        self.db_spin = QSpinBox(minimum=30, maximum=140, singleStep=10, suffix=" dB")
        for widget in (self.play_button, *self.signal_buttons.values(), self.loop_box, self.log_box, self.db_spin):
            self.addWidget(widget)
        self.play_button.clicked.connect(self.play_requested)
        self.loop_box.toggled.connect(self.loop_toggled)
        self.log_box.toggled.connect(self._options_changed)
        self.db_spin.valueChanged.connect(self._options_changed)

    def show_signals(self, available: set[str] | dict, selected: str | None) -> None:
        """Enable the buttons of the signals there are and check the one heard."""
        for name, button in self.signal_buttons.items():
            button.setEnabled(name in available)
            button.setChecked(name == selected)

    def show_playing(self, playing: bool) -> None:
        """Offer Pause while sound plays, Play while it is stopped."""
        self.play_button.setText(PAUSE if playing else PLAY)

    def set_loop(self, on: bool) -> None:
        """Turn the loop region on or off."""
        self.loop_box.setChecked(on)

    def set_view_options(self, log_frequency: bool, db_range: int) -> None:
        """Show the spectrogram options (emits `view_options_changed` when they change)."""
        self.log_box.setChecked(log_frequency)
        self.db_spin.setValue(db_range)

    def view_options(self) -> tuple[bool, int]:
        """Log frequency and dB range as shown."""
        return self.log_box.isChecked(), self.db_spin.value()

    def _options_changed(self) -> None:
        self.view_options_changed.emit(*self.view_options())
