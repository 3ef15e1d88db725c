"""Record from a chosen input device with a live level meter; the take becomes the current clip."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from codec.errors import UserError
from workbench import audio_io

RATES = (16000, 22050, 44100, 48000)
METER_FLOOR_DB = -60


class RecordDialog(QDialog):
    """Choose device and rate, record, stop; `take` holds the samples afterwards."""

    def __init__(self, device_name: str = "", sample_rate: int = 16000, title: str = "Record", parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.take: np.ndarray | None = None
        self.stopped_at = 0.0  # time.perf_counter() when stop was pressed (start of the mic round-trip latency)
        self.recorder: audio_io.Recorder | None = None
        self.monitoring = False  # the level is shown before recording; what comes in is not kept
        self.device = QComboBox()
        self.device.addItem("system default", "")
        try:
            for d in audio_io.list_devices("input"):
                self.device.addItem(d.name, d.name)
        except UserError as exc:
            self.device.setToolTip(str(exc))
        self.device.setCurrentIndex(max(0, self.device.findData(device_name)))
        self.rate = QComboBox()
        for rate in RATES:
            self.rate.addItem(f"{rate} Hz", rate)
        self.rate.setCurrentIndex(max(0, self.rate.findData(sample_rate)))
        self.meter = QProgressBar()
        self.meter.setRange(METER_FLOOR_DB, 0)
        self._show_silent_meter()
        self.peak = QLabel("peak: -")
        self.elapsed = QLabel("0.0 s")
        self.monitor_button = QPushButton("Check level")
        self.monitor_button.setToolTip("Show the input level before recording (nothing is kept)")
        self.monitor_button.clicked.connect(self.monitor)
        self.record_button = QPushButton("Record")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.record_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        form = QFormLayout()
        form.addRow("input device", self.device)
        form.addRow("sample rate", self.rate)
        form.addRow("level (RMS)", self.meter)
        form.addRow(self.peak, self.elapsed)
        buttons = QHBoxLayout()
        buttons.addWidget(self.monitor_button)
        buttons.addWidget(self.record_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self.timer = QTimer(self, interval=50)
        self.timer.timeout.connect(self._update_meter)

    @property
    def device_name(self) -> str:
        """The chosen device's name ("" = system default)."""
        return self.device.currentData()

    @property
    def sample_rate(self) -> int:
        """The chosen recording rate."""
        return int(self.rate.currentData())

    def monitor(self) -> bool:
        """Show the input level without recording, to set the microphone before a take."""
        if not self._open_input():
            return False
        self.monitoring = True
        self.monitor_button.setEnabled(False)
        self.device.setEnabled(False)
        self.rate.setEnabled(False)
        self.peak.setText("peak: - (checking the level, nothing is recorded)")
        self.timer.start()
        return True

    def start(self) -> bool:
        """Open the device and start recording (what the level check heard is dropped); a failure is shown as a
        dialog and returns False."""
        if self.monitoring:
            self.recorder.stop()  # the level check's audio is not part of the take
            self.monitoring = False
        if not self._open_input():
            return False
        self.monitor_button.setEnabled(False)
        self.record_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.device.setEnabled(False)
        self.rate.setEnabled(False)
        self.timer.start()
        return True

    def _open_input(self) -> bool:
        try:
            self.recorder = audio_io.Recorder(audio_io.device_index(self.device_name, "input"), self.sample_rate)
            self.recorder.start()
        except UserError as exc:
            QMessageBox.warning(self, "Cannot record", str(exc))
            return False
        return True

    def _show_silent_meter(self) -> None:
        """An empty meter until there is a level to show (a fresh bar would read -1 dBFS, nearly full)."""
        self.meter.setValue(METER_FLOOR_DB)
        self.meter.setFormat("no input yet")

    def stop(self) -> None:
        """Stop recording, keep the take and close the dialog."""
        self.stopped_at = time.perf_counter()
        self.timer.stop()
        if self.recorder is not None:
            self.take = self.recorder.stop()
        self.accept() if self.take is not None and len(self.take) else self.reject()

    def reject(self) -> None:
        """Closing the dialog (Esc, the window's close button) while recording stops it, then asks whether to keep
        a take of a second or more (the time spent answering is not recorded)."""
        self.timer.stop()
        if self.monitoring:
            self.recorder.stop()  # a level check: nothing to keep
        elif self.recorder is not None and self.recorder.recording:
            self.stopped_at = time.perf_counter()
            take = self.recorder.stop()
            if len(take) >= self.recorder.sample_rate and self.keep_take(len(take) / self.recorder.sample_rate):
                self.take = take
                self.accept()
                return
        super().reject()

    def keep_take(self, seconds: float) -> bool:
        """Ask whether a stopped take of `seconds` is kept, as the dialog is closed."""
        answer = QMessageBox.question(
            self, "Keep the recording?", f"{seconds:.1f} s recorded. Keep this take?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _update_meter(self) -> None:
        rms_db, peak_db = self.recorder.level_db
        self.meter.setValue(int(max(METER_FLOOR_DB, rms_db)))
        self.meter.setFormat("%v dBFS")
        self.peak.setText(f"peak: {peak_db:.1f} dBFS" + ("  CLIPPING" if peak_db > -0.1 else ""))
        self.elapsed.setText("not recording" if self.monitoring else f"{self.recorder.seconds:.1f} s")
