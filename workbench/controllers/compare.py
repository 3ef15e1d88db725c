"""Keeps the compare view drawn: the signals compared, at the resolution of the screen, redrawn off the GUI thread
whenever the clip, the compared pair, the spectrogram options or the visible range change."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer

from workbench import display
from workbench.clip_model import ClipModel
from workbench.controllers.task_runner import DISPLAY, TaskRunner
from workbench.settings import Settings
from workbench.views.compare_view import CompareView
from workbench.views.listen_bar import ListenBar
from workbench.workers import Task

SETTLE_MS = 30  # a zoom or a drag moves the range many times a second: draw once it settles


class CompareController(QObject):
    """Asks the task runner for display-resolution drawings and hands the latest one to the compare view."""

    def __init__(self, settings: Settings, model: ClipModel, view: CompareView, bar: ListenBar,
                 tasks: TaskRunner) -> None:
        super().__init__()
        self.settings, self.model, self.view, self.tasks = settings, model, view, tasks
        self._scales: dict[str, display.Scale] = {}  # by key of signal A, for the current clip
        self._latest: Task | None = None
        self.timer = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self.timer.timeout.connect(self._draw)
        bar.set_view_options(settings.log_frequency, settings.db_range)
        view.set_view_options(settings.log_frequency, settings.db_range)
        bar.view_options_changed.connect(self._view_options_changed)
        view.range_changed.connect(self.redraw)
        model.clip_changed.connect(self._clip_changed)
        model.decoded_changed.connect(self._pair_changed)

    @property
    def drawing(self) -> bool:
        """True until the panes show the latest state (a drawing is wanted or being made)."""
        return self.timer.isActive() or self._latest is not None

    def redraw(self) -> None:
        """Draw again once the range has settled (any earlier request is folded into this one)."""
        if self.model.clip is not None:
            self.timer.start()

    def _clip_changed(self) -> None:
        clip = self.model.clip
        self._scales = {}
        lang = f"[{clip.lang}] " if clip.lang else ""
        self.view.show_clip(len(clip.samples) / clip.sample_rate,
                            f"{clip.name}: {lang}{clip.transcript or '(no transcript)'}")
        self._pair_changed()

    def _pair_changed(self) -> None:
        a, b = self.model.pair
        self.view.set_titles(self.model.label(a), self.model.label(b) if b else "")
        self.redraw()

    def _view_options_changed(self, log_frequency: bool, db_range: int) -> None:
        self.settings.log_frequency = log_frequency
        self.settings.db_range = db_range
        self.view.set_view_options(log_frequency, db_range)
        self.redraw()

    def _draw(self) -> None:
        clip = self.model.clip
        if clip is None:
            return
        a, b = self.model.pair
        signals: dict[str, np.ndarray | None] = {"a": self.model.signal(a), "b": self.model.signal(b) if b else None}
        task = Task(display.draw, signals, clip.sample_rate, self.view.visible_range(), self.view.columns(),
                    self.view.log_frequency, self.view.db_range, self._scales.get(a))

        def drawn(drawing: display.Drawing) -> None:
            if self.model.clip is clip and self.model.pair == (a, b):  # not a drawing of what is gone
                self._scales[a] = drawing.scale
                self.view.show_drawing(drawing)

        self._latest = task
        task.done.connect(lambda: self._finished(task))  # after `drawn`, and after a failure or a cancel too
        self.tasks.start(DISPLAY, task, drawn, "Drawing")

    def _finished(self, task: Task) -> None:
        if self._latest is task:
            self._latest = None
