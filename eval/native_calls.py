"""Native code that holds Python's GIL for long run in a child process when the caller asks: PESQ's C code holds it
for a whole piece (0.3 s on a quiet machine, over 2 s under load), and the app's window, whose thread needs the GIL
to repaint, froze while a worker thread scored a long clip. In the child only a worker's wait is spent here.
The same function on the same inputs: the values are those of the call made here."""

from __future__ import annotations

import functools
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Callable, Iterator

_local = threading.local()


@contextmanager
def in_child_process() -> Iterator[None]:
    """Within the block, `call` on this thread runs its function in a child process (one, started on first use)."""
    before = getattr(_local, "child", False)
    _local.child = True
    try:
        yield
    finally:
        _local.child = before


def call(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args): here, or inside `in_child_process` in the child (whose exceptions are raised here); `fn` and its
    arguments must pickle."""
    if not getattr(_local, "child", False):
        return fn(*args)
    try:
        return _child().submit(fn, *args).result()
    except BrokenProcessPool:
        _child.cache_clear()  # the child died (killed, out of memory): the next call starts another
        raise


@functools.cache
def _child() -> ProcessPoolExecutor:
    # spawn: a fork of a process with Qt's and torch's threads running is not safe.
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
