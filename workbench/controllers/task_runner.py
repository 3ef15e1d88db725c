"""The one place that starts background work, shows its progress and cancels it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QObject, QThreadPool, Signal

from workbench.controllers.prompts import Prompts
from workbench.workers import Task


@dataclass(frozen=True)
class Kind:
    """What kind of work a task is, and how it lives beside other tasks of its kind."""

    name: str
    replaces: bool  # a new task of this kind cancels the running one; otherwise a second one is refused
    side_by_side: bool  # any number run at once (neither replaced nor refused)
    toolbar: bool  # the toolbar's cancel stops it
    until_ended: bool = False  # counts as running until its work has returned, not only until cancelled
    quiet: bool = False  # not shown as busy: redrawing the panes after a zoom must not flash the progress bar


OPENING = Kind("opening", replaces=True, side_by_side=False, toolbar=True)  # reading a file: long ones take seconds
ROUND_TRIP = Kind("round trip", replaces=True, side_by_side=False, toolbar=True)
METRICS = Kind("metrics", replaces=False, side_by_side=True, toolbar=True)
BLIND_TEST = Kind("blind test", replaces=True, side_by_side=False, toolbar=True)
# An eval run writes rows.jsonl until its current utterance is done, so it stays running after cancel.
EVAL_RUN = Kind("eval run", replaces=False, side_by_side=False, toolbar=False, until_ended=True)
DISPLAY = Kind("display", replaces=True, side_by_side=False, toolbar=False, quiet=True)


class TaskRunner(QObject):
    """Starts tasks by kind, reports their progress, and cancels them (by kind, from the toolbar, or all at exit)."""

    started = Signal(str)  # what is now being done
    progress = Signal(int, int, str)  # done, total (0 = unknown), what is happening
    idle = Signal()  # no task is running any more
    cancellable_changed = Signal(bool)  # whether the toolbar's cancel has work to stop

    def __init__(self, prompts: Prompts) -> None:
        super().__init__()
        self.prompts = prompts
        self._alive: dict[Task, Kind] = {}  # every task until it is done, kept referenced meanwhile
        self._running: dict[Kind, list[Task]] = {}
        self._held: dict[Task, bool] = {}  # every started task -> whether its end has reached this (GUI) thread
        self._closed = False
        # Wider than the cores: a cancelled codec call still running to its end, or Whisper loading for a CER,
        # must not hold the next round trip in the queue unseen.
        pool = QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 8))

    def start(self, kind: Kind, task: Task, on_success: Callable[[object], None], busy_text: str) -> Task | None:
        """Start `task`; successes go to `on_success`, failures to a message titled after `busy_text`. None when a
        task of a kind that runs one at a time is running already, or once the window has closed (a redraw timer
        firing after close must not deliver into deleted views)."""
        if self._closed:
            return None
        running = self._running.setdefault(kind, [])
        if running and not kind.side_by_side:
            if not kind.replaces:
                return None
            for previous in list(running):
                previous.cancel()
        running.append(task)
        self._alive[task] = kind
        self._held[task] = False
        self._let_go()
        # A result queued just before cancel() must not land either.
        task.succeeded.connect(lambda result: None if task.cancel_flag.is_set() else on_success(result))
        task.failed.connect(lambda message: None if task.cancel_flag.is_set()
                            else self.prompts.show_error(f"{busy_text} failed", message))
        task.progress.connect(self.progress)
        task.done.connect(lambda: self._done(kind, task))
        task.ended.connect(lambda: self._ended(kind, task))
        if not kind.quiet:
            self.started.emit(busy_text + "...")
        self.cancellable_changed.emit(self.cancellable())
        return task.start()

    def running(self, kind: Kind | None = None) -> list[Task]:
        """The running tasks of `kind`, or every task not yet done when None."""
        return list(self._alive) if kind is None else list(self._running.get(kind, []))

    def cancellable(self) -> bool:
        """Whether the toolbar's cancel has work to stop."""
        return any(tasks for kind, tasks in self._running.items() if kind.toolbar)

    def cancel(self, *kinds: Kind) -> bool:
        """Cancel every running task of `kinds`; whether there was any."""
        tasks = [task for kind in kinds for task in self._running.get(kind, []) if not task.cancel_flag.is_set()]
        for task in tasks:
            task.cancel()
        return bool(tasks)

    def cancel_toolbar(self) -> None:
        """What the toolbar's cancel stops: the round trip, metrics and blind-test preparation."""
        if self.cancel(*(kind for kind in list(self._running) if kind.toolbar)):
            self.prompts.status("cancelled", 3000)

    def cancel_all(self) -> None:
        """Cancel every task."""
        for task in list(self._alive):
            task.cancel()

    def close(self) -> None:
        """Cancel every task and start no more: the window is closing."""
        self._closed = True
        self.cancel_all()

    def _done(self, kind: Kind, task: Task) -> None:
        self._alive.pop(task, None)
        if not kind.until_ended:
            self._forget(kind, task)
        self.cancellable_changed.emit(self.cancellable())
        if not kind.quiet and all(other.quiet for other in self._alive.values()):
            self.idle.emit()

    def _ended(self, kind: Kind, task: Task) -> None:
        if kind.until_ended:
            self._forget(kind, task)
        self._held[task] = True
        self._let_go()

    def _let_go(self) -> None:
        """Drop the tasks whose end has been handled here and whose worker thread holds them no more (so none is
        emitting): their connections hold closures over the task and what its caller handed on_success (a clip, a
        folder), which would otherwise live as long as the window; the task is then freed on this thread."""
        for task in [t for t, ended in self._held.items() if ended and t.released.is_set()]:
            for signal in (task.succeeded, task.failed, task.progress, task.done, task.ended):  # all connected above
                signal.disconnect()
            del self._held[task]

    def _forget(self, kind: Kind, task: Task) -> None:
        if task in self._running.get(kind, []):
            self._running[kind].remove(task)
