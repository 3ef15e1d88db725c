"""Eval runs from the app and their reports: start, cancel, open a run folder, open a row in the compare view."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from codec.errors import UserError
from codec.spec import sweep
from workbench.controllers.clips import ClipController
from workbench.controllers.codecs import CodecController
from workbench.controllers.prompts import Prompts
from workbench.controllers.task_runner import EVAL_RUN, TaskRunner
from workbench.settings import Settings
from workbench.views.report_view import ReportView
from workbench.workers import Task


class EvalController(QObject):
    """Runs the eval engine on a worker with progress and cancel, and shows run folders in the report view."""

    report_wanted = Signal()  # the report view should be on screen
    compare_wanted = Signal()  # the compare view should be on screen

    def __init__(self, settings: Settings, view: ReportView, clips: ClipController, codecs: CodecController,
                 tasks: TaskRunner, prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.view, self.clips = settings, view, clips
        self.codecs, self.tasks, self.prompts = codecs, tasks, prompts
        view.open_requested.connect(lambda: self.open_run_folder())
        view.run_requested.connect(self.new_eval_run)
        view.cancel_requested.connect(self.cancel_eval_run)
        view.row_activated.connect(self.open_report_row)

    def open_run_folder(self, folder: str | None = None) -> bool:
        """Show the rows of an eval run folder in the report table."""
        from workbench.reports import load_report

        if folder is None:
            folder = self.prompts.open_folder("Open an eval run folder")
            if not folder:
                return False
        try:
            report = load_report(folder)
        except UserError as exc:
            self.prompts.show_error("Cannot open the report", str(exc))
            return False
        self.view.set_rows(report.title, report.rows, report.columns)
        self.report_wanted.emit()
        return True

    def new_eval_run(self) -> None:
        """Ask which codecs and metrics to evaluate on the bundled speech, then start the run."""
        from workbench.views.run_dialog import RunDialog

        dialog = RunDialog(self.codecs.available(), self.codecs.codec(), self.settings.last_run_folder,
                           parent=self.prompts.widget)
        if not dialog.exec():
            return
        folder = dialog.chosen_folder()
        self.settings.last_run_folder = folder
        if not dialog.chosen_codecs() or not folder:
            self.prompts.show_error("Cannot start the run", "Tick at least one codec and choose an output folder.")
            return
        try:
            codecs = sweep(dialog.chosen_codecs(), dialog.chosen_conditions())
        except UserError as exc:
            self.prompts.show_error("Cannot start the run", str(exc))
            return
        self.start_eval_run(folder, codecs, dialog.metrics())

    def start_eval_run(self, folder: str, codecs: list[str], metrics: list[str] | None = None,
                       utterances=None) -> Task:
        """Run the eval engine (bundled speech by default) on a worker with progress and cancel, then show it."""
        from workbench.reports import run_eval

        self.view.set_busy(True)
        self.report_wanted.emit()
        running = self.tasks.running(EVAL_RUN)
        if running:
            self.prompts.show_error("An eval run is in progress", "Wait for it to finish or cancel it first.")
            return running[0]
        task = Task(run_eval, codecs, folder, utterances=utterances, metrics=metrics)
        task.progress.connect(self.view.show_progress)
        task.ended.connect(lambda: self.view.set_busy(False))
        return self.tasks.start(EVAL_RUN, task, lambda out: self.open_run_folder(str(out)), "Eval run")

    def cancel_eval_run(self) -> None:
        """Stop the eval run after the utterance in progress (rows written so far stay, a rerun resumes); the
        report view stays busy until the run has really stopped writing."""
        if self.tasks.cancel(EVAL_RUN):
            self.prompts.status("eval run cancelled: finishing the utterance in progress", 5000)

    def open_report_row(self, row: dict) -> None:
        """Open a report row's utterance in the compare view with its decoded audio, ready for A/B."""
        from workbench.reports import row_audio, row_roundtrip

        try:
            clip, decoded = row_audio(row)
        except UserError as exc:
            self.prompts.show_error("Cannot open the row", str(exc))
            return
        self.compare_wanted.emit()
        if decoded is not None:
            self.clips.show_clip(clip, decoded, row_roundtrip(row, decoded, clip.sample_rate))
        else:
            self.clips.show_clip(clip)
            self.clips.start_roundtrip(codec=row.get("codec"))
