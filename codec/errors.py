"""The one exception type for user mistakes, and the one place where errors a user can act on become one line:
every command-line tool runs through `run_cli`, and the app shows `user_message` in a message box."""

from __future__ import annotations

import errno
import sys
from typing import Callable


class UserError(Exception):
    """Bad input the user can fix (missing file, not audio, wrong checkpoint...); the message says what to do."""


# File-system faults are the user's to fix (a read-only folder, a full disk, a path through a file), not bugs.
_ERRNO_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
    errno.EACCES: "permission denied: pick a folder you can write to, or change its permissions",
    errno.EPERM: "not permitted: pick another path",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EISDIR: "is a folder, not a file: give a file path",
    errno.ENOTDIR: "a part of this path is a file, not a folder: give another path",
    errno.EEXIST: "already exists: give another path",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the name is too long: give a shorter path",
    errno.ELOOP: "too many symbolic links: give the real path",
    errno.EFBIG: "the file is too large for this file system: write elsewhere",
    errno.EMFILE: "too many open files: close other programs and try again",
}


def user_message(exc: BaseException) -> str | None:
    """The one line a user sees for an error they can act on; None for anything else (a bug, which keeps its
    traceback so that it can be reported)."""
    if isinstance(exc, UserError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "out of memory: close other programs, or use shorter input"
    elif isinstance(exc, OSError) and exc.errno in _ERRNO_HINTS:
        where = exc.filename if exc.filename is not None else ""
        if exc.filename2 is not None:
            where = f"{where} -> {exc.filename2}"
        text = f"{where}: {_ERRNO_HINTS[exc.errno]}" if where else _ERRNO_HINTS[exc.errno]
    else:
        return None
    return " ".join(text.split())  # one line, whatever the message held


def run_cli(prog: str, body: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run a command's body: a user error prints `prog: error: <one line>` and returns 2; Ctrl-C prints one line
    and returns 130; anything else is a bug and raises with its traceback."""
    try:
        return body() or 0
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
