"""The main window: a shell of docks, tabs, toolbars and menus that wires views to the controllers."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QProgressBar, QTabWidget, QToolBar

from codec.errors import UserError
from workbench.clip_model import ClipModel
from workbench.controllers.blind_tests import BlindTestController
from workbench.controllers.clip_info import ClipInfoController
from workbench.controllers.clips import ClipController
from workbench.controllers.codecs import CodecController
from workbench.controllers.compare import CompareController
from workbench.controllers.eval_runs import EvalController
from workbench.controllers.live import LiveController
from workbench.controllers.playback import PlaybackController
from workbench.controllers.prompts import Prompts
from workbench.controllers.recording import RecordingController
from workbench.controllers.task_runner import TaskRunner
from workbench.settings import Settings
from workbench.views.blind_test_view import BlindTestView
from workbench.views.codec_bar import CodecBar
from workbench.views.compare_view import CompareView
from workbench.views.library_view import LibraryView
from workbench.views.listen_bar import ListenBar
from workbench.views.live_view import LiveView
from workbench.views.metrics_panel import MetricsPanel
from workbench.views.report_view import ReportView
from workbench.views.versions_view import VersionsView


class MainWindow(QMainWindow):
    """Load or record a clip, round-trip it, compare, listen, measure, run blind tests and browse reports."""

    def __init__(self, settings: Settings | None = None):
        super().__init__()
        self.setWindowTitle("LFSC workbench")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.model = ClipModel()
        self._build_views()
        self._build_controllers()
        self._build_docks()
        self._build_toolbars()
        self._build_menus()
        self._build_status()
        self._connect()
        self._shortcuts()
        self.codecs.refresh()
        if self.settings.geometry:
            self.restoreGeometry(self.settings.geometry)
        else:
            self.resize(1500, 900)
        self.restoreState(self.settings.window_state)  # docks and toolbars where the user left them

    # ---- layout -------------------------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.codec_bar = CodecBar(self)
        self.listen_bar = ListenBar(self)
        self.compare = CompareView()
        self.versions = VersionsView(self.model)
        self.metrics = MetricsPanel(self.model)
        self.library = LibraryView()
        self.report = ReportView()
        self.live_view = LiveView()
        self.tabs = QTabWidget()

    def _build_controllers(self) -> None:
        self.prompts = Prompts(self)
        self.tasks = TaskRunner(self.prompts)
        self.codecs = CodecController(self.settings, self.codec_bar, self.prompts)
        self.playback = PlaybackController(self.settings, self.model, self.listen_bar, self.compare, self.prompts)
        self.drawing = CompareController(self.settings, self.model, self.compare, self.listen_bar, self.tasks)
        self.blind = BlindTestView(self.playback.blind_player)
        self.clips = ClipController(self.settings, self.model, self.library, self.codecs, self.tasks, self.prompts)
        self.clip_info = ClipInfoController(self.settings, self.model, self.library, self.prompts)
        self.recording = RecordingController(self.settings, self.model, self.clips, self.playback, self.prompts)
        self.blind_tests = BlindTestController(self.settings, self.blind, self.library, self.codecs, self.tasks,
                                               self.prompts)
        self.live = LiveController(self.settings, self.clips, self.prompts)
        self.evals = EvalController(self.settings, self.report, self.clips, self.codecs, self.tasks, self.prompts)

    def _build_docks(self) -> None:
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.blind, "Blind test")
        self.tabs.addTab(self.report, "Reports")
        self.setCentralWidget(self.tabs)
        left = QDockWidget("Clips", self)
        left.setWidget(self.library)
        left.setObjectName("clips")
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)
        versions = QDockWidget("Versions", self)
        versions.setWidget(self.versions)
        versions.setObjectName("versions")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, versions)
        right = QDockWidget("Metrics", self)
        right.setWidget(self.metrics)
        right.setObjectName("metrics")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, right)
        live = QDockWidget("Live", self)
        live.setWidget(self.live_view)
        live.setObjectName("live")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, live)
        self.resizeDocks([left, right], [400, 420], Qt.Orientation.Horizontal)  # two versions' values whole

    def _build_toolbars(self) -> None:
        files = QToolBar("Clip", self)
        files.setObjectName("clip")
        for text, slot in (("Open...", self.clips.open_dialog), ("Record...", lambda: self.recording.record()),
                           ("Mic round trip", self.recording.mic_roundtrip)):
            files.addAction(text, slot)
        self.addToolBar(files)
        self.addToolBar(self.codec_bar)
        self.addToolBarBreak()
        self.addToolBar(self.listen_bar)

    def _build_menus(self) -> None:
        files = self.menuBar().addMenu("&File")
        for text, slot in (("&Open...", self.clips.open_dialog), ("&Record...", lambda: self.recording.record()),
                           ("&Save clip as...", lambda: self.clips.save_signal("original")),
                           ("Save &decoded as...", lambda: self.clips.save_signal("decoded")),
                           ("Open eval &run folder...", lambda: self.evals.open_run_folder()), ("&Quit", self.close)):
            files.addAction(text, slot)
        self.audio_menu = self.menuBar().addMenu("&Audio")
        self.audio_menu.aboutToShow.connect(self._fill_audio_menu)

    def _fill_audio_menu(self) -> None:
        # Listed when opened, so devices plugged in meanwhile appear.
        self.audio_menu.clear()
        self.audio_menu.addSection("Playback device")
        try:
            names = self.playback.output_devices()
        except UserError as exc:
            self.audio_menu.addAction(str(exc)).setEnabled(False)
            return
        for name in names:
            action = self.audio_menu.addAction(name or "system default",
                                               lambda n=name: self.playback.set_output_device(n))
            action.setCheckable(True)
            action.setChecked(name == self.settings.output_device)

    def _build_status(self) -> None:
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.position_label = QLabel()
        self.statusBar().addPermanentWidget(self.position_label)
        self.statusBar().addPermanentWidget(self.progress)

    # ---- wiring -------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        self.prompts.status_shown.connect(self.statusBar().showMessage)
        self.tasks.started.connect(self._busy)
        self.tasks.progress.connect(self._show_progress)
        self.tasks.idle.connect(self._idle)
        self.tasks.cancellable_changed.connect(self.codec_bar.set_cancellable)
        self.codec_bar.cancel_requested.connect(self.tasks.cancel_toolbar)
        self.codec_bar.roundtrip_requested.connect(lambda: self.clips.start_roundtrip())
        self.playback.position_changed.connect(self.position_label.setText)
        self.metrics.cer_requested.connect(self.clips.compute_cer)
        self.metrics.speaker_requested.connect(self.clips.compute_speaker_similarity)
        self.versions.listen_requested.connect(self.playback.select_signal)
        self.versions.rename_requested.connect(self.model.rename_version)
        self.versions.remove_requested.connect(self.clips.remove_version)
        self.versions.pair_requested.connect(self.model.set_pair)
        self.playback.selection_changed.connect(self.versions.show_heard)
        self.evals.report_wanted.connect(lambda: self.tabs.setCurrentWidget(self.report))
        self.evals.compare_wanted.connect(lambda: self.tabs.setCurrentWidget(self.compare))
        self.model.clip_changed.connect(lambda: self.setWindowTitle(f"LFSC workbench - {self.model.clip.name}"))
        self.live_view.start_requested.connect(self.live.start)
        self.live_view.stop_requested.connect(self.live.finish)
        self.live_view.toggle_requested.connect(self.live.toggle)
        self.live.running_changed.connect(self.live_view.show_running)
        self.live.heard_changed.connect(self.live_view.show_heard)
        self.live.stats_changed.connect(self.live_view.show_stats)
        self.tabs.currentChanged.connect(
            lambda: self.playback.sound_only(blind_test_on_screen=self.tabs.currentWidget() is self.blind))

    def _shortcuts(self) -> None:
        keys = {
            Qt.Key.Key_Space: self.playback.toggle_play,
            Qt.Key.Key_A: lambda: self.playback.select_role("a"),
            Qt.Key.Key_B: lambda: self.playback.select_role("b"),
            Qt.Key.Key_D: lambda: self.playback.select_role("difference"),
            Qt.Key.Key_Left: lambda: self.playback.step(-1),
            Qt.Key.Key_Right: lambda: self.playback.step(1),
        }
        for key, slot in keys.items():
            QShortcut(QKeySequence(key), self, activated=lambda slot=slot: self._in_compare(slot))
        QShortcut(QKeySequence(Qt.Key.Key_L), self, activated=self.live.toggle)  # A/B while speaking, from any tab

    def _in_compare(self, slot) -> None:
        # The listening keys act on the compare view's signals; elsewhere they would play what is not on screen.
        if self.tabs.currentWidget() is self.compare:
            slot()

    def _busy(self, text: str) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.statusBar().showMessage(text)

    def _show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.statusBar().showMessage(text)

    def _idle(self) -> None:
        self.progress.setVisible(False)
        self.statusBar().clearMessage()

    # ---- lifetime -----------------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Accept dragged files."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Open the first dropped file."""
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.clips.open_file(urls[0].toLocalFile())

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Ask before answers of a blind test in progress are lost; save the window layout, stop running work and
        release the audio devices."""
        if not self.blind_tests.may_leave("Quit during the blind test?"):
            event.ignore()
            return
        self.settings.geometry = bytes(self.saveGeometry())
        self.settings.window_state = bytes(self.saveState())
        self.tasks.close()
        self.live.finish(keep=self.live_view.keep.isChecked())  # a session asked to be kept is kept
        self.playback.close()
        super().closeEvent(event)
