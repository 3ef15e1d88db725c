"""Run slow work (round trips, metrics, eval runs) off the GUI thread with progress, cancel and clear errors."""

from __future__ import annotations

import os
import sys
import threading
import traceback
import weakref
from functools import partial
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from codec.errors import user_message


BACKGROUND_NICENESS = 5  # how much lower than the GUI thread background work runs (Linux)
_niced = threading.local()


def run_in_background() -> None:
    """Lower the calling worker thread's CPU priority once, so that on a busy machine the GUI thread gets the CPU
    before work that only makes the user wait longer (Linux sets a nice value per thread; elsewhere nothing)."""
    if getattr(_niced, "done", False) or not sys.platform.startswith("linux"):
        return
    _niced.done = True
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICENESS, 19))
    except OSError:  # not allowed here: the work runs at the GUI thread's priority, as before
        pass


class Cancelled(Exception):
    """Raised inside a task by `Task.report` once the user pressed cancel."""


class Task(QObject):
    """A function run on the thread pool; it receives the task so it can report progress and notice cancel.

    A result that arrives after `cancel()` is dropped, so the window moves on at once even when the work (such as
    one codec call) cannot be interrupted halfway.
    """

    progress = Signal(int, int, str)  # done, total (0 = unknown), what is happening
    succeeded = Signal(object)
    failed = Signal(str)  # a message that says what happened and what to do
    cancelled = Signal()
    done = Signal()  # after any of the three outcomes
    ended = Signal()  # the work has returned: after `done`, or later for work still running when cancelled

    def __init__(self, fn: Callable[..., object], *args, **kwargs):
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._cancel = threading.Event()
        self.released = threading.Event()  # set once the worker thread holds no reference to the task any more

    @property
    def cancel_flag(self) -> threading.Event:
        """The event set by `cancel()`, for work that polls a flag (such as eval.runner.run)."""
        return self._cancel

    def cancel(self) -> None:
        """Ask the work to stop; its result, if any, will be ignored."""
        if not self._cancel.is_set():
            self._cancel.set()
            self.cancelled.emit()
            self.done.emit()

    def report(self, done: int, total: int = 0, text: str = "") -> None:
        """Called by the work: publish progress, or stop here when cancelled."""
        self.check()
        self.progress.emit(done, total, text)

    def check(self) -> None:
        """Called by the work between steps too small to report (a metric's windows): stop here when cancelled."""
        if self._cancel.is_set():
            raise Cancelled

    def start(self, pool: QThreadPool | None = None) -> "Task":
        """Queue the work on `pool` (the global pool by default). The caller keeps the task until `released`: the
        worker holds it only while working, so the task is freed on the caller's thread, as a QObject must be."""
        (pool or QThreadPool.globalInstance()).start(QRunnable.create(partial(_work, weakref.ref(self), self.released)))
        return self

    def run_here(self) -> object:
        """Run synchronously on the calling thread (screenshots, scripts) and return the result."""
        return self._fn(*self._args, task=self, **self._kwargs)

    def _run(self) -> None:
        run_in_background()
        try:
            self._outcome()
        finally:
            # The work's inputs (a long clip's samples) go now: the task itself may outlive its work.
            self._fn, self._args, self._kwargs = None, (), {}
            self.ended.emit()

    def _outcome(self) -> None:
        try:
            result = self._fn(*self._args, task=self, **self._kwargs)
        except Cancelled:
            return
        except Exception as exc:
            message = user_message(exc)
            if message is None:  # a bug: show it rather than dying silently
                traceback.print_exc()
                message = f"unexpected error ({type(exc).__name__}: {exc}); please report it"
            outcome, payload = self.failed, message
        else:
            outcome, payload = self.succeeded, result
        if self._cancel.is_set():
            return
        outcome.emit(payload)
        self.done.emit()


def _work(task_ref: weakref.ref, released: threading.Event) -> None:
    """The worker's side of `Task.start`: run the task, then let go of it and say so."""
    task = task_ref()
    try:
        if task is not None:
            task._run()
    finally:
        del task
        released.set()
