"""Cancel inside a long metric: the caller installs a check for its thread, and the metrics that work a window or
piece at a time call `checkpoint()` between them, so a cancelled 10-minute DistillMOS stops within one window
instead of running on for minutes after the user moved on."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

_local = threading.local()


@contextmanager
def interruptible(check: Callable[[], None] | None) -> Iterator[None]:
    """Within the block, `checkpoint()` on this thread calls `check`, which raises to stop the work (None: no check)."""
    before = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = before


def checkpoint() -> None:
    """Give the installed check a chance to stop the work here (nothing when none is installed on this thread)."""
    check = getattr(_local, "check", None)
    if check is not None:
        check()
