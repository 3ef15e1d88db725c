"""The processes a run computes its CPU metrics in (`--jobs` > 1): started with Ctrl-C held back, ignoring it, and
ending with the run, even when it is killed outright."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Generic, Iterator, TypeVar

from eval import pair

Item = TypeVar("Item")


class MetricPool(Generic[Item]):
    """Pairs scored in `jobs` processes; each pair's work is tagged with an item of the caller's, given back with
    its results."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        threads = max(1, (os.cpu_count() or 1) // jobs)
        self._pool = ProcessPoolExecutor(jobs, mp_context=_spawn(), initializer=_worker_init,
                                         initargs=(os.getpid(), threads))
        self._pending: dict[Future, Item] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, item: Item, scored: pair.Pair, names: tuple[str, ...]) -> None:
        """Score `names` on the pair in a worker."""
        with _sigint_blocked():  # a worker this starts inherits the blocked Ctrl-C until it ignores it
            self._pending[self._pool.submit(pair.score, scored, names)] = item

    def finished(self, block: bool) -> list[tuple[Item, dict[str, pair.Result]]]:
        """The items whose work has finished, with its results (waiting for at least one when `block`)."""
        if not self._pending:
            return []
        done, _ = wait(list(self._pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        return [(self._pending.pop(f), f.result()) for f in done]

    def close(self) -> None:
        """Stop the workers, dropping work not yet started."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _spawn():
    import multiprocessing

    # fork after torch/CTranslate2 have started threads can deadlock the children
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Ctrl-C held back in this thread for the block: a process started here inherits the mask, so a Ctrl-C that
    reaches it while it starts waits until `_worker_init` ignores it, instead of a traceback from its imports."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _worker_init(parent: int, threads: int) -> None:
    """Pool workers leave Ctrl-C to the run (which stops, keeps its rows and says how to resume) and end with it:
    a run killed outright (kill -9) must not leave its workers behind. Each keeps to its share of the cores:
    `jobs` workers that each start a thread per core fight over them, and --jobs 2 ran slower than --jobs 1."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C pending since the worker started is dropped here
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_end_with_parent, args=(parent,), name="end-with-parent", daemon=True).start()
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch when a metric first imports it
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # the BLAS and OpenMP pools numpy and scipy have loaded already


def _end_with_parent(parent: int) -> None:
    # A worker whose parent has gone is adopted by another process: end then, whatever it is doing.
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)
