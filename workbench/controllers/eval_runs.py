"""Eval runs from the app and their reports: start, cancel, open a run folder, open a row in the compare view."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

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
        view.html_requested.connect(lambda: self.open_html_report())
        self.folder: Path | None = None  # the run folder on screen

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
        self._show(report)
        return True

    def _show(self, report, title: str | None = None) -> None:
        from workbench.report_summary import summary_rows

        self.folder = Path(report.rows[0]["folder"]) if report.rows else None
        self.view.set_rows(title or report.title, report.rows, report.columns)
        self.view.set_summary(*summary_rows(report.rows))
        self.report_wanted.emit()

    def open_html_report(self) -> Task | None:
        """Open the HTML report of the run on screen in the browser, writing it first if the run has none (a
        cancelled run)."""
        from workbench.report_summary import write_html

        if self.folder is None:
            return None
        html = self.folder / "report.html"
        if html.is_file():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(html)))
            return None
        return self.tasks.start(EVAL_RUN, Task(write_html, self.folder),
                                lambda path: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))),
                                "Writing the HTML report")

    def new_eval_run(self) -> None:
        """Ask which clips, codecs and metrics to evaluate, then start the run."""
        from workbench.views.run_dialog import RunDialog

        library = self.clips.library
        dialog = RunDialog(self.codecs.available(), self.codecs.codec(), self.settings.last_run_folder,
                           bundled=library.utterances() or _bundled(), chosen=library.utterances(selected=True),
                           parent=self.prompts.widget)
        if dialog.exec():
            self.start_from(dialog)

    def start_from(self, dialog) -> Task | None:
        """Start the run an accepted run dialog describes (or say in one line why it cannot start)."""
        folder = dialog.chosen_folder()
        self.settings.last_run_folder = folder
        if not dialog.chosen_codecs() or not folder:
            self.prompts.show_error("Cannot start the run", "Tick at least one codec and choose an output folder.")
            return None
        try:
            codecs = sweep(dialog.chosen_codecs(), dialog.chosen_conditions())
            utterances = dialog.chosen_utterances()
        except UserError as exc:
            self.prompts.show_error("Cannot start the run", str(exc))
            return None
        return self.start_eval_run(folder, codecs, dialog.metrics(), utterances)

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
        task.ended.connect(lambda: self._ended(task, folder))
        return self.tasks.start(EVAL_RUN, task, lambda out: self.open_run_folder(str(out)), "Eval run")

    def _ended(self, task: Task, folder: str) -> None:
        """The run has stopped writing: after a cancel, show the rows it finished and say so (no stale text)."""
        from workbench.reports import load_report

        self.view.set_busy(False)
        if not task.cancel_flag.is_set():
            return
        try:
            report = load_report(folder)
        except UserError:
            self.prompts.status("eval run cancelled before its first row was finished", 8000)
            return
        self._show(report, f"Cancelled; {report.title}. A new run into the same folder goes on from here.")
        self.prompts.status(f"eval run cancelled: {len(report.rows)} rows kept in {folder}", 8000)

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
            self.clips.show_clip(clip, decoded, row_roundtrip(row, clip, decoded))
        else:
            self.clips.show_clip(clip)
            self.clips.start_roundtrip(codec=row.get("codec"))


def _bundled() -> list:
    """The bundled speech set (none when this checkout lacks it: the dialog then offers one's own clips)."""
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    try:
        return load_manifest(default_manifest())
    except UserError:
        return []
