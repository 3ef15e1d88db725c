"""Reading and writing files safely: an input is a regular file, an output never replaces an input, a folder or a
device, and a crash or an error never leaves a half-written file where a finished one belongs."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Iterator

from codec.errors import UserError

_KINDS = ((stat.S_ISDIR, "is a folder"), (stat.S_ISFIFO, "is a FIFO (named pipe)"),
          (stat.S_ISCHR, "is a character device"), (stat.S_ISBLK, "is a block device"), (stat.S_ISSOCK, "is a socket"))


def _kind(mode: int) -> str:
    return next((kind for test, kind in _KINDS if test(mode)), "is not a regular file")


def input_file(path: str | os.PathLike) -> Path:
    """`path`, checked before anything opens it to be a regular file (links followed): a FIFO would block the
    reader, a device never end, a folder fail obscurely; each is refused with a UserError that names what it is."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"{path}: no such file") from None
    if not stat.S_ISREG(mode):
        raise UserError(f"{path}: {_kind(mode)}, not a regular file: give a file")
    return path


def check_output_file(path: str | os.PathLike, *inputs: str | os.PathLike) -> None:
    """Raise a UserError unless a new file can take the place of `path`: it must not be a folder or a special
    file (renaming over a device would replace it), lie below a file, or be one of `inputs` (which it would
    replace), links followed as `replacing` follows them."""
    path = Path(path)
    target = _followed(path)
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is None:
        folder = next(p for p in target.absolute().parents if p.exists())  # the root always exists
        if not folder.is_dir():
            raise UserError(f"{path}: {folder} is a file, not a folder: give another output path")
        return
    if not stat.S_ISREG(mode):
        raise UserError(f"{path}: {_kind(mode)}, not a file: give a file path for the output")
    for source in inputs:
        if os.path.exists(source) and os.path.samefile(target, source):
            raise UserError(f"{path}: is the input {source}: writing it would replace the input; give another output path")


def _followed(path: Path) -> Path:
    """What a symbolic link names, to the end of a chain of them; a loop of links is left for stat to refuse
    (ELOOP, which codec.errors.user_message words), where Path.resolve raised a RuntimeError."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside `path` (same suffix) to write in the block; it is synced and renamed over `path`
    when the block succeeds (readers see the old file or the whole new one), and removed when it fails. A
    symbolic link stays a link: its target is what gets replaced. A file-system error names `path`, not the
    temporary file."""
    check_output_file(path)
    path = _followed(Path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name the writer creates itself, so the file gets the usual permissions (mkstemp's are 0600).
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.partial{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if path.exists():
            shutil.copymode(path, tmp)  # a file the user made read-only for others stays so
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)
    except OSError as exc:
        if exc.errno is None or exc.filename not in (None, str(tmp)):
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None  # the user asked for `path`, never saw `tmp`
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` through `replacing`."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
