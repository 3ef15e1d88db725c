"""The main window: wires the clip model, the player, the workers and the views together."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QThreadPool, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QToolBar,
)

from codec.audio import load_audio, save_audio
from codec.conditions import describe_chain
from codec.spec import parse_chain, sweep
from codec.errors import UserError
from eval.listening import anchors_for
from workbench import audio_io, clip_metrics, roundtrip, unfinished
from workbench.blind_test import BlindTest, write_results
from workbench.clip_model import Clip, ClipModel, Latency, RoundTripInfo
from workbench.mushra import KIND as MUSHRA
from workbench.mushra import MushraTest
from workbench.settings import Settings
from workbench.views.blind_test_view import BlindTestView
from workbench.views.compare_view import CompareView
from workbench.views.library_view import LibraryView
from workbench.views.metrics_panel import MetricsPanel
from workbench.views.record_dialog import RecordDialog
from workbench.views.report_view import ReportView
from workbench.workers import Task

AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff);;All files (*)"
SEEK_STEP = 1.0  # seconds per left/right key press
SIGNAL_KEYS = {"original": "A", "decoded": "B", "difference": "D"}


class MainWindow(QMainWindow):
    """Load or record a clip, round-trip it, compare, listen, measure, run blind tests and browse reports."""

    def __init__(self, settings: Settings | None = None):
        super().__init__()
        self.setWindowTitle("LFSC workbench")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.model = ClipModel()
        device = audio_io_device(self.settings.output_device, "output")
        self.player = audio_io.Player(device)
        self.blind_player = audio_io.Player(device)  # its own, so stimuli and the compare signals never mix
        self.codec_cache = roundtrip.CodecCache()
        self.task: Task | None = None  # the current clip's round trip (the toolbar's cancel stops it)
        self.blind_task: Task | None = None  # the blind test's preparation (the toolbar's cancel stops it too)
        self.blind_progress_path: Path | None = None  # where the running blind test's answers so far are saved
        self.blind_progress_failed = False  # that save failed once already (said once per test)
        self.metric_tasks: set[Task] = set()  # the current clip's metrics (the toolbar's cancel stops them too)
        self.eval_task: Task | None = None  # the eval run the report view's cancel stops
        self.background: set[Task] = set()  # every running task, kept alive until it is done
        # Wider than the cores: a cancelled codec call still running to its end, or Whisper loading for a CER,
        # must not hold the next round trip in the queue unseen.
        pool = QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 8))
        self.messages: list[str] = []  # every error shown, newest last (also read by tests)
        self.compare = CompareView(self.model)
        self.metrics = MetricsPanel(self.model)
        self.library = LibraryView()
        self.blind = BlindTestView(self.blind_player)
        self.report = ReportView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.blind, "Blind test")
        self.tabs.addTab(self.report, "Reports")
        self.setCentralWidget(self.tabs)
        self._build_docks()
        self._build_toolbars()
        self._build_menus()
        self._build_status()
        self._connect()
        self._shortcuts()
        self.cursor_timer = QTimer(self, interval=30)
        self.cursor_timer.timeout.connect(self._update_cursor)
        self.cursor_timer.start()
        self.compare.set_view_options(self.settings.log_frequency, self.settings.db_range)
        if self.settings.geometry:
            self.restoreGeometry(self.settings.geometry)
        else:
            self.resize(1500, 900)
        self.restoreState(self.settings.window_state)  # docks and toolbars where the user left them

    # ---- layout -------------------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        left = QDockWidget("Clips", self)
        left.setWidget(self.library)
        left.setObjectName("clips")
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)
        right = QDockWidget("Metrics", self)
        right.setWidget(self.metrics)
        right.setObjectName("metrics")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, right)
        self.resizeDocks([left, right], [460, 330], Qt.Orientation.Horizontal)

    def _build_toolbars(self) -> None:
        files = QToolBar("Clip", self)
        files.setObjectName("clip")
        actions = (("Open...", self.open_dialog), ("Record...", self.record), ("Mic round trip", self.mic_roundtrip))
        for text, slot in actions:
            action = QAction(text, self)
            action.triggered.connect(slot)
            files.addAction(action)
        self.addToolBar(files)
        codec_bar = QToolBar("Codec", self)
        codec_bar.setObjectName("codec")
        self.codec_combo = QComboBox()
        self.codec_combo.setMinimumContentsLength(14)
        self.device_combo = QComboBox()
        self.device_combo.addItems(roundtrip.DEVICES)
        self.device_combo.setCurrentText(self.settings.compute_device)
        self.device_combo.setToolTip("Where model codecs run: auto = GPU when present, else CPU")
        self.condition_combo = QComboBox(editable=True)
        self.condition_combo.lineEdit().setPlaceholderText("clean input")
        for condition in roundtrip.INPUT_CONDITIONS:
            self.condition_combo.addItem(condition)
            self.condition_combo.setItemData(self.condition_combo.count() - 1,
                                             describe_chain(parse_chain(condition)), Qt.ItemDataRole.ToolTipRole)
        self.condition_combo.setToolTip("What the codec hears: the clean clip, or the clip under a condition (noise at an "
                                        "SNR, a room, the telephone band, a level). Type any spec, such as "
                                        "reverb0.6@white10; metrics still compare with the clean clip.")
        self.roundtrip_button = QPushButton("Round trip")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.checkpoint_button = QPushButton("Set LFSC checkpoint...")
        for widget in (QLabel(" codec "), self.codec_combo, QLabel(" input "), self.condition_combo, self.device_combo,
                       self.roundtrip_button, self.cancel_button, self.checkpoint_button):
            codec_bar.addWidget(widget)
        self.addToolBar(codec_bar)
        play_bar = QToolBar("Listen", self)
        play_bar.setObjectName("listen")
        self.play_button = QPushButton("Play (space)")
        self.signal_buttons = {name: QPushButton(f"{name} ({key})") for name, key in SIGNAL_KEYS.items()}
        for button in self.signal_buttons.values():
            button.setCheckable(True)
            button.setEnabled(False)  # until a clip is open (_signals_changed)
        self.loop_box = QCheckBox("loop region")
        self.log_box = QCheckBox("log frequency")
        self.log_box.setChecked(self.settings.log_frequency)
        self.db_spin = QSpinBox(minimum=30, maximum=140, singleStep=10, suffix=" dB")
        self.db_spin.setValue(self.settings.db_range)
        for widget in (self.play_button, *self.signal_buttons.values(), self.loop_box, self.log_box, self.db_spin):
            play_bar.addWidget(widget)
        self.addToolBarBreak()
        self.addToolBar(play_bar)
        self.refresh_codecs()

    def _build_menus(self) -> None:
        files = self.menuBar().addMenu("&File")
        for text, slot in (("&Open...", self.open_dialog), ("&Record...", self.record),
                           ("&Save clip as...", lambda: self.save_signal("original")),
                           ("Save &decoded as...", lambda: self.save_signal("decoded")),
                           ("Open eval &run folder...", lambda: self.open_run_folder()), ("&Quit", self.close)):
            files.addAction(text, slot)
        self.audio_menu = self.menuBar().addMenu("&Audio")
        self.audio_menu.aboutToShow.connect(self._fill_audio_menu)

    def _fill_audio_menu(self) -> None:
        # Listed when opened, so devices plugged in meanwhile appear.
        self.audio_menu.clear()
        self.audio_menu.addSection("Playback device")
        try:
            names = ["", *(d.name for d in audio_io.list_devices("output"))]
        except UserError as exc:
            self.audio_menu.addAction(str(exc)).setEnabled(False)
            return
        for name in names:
            action = self.audio_menu.addAction(name or "system default", lambda n=name: self.set_output_device(n))
            action.setCheckable(True)
            action.setChecked(name == self.settings.output_device)

    def set_output_device(self, name: str) -> None:
        """Play through the device called `name` ("" = system default) from the next play on."""
        for player in (self.player, self.blind_player):
            player.close()
            player.device = audio_io_device(name, "output")
        self.settings.output_device = name

    def _build_status(self) -> None:
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.position_label = QLabel()
        self.statusBar().addPermanentWidget(self.position_label)
        self.statusBar().addPermanentWidget(self.progress)

    def _connect(self) -> None:
        self.roundtrip_button.clicked.connect(lambda: self.start_roundtrip())
        self.cancel_button.clicked.connect(self.cancel_task)
        self.checkpoint_button.clicked.connect(lambda: self.choose_checkpoint())
        self.codec_combo.currentTextChanged.connect(self._codec_chosen)
        self.device_combo.currentTextChanged.connect(lambda text: setattr(self.settings, "compute_device", text))
        self.play_button.clicked.connect(self.toggle_play)
        for name, button in self.signal_buttons.items():
            button.clicked.connect(lambda _=False, n=name: self.select_signal(n))
        self.loop_box.toggled.connect(self.compare.show_region)
        self.compare.region_changed.connect(self._loop_changed)
        self.compare.seek_requested.connect(self.seek)
        self.log_box.toggled.connect(self._view_options_changed)
        self.db_spin.valueChanged.connect(self._view_options_changed)
        self.library.utterance_activated.connect(self.open_utterance)
        self.library.file_activated.connect(self.open_file)
        self.metrics.cer_requested.connect(self.compute_cer)
        self.metrics.speaker_requested.connect(self.compute_speaker_similarity)
        self.blind.start_requested.connect(self.start_blind_test)
        self.blind.resume_requested.connect(lambda: self.resume_blind_test())
        self.blind.save_requested.connect(lambda: self.save_blind_results())
        self.blind.finished.connect(self._autosave_blind_results)
        self.blind.progressed.connect(self._save_blind_progress)
        self.blind.error.connect(self.show_error)
        self.report.open_requested.connect(lambda: self.open_run_folder())
        self.report.run_requested.connect(self.new_eval_run)
        self.report.cancel_requested.connect(self.cancel_eval_run)
        self.report.row_activated.connect(self.open_report_row)
        self.model.decoded_changed.connect(self._signals_changed)
        self.model.clip_changed.connect(self._signals_changed)
        self.tabs.currentChanged.connect(self._tab_changed)

    def _shortcuts(self) -> None:
        keys = {
            Qt.Key.Key_Space: self.toggle_play,
            Qt.Key.Key_A: lambda: self.select_signal("original"),
            Qt.Key.Key_B: lambda: self.select_signal("decoded"),
            Qt.Key.Key_D: lambda: self.select_signal("difference"),
            Qt.Key.Key_Left: lambda: self.seek(self.player.position - SEEK_STEP),
            Qt.Key.Key_Right: lambda: self.seek(self.player.position + SEEK_STEP),
        }
        for key, slot in keys.items():
            QShortcut(QKeySequence(key), self, activated=lambda slot=slot: self._in_compare(slot))

    def _in_compare(self, slot) -> None:
        # The listening keys act on the compare view's signals; elsewhere they would play what is not on screen.
        if self.tabs.currentWidget() is self.compare:
            slot()

    def _tab_changed(self) -> None:
        """Only the player of the tab on screen may sound."""
        (self.player if self.tabs.currentWidget() is self.blind else self.blind_player).pause()

    # ---- messages -----------------------------------------------------------------------------------------
    def confirm(self, title: str, question: str) -> bool:
        """Ask a yes/no question before something the user made is thrown away."""
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, message: str) -> None:
        """Tell the user what happened and what to do, without blocking the event loop."""
        self.messages.append(f"{title}: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _run(self, task: Task, on_success, busy_text: str) -> Task:
        """Start `task`; successes go to `on_success`, failures to a dialog titled `busy_text`."""
        self.background.add(task)
        # A result queued just before cancel() must not land either.
        task.succeeded.connect(lambda result: None if task.cancel_flag.is_set() else on_success(result))
        task.failed.connect(lambda message: None if task.cancel_flag.is_set() else self.show_error(f"{busy_text} failed", message))
        task.progress.connect(self._show_progress)
        if task is self.eval_task:
            task.progress.connect(self.report.show_progress)
        task.done.connect(lambda: self._task_done(task))
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.statusBar().showMessage(busy_text + "...")
        return task.start()

    def _task_done(self, task: Task) -> None:
        self.background.discard(task)
        if task is self.task:
            self.task = None
        if task is self.blind_task:
            self.blind_task = None
        self.metric_tasks.discard(task)
        self.cancel_button.setEnabled(self.task is not None or self.blind_task is not None or bool(self.metric_tasks))
        if not self.background:
            self.progress.setVisible(False)
            self.statusBar().clearMessage()

    def _show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.statusBar().showMessage(text)

    def cancel_task(self) -> None:
        """Stop the running round trip, metrics and blind-test preparation; the window is usable at once."""
        for task in (self.task, self.blind_task, *self.metric_tasks):
            if task is not None:
                task.cancel()
                self.statusBar().showMessage("cancelled", 3000)

    def _replacing(self, previous: Task | None, task: Task) -> Task:
        """`task`, which the toolbar's cancel now stops, in place of `previous` (cancelled)."""
        if previous is not None:
            previous.cancel()
        self.cancel_button.setEnabled(True)
        return task

    def _cancel_roundtrip(self) -> None:
        for task in (self.task, *self.metric_tasks):
            if task is not None:
                task.cancel()

    def cancel_eval_run(self) -> None:
        """Stop the eval run after the utterance in progress (rows written so far stay, a rerun resumes); the
        report view stays busy until the run has really stopped writing."""
        if self.eval_task is not None:
            self.eval_task.cancel()
            self.statusBar().showMessage("eval run cancelled: finishing the utterance in progress", 5000)

    def _eval_ended(self) -> None:
        self.eval_task = None
        self.report.set_busy(False)

    # ---- codecs -------------------------------------------------------------------------------------------
    def refresh_codecs(self) -> None:
        """Fill the codec list (unavailable ones greyed with the reason) and select the default codec."""
        self.codec_combo.blockSignals(True)
        self.codec_combo.clear()
        available = []
        for entry in roundtrip.codec_entries():
            ok, why = entry.available()
            self.codec_combo.addItem(entry.name)
            index = self.codec_combo.count() - 1
            self.codec_combo.setItemData(index, entry.description if ok else why, Qt.ItemDataRole.ToolTipRole)
            if not ok:
                self.codec_combo.model().item(index).setEnabled(False)
            else:
                available.append(entry.name)
        self.codec_combo.setCurrentText(roundtrip.default_codec(self.settings.last_codec))
        self.codec_combo.blockSignals(False)
        self.blind.set_codecs(available)
        lfsc_ready = "lfsc" in available
        self.checkpoint_button.setText("LFSC checkpoint..." if lfsc_ready else "Set LFSC checkpoint...")
        self.checkpoint_button.setStyleSheet("" if lfsc_ready else "font-weight: bold; color: #d98c00;")

    def _codec_chosen(self, name: str) -> None:
        self.settings.last_codec = name

    def choose_checkpoint(self, path: str | None = None) -> None:
        """Point the app (and the CLIs, through the user config) at an LFSC .nemo checkpoint."""
        from codec.config import write_user_config

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "LFSC checkpoint", self.settings.checkpoint,
                                                  "NeMo checkpoint (*.nemo);;All files (*)")
            if not path:
                return
        try:
            roundtrip.check_checkpoint_file(path)
        except UserError as exc:
            self.show_error("Checkpoint", str(exc))
            return
        self.settings.checkpoint = path
        config = write_user_config(checkpoint=path)
        self.codec_cache.clear()
        self.refresh_codecs()
        if any(e.name == "lfsc" and e.available()[0] for e in roundtrip.codec_entries()):
            self.codec_combo.setCurrentText("lfsc")
        self.statusBar().showMessage(f"LFSC checkpoint saved in {config}", 5000)

    # ---- clips --------------------------------------------------------------------------------------------
    def load_bundled(self) -> None:
        """List the bundled speech and open its first clip."""
        from workbench.library import library_rows

        try:
            rows = library_rows()
        except (UserError, ImportError) as exc:
            self.library.status.setText(f"bundled speech unavailable: {exc}")
            return
        self.library.set_rows(rows)
        self.library.set_recent(self.settings.recent_files)
        if rows and self.model.clip is None:
            self.open_utterance(rows[0]["utterance"])

    def open_dialog(self) -> None:
        """Ask for an audio file and open it."""
        start = str(Path(self.settings.recent_files[0]).parent) if self.settings.recent_files else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", start, AUDIO_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> bool:
        """Open an audio file as the current clip (its transcript from a sidecar .txt when present)."""
        try:
            audio = load_audio(path)
        except UserError as exc:
            self.show_error("Cannot open the file", f"{exc}. Pick a WAV, FLAC or OGG file with speech in it.")
            return False
        sidecar = Path(path).with_suffix(".txt")
        notices, text = audio.notices, ""
        try:
            text = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else ""
        except (UnicodeDecodeError, OSError) as exc:
            notices += (f"transcript {sidecar.name} not read ({exc.__class__.__name__}): save it as UTF-8 text",)
        self._set_clip(Clip(Path(path).name, audio.samples, audio.sample_rate, text, "", Path(path), notices))
        self.settings.add_recent(path)
        self.library.set_recent(self.settings.recent_files)
        return True

    def open_utterance(self, utterance) -> bool:
        """Open a clip of the bundled set (or of a report) with its transcript and language."""
        try:
            audio = load_audio(utterance.audio_path)
        except UserError as exc:
            self.show_error("Cannot open the clip", str(exc))
            return False
        self._set_clip(Clip(utterance.id, audio.samples, audio.sample_rate, utterance.text, utterance.lang,
                            Path(utterance.audio_path), audio.notices))
        self.library.select_id(utterance.id)
        return True

    def _set_clip(self, clip: Clip) -> None:
        self._cancel_roundtrip()  # a round trip of the previous clip is no longer wanted
        self.player.pause()
        self.loop_box.setChecked(False)  # the loop region belonged to the previous clip
        self.model.set_clip(clip)
        self.player.seek(0.0)
        self.setWindowTitle(f"LFSC workbench - {clip.name}")
        for notice in clip.notices:
            self.statusBar().showMessage(notice, 5000)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Accept dragged files."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Open the first dropped file."""
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_file(urls[0].toLocalFile())

    # ---- recording ----------------------------------------------------------------------------------------
    def record(self, then_roundtrip: bool = False) -> bool:
        """Record a take with the record dialog; it becomes the current clip, saved at once under recordings/."""
        dialog = RecordDialog(self.settings.input_device, self.settings.record_rate,
                              "Mic round trip: record, then stop" if then_roundtrip else "Record", self)
        try:
            if then_roundtrip and not dialog.start():
                return False
            if not dialog.exec() or dialog.take is None:
                return False
            self.settings.input_device = dialog.device_name
            self.settings.record_rate = dialog.sample_rate
            self.use_take(dialog.take, dialog.sample_rate, input_latency=dialog.recorder.input_latency)
            if then_roundtrip:
                self.start_roundtrip(play_when_done=True, stop_time=dialog.stopped_at)
            return True
        finally:
            dialog.deleteLater()  # with its recorder's buffers, once control is back in the event loop

    def mic_roundtrip(self) -> None:
        """Record, encode, decode and play back the decoded take in one action, with the latency broken down."""
        self.record(then_roundtrip=True)

    def use_take(self, samples: np.ndarray, sample_rate: int, input_latency: float = 0.0) -> Path | None:
        """Make a recorded take the current clip; it is written to disk first so nothing can lose it. Where it
        cannot be written, it stays open as an unsaved clip (File > Save clip as...) and None is returned."""
        samples = np.asarray(samples, dtype=np.float32)
        self._input_latency = input_latency
        path = _new_take_path(self.settings.recordings_dir)
        try:
            save_audio(path, samples, sample_rate)
        except (UserError, OSError) as exc:
            self._set_clip(Clip(path.stem, samples, sample_rate))
            self.show_error("The take is not saved", f"{path} could not be written ({exc}). The take is open: save "
                            "it with File > Save clip as..., or choose another recordings folder.")
            return None
        self._set_clip(Clip(path.stem, samples, sample_rate, "", "", path))
        self.settings.add_recent(str(path))
        self.library.set_recent(self.settings.recent_files)
        self.statusBar().showMessage(f"recording saved as {path}", 8000)
        return path

    def save_signal(self, which: str, path: str | None = None) -> Path | None:
        """Save the clip ('original') or its decoded signal ('decoded') as an audio file at the clip's rate."""
        signal = self.model.signals().get(which)
        if signal is None:
            self.show_error("Nothing to save", "Open a clip first." if which == "original" else "Run a round trip first.")
            return None
        if path is None:
            clip, codec = self.model.clip, self.model.roundtrip.codec if self.model.roundtrip else "decoded"
            name = Path(clip.name).stem + ("" if which == "original" else f"-{codec}") + ".wav"
            path, _ = QFileDialog.getSaveFileName(self, f"Save {which} audio", name, "Audio (*.wav *.flac *.ogg)")
            if not path:
                return None
        try:
            save_audio(path, signal, self.model.clip.sample_rate)
        except (UserError, OSError) as exc:
            self.show_error("Cannot save the audio", str(exc))
            return None
        self.statusBar().showMessage(f"saved {path}", 5000)
        return Path(path)

    # ---- round trip and metrics ---------------------------------------------------------------------------
    def start_roundtrip(self, codec: str | None = None, play_when_done: bool = False,
                        stop_time: float | None = None) -> Task | None:
        """Round-trip the current clip through `codec` (the selected one by default) on a worker thread."""
        clip = self.model.clip
        if clip is None:
            self.show_error("Nothing to round-trip", "Open, drop or record a clip first.")
            return None
        try:
            name = codec or roundtrip.conditioned(self.codec_combo.currentText(), self.condition_combo.currentText())
        except UserError as exc:
            self.show_error("Unknown input condition", str(exc))
            return None
        task = Task(roundtrip.run_roundtrip, name, clip.samples, clip.sample_rate, self.device_combo.currentText(),
                    self.codec_cache)

        def finished(info: RoundTripInfo) -> None:
            if self.model.clip is not clip:
                return  # the user moved on to another clip meanwhile
            self.model.set_decoded(info.result.audio, info)
            for notice in info.notices:
                self.show_error("Round trip ran on the CPU", notice)
            if play_when_done:
                self.player.seek(0.0)
                self.select_signal("decoded")
                self.play()
                r = info.result
                self.model.set_latency(Latency(getattr(self, "_input_latency", 0.0), r.encode_seconds,
                                               r.decode_seconds, self.player.output_latency,
                                               time.perf_counter() - (stop_time or time.perf_counter())))
            self.compute_fast_metrics()

        self.task = self._replacing(self.task, task)
        return self._run(task, finished, f"Round trip through {name}")

    def compute_fast_metrics(self) -> Task | None:
        """PESQ, STOI, SI-SDR, mel and STFT distance and DistillMOS of the decoded signal, on a worker thread."""
        clip, decoded = self.model.clip, self.model.decoded
        if clip is None or decoded is None:
            return None
        heard = self.model.roundtrip.result.heard if self.model.roundtrip is not None else None
        task = Task(clip_metrics.fast_metrics, clip.samples, decoded, clip.sample_rate, heard=heard)
        return self._run_metrics(task, clip, decoded, "Metrics")

    def compute_cer(self) -> Task | None:
        """CER of original and decoded through the bundled ASR (slow: loads Whisper on first use)."""
        clip, decoded = self.model.clip, self.model.decoded
        if clip is None or decoded is None:
            return None
        task = Task(clip_metrics.asr_errors, clip.samples, decoded, clip.sample_rate, clip.transcript, clip.lang)
        return self._run_metrics(task, clip, decoded, "CER")

    def compute_speaker_similarity(self) -> Task | None:
        """Speaker similarity of decoded to original (slow: loads the speaker model on first use)."""
        clip, decoded = self.model.clip, self.model.decoded
        if clip is None or decoded is None:
            return None
        task = Task(clip_metrics.speaker_similarity, clip.samples, decoded, clip.sample_rate)
        return self._run_metrics(task, clip, decoded, "Speaker similarity")

    def _run_metrics(self, task: Task, clip: Clip, decoded: np.ndarray, busy_text: str) -> Task:
        self.metric_tasks.add(task)
        self.cancel_button.setEnabled(True)
        return self._run(task, lambda values: self._metrics_ready(clip, decoded, values), busy_text)

    def _metrics_ready(self, clip: Clip, decoded: np.ndarray, values: dict) -> None:
        if self.model.clip is clip and self.model.decoded is decoded:  # not of a signal replaced meanwhile
            self.model.set_metrics(values)

    # ---- listening ----------------------------------------------------------------------------------------
    def _signals_changed(self) -> None:
        self.player.set_sources(self.model.signals(), self.model.clip.sample_rate)
        for name, button in self.signal_buttons.items():
            button.setEnabled(name in self.model.signals())
        self._mark_selected()

    def _mark_selected(self) -> None:
        for name, button in self.signal_buttons.items():
            button.setChecked(name == self.player.selected)

    def play(self) -> None:
        """Start playback of the selected signal."""
        try:
            self.player.play()
        except UserError as exc:
            self.show_error("Cannot play", str(exc))

    def toggle_play(self) -> None:
        """Space: play or pause."""
        if self.player.playing:
            self.player.pause()
        else:
            self.play()

    def select_signal(self, name: str) -> None:
        """A / B / D: switch what is heard at the same position, without stopping."""
        try:
            self.player.select(name)
        except UserError as exc:
            self.statusBar().showMessage(str(exc), 4000)
        self._mark_selected()

    def seek(self, seconds: float) -> None:
        """Move the play position (click on a pane, left/right keys)."""
        self.player.seek(seconds)
        self._update_cursor()

    def _loop_changed(self, region) -> None:
        self.player.set_loop(*(region or (None,)))

    def _update_cursor(self) -> None:
        position = self.player.position
        self.compare.set_cursor(position)
        self.position_label.setText(f"{self.player.selected or '-'}  {position:6.2f} s")

    def _view_options_changed(self) -> None:
        self.settings.log_frequency = self.log_box.isChecked()
        self.settings.db_range = self.db_spin.value()
        self.compare.set_view_options(self.log_box.isChecked(), self.db_spin.value())

    # ---- blind tests --------------------------------------------------------------------------------------
    def start_blind_test(self, kind: str, codecs: list, seed, repeats: int, clip_count: int, listener: str = ""
                         ) -> Task | None:
        """Render every chosen clip through every chosen codec on a worker, then run the session."""
        if not self._may_leave_blind_test("Stop the test in progress?"):
            return None
        rows = self.library.rows_for_test(clip_count)
        ids = [r["id"] for r in rows]
        try:
            clips = {r["id"]: _samples(load_audio(r["utterance"].audio_path)) for r in rows}
            if kind == MUSHRA:
                anchors = anchors_for(min((sr for _, sr in clips.values()), default=0))
                session = MushraTest.plan(ids, list(codecs), seed=seed, repeats=repeats, listener=listener,
                                          anchors=anchors)
            else:
                session = BlindTest.plan(kind, ids, list(codecs), seed=seed, repeats=repeats, listener=listener)
        except UserError as exc:
            self.show_error("Cannot start the test", str(exc))
            return None
        return self._prepare_blind_test(session, clips, progress_path=None)

    def resume_blind_test(self, path: str | None = None) -> Task | None:
        """Go on with the unfinished test saved in `path` (asked for when None): render its clips again, then run
        it from its first unanswered trial, saving into the same file."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Resume an unfinished test", str(self.settings.blind_results_dir),
                                                  "Unfinished tests (unfinished-blind-*.json);;JSON (*.json)")
            if not path:
                return None
        path = Path(path)
        running = self.blind.session is not None and not self.blind.session.finished and self.blind_progress_path
        if running and path.resolve() == running.resolve():
            self.show_error("Cannot resume the test", f"{path.name} is the test under way: go on with it here")
            return None
        if not self._may_leave_blind_test("Stop the test in progress?"):
            return None
        try:
            session = unfinished.resume(path)
            rows = self.library.rows_with_ids(list(dict.fromkeys(session.planned["clips"])))
            clips = {r["id"]: _samples(load_audio(r["utterance"].audio_path)) for r in rows}
        except UserError as exc:
            self.show_error("Cannot resume the test", str(exc))
            return None
        if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
            return self._prepare_blind_test(session, clips, progress_path=path)
        # Saved elsewhere from now on; the read-only file must not be resumed (and its results pooled) twice.
        self.show_error("The unfinished file cannot be changed", f"{path} is read-only: the test goes on saving to a "
                        "new unfinished file in the blind-tests folder. Delete the old one once it is finished.")
        return self._prepare_blind_test(session, clips, progress_path=None)

    def _may_leave_blind_test(self, question: str) -> bool:
        """No test under way with answers, or the user says `question` yes (its answers stay saved either way)."""
        return not self.blind.in_progress or self.confirm(
            "Blind test in progress", f"{question} Its answers so far stay in the blind-tests folder as "
            "unfinished-blind-*.json: Resume an unfinished test... goes on with it later."
        )

    def _prepare_blind_test(self, session: BlindTest | MushraTest, clips: dict[str, tuple[np.ndarray, int]],
                            progress_path: Path | None) -> Task:
        rates = {clip_id: sr for clip_id, (_, sr) in clips.items()}
        device = self.device_combo.currentText()
        if session.kind == MUSHRA:
            task = Task(roundtrip.render_and_measure, clips, session.conditions, device, self.codec_cache)

            def begin(result) -> None:
                stimuli, session.objective = result
                self._begin_blind_test(session, stimuli, rates, progress_path)
        else:
            task = Task(roundtrip.render_stimuli, clips, session.planned["codecs"], device, self.codec_cache)

            def begin(stimuli) -> None:
                self._begin_blind_test(session, stimuli, rates, progress_path)
        self.blind_task = self._replacing(self.blind_task, task)
        return self._run(task, begin, "Preparing the test")

    def _begin_blind_test(self, session: BlindTest | MushraTest, stimuli: dict, rates: dict[str, int],
                          progress_path: Path | None) -> None:
        # Named apart from finished results, so that pooling "blind-mushra-*.json" never takes an unfinished test; a
        # resumed test goes on saving into its own file.
        self.blind_progress_path = progress_path or (
            self.settings.blind_results_dir / f"unfinished-blind-{session.kind}-{session.seed}-{datetime.now():%Y%m%d-%H%M%S}.json")
        self.blind_progress_failed = False
        self.blind.begin(session, stimuli, rates)

    def _save_blind_progress(self) -> None:
        """Save the answers given so far, so that a crash or an abandoned test loses none of them."""
        try:
            write_results(self.blind_progress_path, *self.blind.session.progress())
        except (UserError, OSError) as exc:
            if not self.blind_progress_failed:  # said once per test, not after every trial
                self.show_error("The answers so far are not saved", f"{self.blind_progress_path} could not be "
                                f"written ({exc}); the test goes on, and its results are saved at the end if the "
                                "folder allows.")
            self.blind_progress_failed = True

    def _autosave_blind_results(self) -> None:
        session = self.blind.session
        path = self.settings.blind_results_dir / f"blind-{session.kind}-{session.seed}-{datetime.now():%Y%m%d-%H%M%S}.json"
        try:
            session.save(path)
        except (UserError, OSError) as exc:
            self.show_error("The results are not saved", f"{path} could not be written ({exc}): use Save results.")
            return
        with contextlib.suppress(OSError):
            self.blind_progress_path.unlink(missing_ok=True)  # the finished results hold every answer
        self.blind.note(f"\nsaved as {path}")
        self.statusBar().showMessage(f"blind-test results saved as {path}", 8000)

    def save_blind_results(self, path: str | None = None) -> Path | None:
        """Save the finished session as CSV or JSON."""
        if self.blind.session is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save results", f"blind-{self.blind.session.kind}-"
                                                  f"{self.blind.session.seed}.csv", "CSV (*.csv);;JSON (*.json)")
            if not path:
                return None
        try:
            return self.blind.session.save(path)
        except (UserError, OSError) as exc:
            self.show_error("Cannot save the results", str(exc))
            return None

    # ---- reports ------------------------------------------------------------------------------------------
    def open_run_folder(self, folder: str | None = None) -> bool:
        """Show the rows of an eval run folder in the report table."""
        from workbench.reports import load_report

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Open an eval run folder")
            if not folder:
                return False
        try:
            report = load_report(folder)
        except UserError as exc:
            self.show_error("Cannot open the report", str(exc))
            return False
        self.report.set_rows(report.title, report.rows, report.columns)
        self.tabs.setCurrentWidget(self.report)
        return True

    def new_eval_run(self) -> None:
        """Ask which codecs and metrics to evaluate on the bundled speech, then start the run."""
        from workbench.views.run_dialog import RunDialog

        available = [self.codec_combo.itemText(i) for i in range(self.codec_combo.count())
                     if self.codec_combo.model().item(i).isEnabled()]
        dialog = RunDialog(available, self.codec_combo.currentText(), self.settings.last_run_folder, parent=self)
        if not dialog.exec():
            return
        self.settings.last_run_folder = dialog.folder.text().strip()
        if not dialog.chosen_codecs() or not dialog.folder.text().strip():
            self.show_error("Cannot start the run", "Tick at least one codec and choose an output folder.")
            return
        try:
            codecs = sweep(dialog.chosen_codecs(), dialog.chosen_conditions())
        except UserError as exc:
            self.show_error("Cannot start the run", str(exc))
            return
        self.start_eval_run(dialog.folder.text().strip(), codecs, dialog.metrics())

    def start_eval_run(self, folder: str, codecs: list[str], metrics: list[str] | None = None,
                       utterances=None) -> Task:
        """Run the eval engine (bundled speech by default) on a worker with progress and cancel, then show it."""
        from workbench.reports import run_eval

        self.report.set_busy(True)
        self.tabs.setCurrentWidget(self.report)
        if self.eval_task is not None:
            self.show_error("An eval run is in progress", "Wait for it to finish or cancel it first.")
            return self.eval_task
        self.eval_task = Task(run_eval, codecs, folder, utterances=utterances, metrics=metrics)
        self.eval_task.ended.connect(self._eval_ended)
        return self._run(self.eval_task, lambda out: self.open_run_folder(str(out)), "Eval run")

    def open_report_row(self, row: dict) -> None:
        """Open a report row's utterance in the compare view with its decoded audio, ready for A/B."""
        from workbench.reports import row_audio, row_roundtrip

        try:
            clip, decoded = row_audio(row)
        except UserError as exc:
            self.show_error("Cannot open the row", str(exc))
            return
        self._set_clip(clip)
        self.tabs.setCurrentWidget(self.compare)
        if decoded is not None:
            self.model.set_decoded(decoded, row_roundtrip(row, decoded, clip.sample_rate))
            self.compute_fast_metrics()
        else:
            self.start_roundtrip(codec=row.get("codec"))

    # ---- lifetime -----------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Ask before answers of a blind test in progress are lost; save the window layout, stop running work and
        release the audio devices."""
        if not self._may_leave_blind_test("Quit during the blind test?"):
            event.ignore()
            return
        self.settings.geometry = bytes(self.saveGeometry())
        self.settings.window_state = bytes(self.saveState())
        for task in list(self.background):
            task.cancel()
        self.player.close()
        self.blind_player.close()
        super().closeEvent(event)


def audio_io_device(name: str, kind: str) -> int | None:
    """The saved device by name, or the system default when it is gone or audio is unavailable."""
    try:
        return audio_io.device_index(name, kind)
    except UserError:
        return None


def _new_take_path(folder: Path) -> Path:
    """A file name for a take that no earlier take has (two takes can end within one second)."""
    stem = f"take-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}.wav", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.wav"
    return path


def _samples(audio) -> tuple[np.ndarray, int]:
    return audio.samples, audio.sample_rate

