"""The blind-test lifecycle: plan or resume a test, render its stimuli, save answers as they come and the results."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject

from codec.audio import load_audio
from codec.errors import UserError
from eval.listening import anchors_for
from workbench import roundtrip, unfinished
from workbench.blind_test import BlindTest, write_results
from workbench.controllers.codecs import CodecController
from workbench.controllers.prompts import Prompts
from workbench.controllers.task_runner import BLIND_TEST, TaskRunner
from workbench.mushra import KIND as MUSHRA
from workbench.mushra import MushraTest
from workbench.settings import Settings
from workbench.views.blind_test_view import BlindTestView
from workbench.views.library_view import LibraryView
from workbench.workers import Task

Clips = dict[str, tuple[np.ndarray, int]]


class BlindTestController(QObject):
    """Prepares tests on a worker, runs them in the blind-test view and keeps every answer on disk."""

    def __init__(self, settings: Settings, view: BlindTestView, library: LibraryView, codecs: CodecController,
                 tasks: TaskRunner, prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.view, self.library = settings, view, library
        self.codecs, self.tasks, self.prompts = codecs, tasks, prompts
        self.progress_path: Path | None = None  # where the running test's answers so far are saved
        self._progress_failed = False  # that save failed once already (said once per test)
        view.start_requested.connect(self.start)
        view.resume_requested.connect(lambda: self.resume())
        view.save_requested.connect(lambda: self.save_results())
        view.finished.connect(self._autosave_results)
        view.progressed.connect(self._save_progress)
        view.error.connect(prompts.show_error)
        codecs.available_changed.connect(view.set_codecs)

    def start(self, kind: str, codecs: list, seed, repeats: int, clip_count: int, listener: str = "") -> Task | None:
        """Render every chosen clip through every chosen codec on a worker, then run the session."""
        if not self.may_leave("Stop the test in progress?"):
            return None
        rows = self.library.rows_for_test(clip_count)
        ids = [r["id"] for r in rows]
        try:
            clips = _load_clips(rows)
            if kind == MUSHRA:
                anchors = anchors_for(min((sr for _, sr in clips.values()), default=0))
                session = MushraTest.plan(ids, list(codecs), seed=seed, repeats=repeats, listener=listener,
                                          anchors=anchors)
            else:
                session = BlindTest.plan(kind, ids, list(codecs), seed=seed, repeats=repeats, listener=listener)
        except UserError as exc:
            self.prompts.show_error("Cannot start the test", str(exc))
            return None
        return self._prepare(session, clips, progress_path=None)

    def resume(self, path: str | None = None) -> Task | None:
        """Go on with the unfinished test saved in `path` (asked for when None): render its clips again, then run
        it from its first unanswered trial, saving into the same file."""
        if path is None:
            path = self.prompts.open_file("Resume an unfinished test", str(self.settings.blind_results_dir),
                                          "Unfinished tests (unfinished-blind-*.json);;JSON (*.json)")
            if not path:
                return None
        path = Path(path)
        session = self.view.session
        running = session is not None and not session.finished and self.progress_path
        if running and path.resolve() == running.resolve():
            self.prompts.show_error("Cannot resume the test", f"{path.name} is the test under way: go on with it here")
            return None
        if not self.may_leave("Stop the test in progress?"):
            return None
        try:
            session = unfinished.resume(path)
            clips = _load_clips(self.library.rows_with_ids(list(dict.fromkeys(session.planned["clips"]))))
        except UserError as exc:
            self.prompts.show_error("Cannot resume the test", str(exc))
            return None
        if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
            return self._prepare(session, clips, progress_path=path)
        # Saved elsewhere from now on; the read-only file must not be resumed (and its results pooled) twice.
        self.prompts.show_error("The unfinished file cannot be changed", f"{path} is read-only: the test goes on "
                                "saving to a new unfinished file in the blind-tests folder. Delete the old one once "
                                "it is finished.")
        return self._prepare(session, clips, progress_path=None)

    def may_leave(self, question: str) -> bool:
        """No test under way with answers, or the user says `question` yes (its answers stay saved either way)."""
        return not self.view.in_progress or self.prompts.confirm(
            "Blind test in progress", f"{question} Its answers so far stay in the blind-tests folder as "
            "unfinished-blind-*.json: Resume an unfinished test... goes on with it later."
        )

    def save_results(self, path: str | None = None) -> Path | None:
        """Save the finished session as CSV or JSON."""
        session = self.view.session
        if session is None:
            return None
        if path is None:
            path = self.prompts.save_file("Save results", f"blind-{session.kind}-{session.seed}.csv",
                                          "CSV (*.csv);;JSON (*.json)")
            if not path:
                return None
        try:
            return session.save(path)
        except (UserError, OSError) as exc:
            self.prompts.show_error("Cannot save the results", str(exc))
            return None

    def _prepare(self, session: BlindTest | MushraTest, clips: Clips, progress_path: Path | None) -> Task:
        rates = {clip_id: sr for clip_id, (_, sr) in clips.items()}
        device = self.codecs.device()
        if session.kind == MUSHRA:
            task = Task(roundtrip.render_and_measure, clips, session.conditions, device, self.codecs.cache)

            def begin(result) -> None:
                stimuli, session.objective = result
                self._begin(session, stimuli, rates, progress_path)
        else:
            task = Task(roundtrip.render_stimuli, clips, session.planned["codecs"], device, self.codecs.cache)

            def begin(stimuli) -> None:
                self._begin(session, stimuli, rates, progress_path)
        return self.tasks.start(BLIND_TEST, task, begin, "Preparing the test")

    def _begin(self, session: BlindTest | MushraTest, stimuli: dict, rates: dict[str, int],
               progress_path: Path | None) -> None:
        # Named apart from finished results, so that pooling "blind-mushra-*.json" never takes an unfinished test; a
        # resumed test goes on saving into its own file.
        self.progress_path = progress_path or (self.settings.blind_results_dir /
                                               f"unfinished-blind-{session.kind}-{session.seed}-{_now()}.json")
        self._progress_failed = False
        self.view.begin(session, stimuli, rates)

    def _save_progress(self) -> None:
        """Save the answers given so far, so that a crash or an abandoned test loses none of them."""
        try:
            write_results(self.progress_path, *self.view.session.progress())
        except (UserError, OSError) as exc:
            if not self._progress_failed:  # said once per test, not after every trial
                self.prompts.show_error("The answers so far are not saved", f"{self.progress_path} could not be "
                                        f"written ({exc}); the test goes on, and its results are saved at the end "
                                        "if the folder allows.")
            self._progress_failed = True

    def _autosave_results(self) -> None:
        session = self.view.session
        path = self.settings.blind_results_dir / f"blind-{session.kind}-{session.seed}-{_now()}.json"
        try:
            session.save(path)
        except (UserError, OSError) as exc:
            self.prompts.show_error("The results are not saved", f"{path} could not be written ({exc}): use Save "
                                    "results.")
            return
        with contextlib.suppress(OSError):
            self.progress_path.unlink(missing_ok=True)  # the finished results hold every answer
        self.view.note(f"\nsaved as {path}")
        self.prompts.status(f"blind-test results saved as {path}", 8000)


def _load_clips(rows: list[dict]) -> Clips:
    """Each row's audio by clip id, as (samples, rate)."""
    clips = {}
    for row in rows:
        audio = load_audio(row["utterance"].audio_path)
        clips[row["id"]] = (audio.samples, audio.sample_rate)
    return clips


def _now() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}"
