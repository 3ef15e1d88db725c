"""The Live panel: start/stop, the lookahead, what is heard (the codec or what it heard), the latency breakdown and
counters."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QPushButton, QSpinBox, QWidget

ALL_LOOKAHEAD = -1  # the spin box's lowest value: the codec's own choice (all the lookahead it can use)


class LiveView(QWidget):
    """Shows a live session; emits what the user asks for."""

    start_requested = Signal(object)  # lookahead frames, or None for the codec's choice
    stop_requested = Signal(bool)  # whether to keep the session as files
    toggle_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.button = QPushButton("Live")
        self.button.setCheckable(True)
        self.button.setToolTip("Code the microphone live through the chosen codec to the output device")
        self.button.clicked.connect(self._clicked)
        self.lookahead = QSpinBox()
        self.lookahead.setRange(ALL_LOOKAHEAD, 64)
        self.lookahead.setSpecialValueText("codec's choice")
        self.lookahead.setSuffix(" frames")
        self.heard = QPushButton("hearing: the codec (L)")
        self.heard.setToolTip("L switches between the codec and what it hears: the microphone under the input "
                              "condition chosen in the codec bar, or the dry microphone")
        self.heard.setEnabled(False)
        self.heard.clicked.connect(self.toggle_requested)
        self.keep = QCheckBox("keep the session (dry, heard under a condition, coded) as files")
        self.figures = QLabel("-")
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #c0392b")
        form = QFormLayout(self)
        form.addRow(self.button, self.heard)
        form.addRow("lookahead", self.lookahead)
        form.addRow(self.keep)
        form.addRow(self.figures)
        form.addRow(self.warning)

    def show_running(self, running: bool) -> None:
        """Reflect whether a session runs."""
        self.button.setChecked(running)
        self.button.setText("Stop live" if running else "Live")
        self.heard.setEnabled(running)
        self.lookahead.setEnabled(not running)

    def show_heard(self, heard: str) -> None:
        """Say what is heard (in words)."""
        self.heard.setText(f"hearing: {heard} (L)")

    def show_stats(self, stats, warning: str) -> None:
        """Show the latency breakdown (ms), the counters and any warning."""
        self.figures.setText(
            f"input buffer {ms(stats.input_latency)}, input condition {ms(stats.condition)}, lookahead "
            f"{ms(stats.lookahead)}, compute "
            f"{ms(stats.compute_mean)} (worst {ms(stats.compute_worst)}), output buffer {ms(stats.output_latency)}\n"
            f"measured mic to output: {ms(stats.measured)} (of which buffered {ms(stats.buffered)})\n"
            f"underruns {stats.underruns}, overruns {stats.overruns}; jitter buffer {ms(stats.jitter_buffer)} (grows "
            "after an underrun)")
        self.warning.setText(warning)

    def _clicked(self, checked: bool) -> None:
        if checked:
            value = self.lookahead.value()
            self.start_requested.emit(None if value == ALL_LOOKAHEAD else value)
        else:
            self.stop_requested.emit(self.keep.isChecked())
        self.button.setChecked(not checked)  # the controller's running_changed says what really happened


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds."""
    return f"{seconds * 1000:.0f} ms"
