"""The run folder of `lfsc-eval run`: what it holds, who may write it, which configuration it belongs to, and the
one reader and one writer of its rows.

A run folder holds run.json (what produced its numbers, with the `configuration` that identifies them), rows.jsonl
(one row per utterance x codec, appended as each is produced), skipped.json, the report files, the decoded audio
under audio/ when it is kept, and run.lock, which a run holds (flock) from its start to its end. The tool names
every file it writes there itself: nothing an input says (an audio path, an utterance id) decides where it writes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf

from codec.errors import UserError
from codec.files import replacing, write_text_atomic
from eval.row import Row

ROWS = "rows.jsonl"
RUN_MANIFEST = "run.json"
SKIPPED = "skipped.json"  # utterances whose audio could not be read: {utt_id: {"audio": path, "reason": why}}
LOCK = "run.lock"
REPORT_FILES = ("rows.csv", "summary.json", "summary.md", "report.html")  # written by eval.report
AUDIO = "audio"
NAMED_FILES = (ROWS, RUN_MANIFEST, SKIPPED, LOCK, *REPORT_FILES)
HOLDER_READS = 40  # reads of the lock's holder line, 50 ms apart: the holder writes it just after locking
NEW_RUN = "give a new folder for this run (another --out); the cache keeps what is already computed"


def prepare(out: Path) -> None:
    """Create the run folder, or check that an existing folder is one (an empty folder becomes one): a file, or a
    folder of other things whose files a report could replace, is refused."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: is a file, not a folder: give a folder for the run (--out)")
    if out.is_dir() and not (out / RUN_MANIFEST).is_file() and any(p.name != LOCK for p in out.iterdir()):
        raise UserError(f"{out}: holds files but is not an lfsc-eval run folder (no {RUN_MANIFEST}): give a new or "
                        "empty folder for the run (--out)")
    out.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the run folder's lock for the block: one run at a time writes a folder. Another run holding it is
    refused in one line that names it; the kernel releases the lock whenever the holder ends, even by kill -9."""
    try:  # not truncated on opening: the holder's line is read below
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise UserError(f"{out / LOCK}: is a symbolic link, not a lock file: remove it, or give another folder "
                        "(--out)") from None
    try:
        state = os.fstat(fd)
        if not stat.S_ISREG(state.st_mode) or state.st_nlink != 1:  # emptied below: it must be the run's own
            raise UserError(f"{out / LOCK}: is not a lock file of its own (a special file, or a link to another "
                            "file): remove it, or give another folder (--out)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise UserError(f"{out} is in use by another run ({holder}): wait for it to end, or give another "
                            "folder (--out)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
                 .encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # while still held: a later reader never takes an ended run's line for its holder's
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """The line the lock's holder wrote: it writes it just after taking the lock, so a run refused in between reads
    again for a moment rather than name no holder."""
    for _ in range(HOLDER_READS):
        line = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip()
        if line:
            return line
        time.sleep(0.05)
    return "which one is not yet written"


def read_skipped(out: Path) -> dict[str, dict]:
    """The utterances of a run folder that could not be read, and why ({} when there are none)."""
    path = Path(out) / SKIPPED
    if not path.is_file():
        return {}
    try:
        skipped = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        skipped = None
    if not isinstance(skipped, dict) or not all(isinstance(v, dict) for v in skipped.values()):
        raise UserError(f"{path}: damaged: delete it (the next run over the folder writes it again)")
    return skipped


def write_skipped(out: Path, skipped: dict[str, dict]) -> None:
    """Record the utterances that could not be read (removing the record when there are none)."""
    if skipped:
        write_text_atomic(out / SKIPPED, json.dumps(skipped, indent=2, ensure_ascii=False))
    else:
        (out / SKIPPED).unlink(missing_ok=True)


def read_manifest(out: Path) -> dict | None:
    """The folder's run.json (None when there is none yet)."""
    path = out / RUN_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{path}: damaged ({exc}): the run folder cannot be trusted; {NEW_RUN}") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: damaged (not a JSON object): the run folder cannot be trusted; {NEW_RUN}")
    return manifest


def resume(out: Path, configuration: dict) -> dict | None:
    """The folder's run.json when this run may add to it (None for a folder without rows, which starts afresh).

    A folder's rows belong to one configuration (`configuration`: the codecs' settings, the metrics and their
    versions, the normaliser, the sanity checks, the resampler): a run with another one is refused, naming what
    differs, since its run.json would credit the folder's numbers to settings that did not produce them. Codecs new
    to the folder are added; the folder's other codecs keep their rows.
    """
    previous = read_manifest(out)
    if previous is None or not read_rows(out).rows:
        return None
    stored = previous.get("configuration")
    if not isinstance(stored, dict) or not isinstance(stored.get("codecs"), dict):
        raise UserError(f"{out}: its rows come from an older lfsc-eval that did not record what identifies their "
                        f"numbers: {NEW_RUN}")
    differences = configuration_differences(stored, json.loads(json.dumps(configuration)))  # as run.json holds it
    if differences:
        raise UserError(f"{out}: its rows were computed with other settings ({'; '.join(differences)}): {NEW_RUN}")
    return previous


def configuration_differences(stored: dict, current: dict) -> list[str]:
    """What differs between two configurations, said briefly; codecs only one of them has are no difference."""
    said = []
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key), current.get(key)
        if key == "codecs":
            said += [f"codec {name}: {_keys(old[name], new[name])} differ" for name in new
                     if name in old and old[name] != new[name]]
        elif key == "metrics" and isinstance(old, dict) and isinstance(new, dict) and set(old) != set(new):
            said.append(f"metrics: [{', '.join(old)}] in the folder, [{', '.join(new)}] now")
        elif key == "metrics" and old != new:
            said.append(f"metrics: the versions of {_keys(old, new)} differ")
        elif old != new:
            said.append(f"{key}: {_keys(old, new)} differ" if isinstance(old, dict) and isinstance(new, dict)
                        else f"{key} differs")
    return said


def _keys(old: object, new: object) -> str:
    """The keys whose values differ between two dicts ('settings' when either is not a dict)."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return "settings"
    return ", ".join(sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)))


def merged_codecs(previous: dict | None, codecs: list[dict]) -> list[dict]:
    """run.json's codec entries: the folder's, in their order, then those new to it."""
    entries = {e["name"]: e for e in (previous or {}).get("codecs", []) if isinstance(e, dict) and "name" in e}
    entries.update((e["name"], e) for e in codecs)
    return list(entries.values())


def check_not_input(path: Path, inputs: frozenset) -> None:
    """Refuse to write `path` when it is, or links to (symbolically or hard), a file the run reads; `inputs` as
    `check_outputs` returns them."""
    try:
        found = path.stat()
        same_file = (found.st_dev, found.st_ino) in inputs
    except (FileNotFoundError, NotADirectoryError):
        same_file = False
    if same_file or path.resolve() in inputs:
        raise UserError(f"{path}: is an input of this run ({path.resolve()}), and the run would write over it: give "
                        "another folder for the run (--out)")


def _identities(paths: Iterable[Path]) -> set:
    """Each existing file's (device, inode): what a hard link shares with it."""
    out = set()
    for p in paths:
        try:
            found = p.stat()
        except OSError:
            continue
        out.add((found.st_dev, found.st_ino))
    return out


def check_outputs(out: Path, inputs: Iterable[Path], keep_audio: bool) -> frozenset:
    """The run's inputs (resolved paths and file identities, for `check_not_input`), after checking that the run
    writes none of them: not under a name of its own, and, when it keeps audio, none lies in the folder's audio/
    (where a kept file could come to replace one)."""
    paths = frozenset(Path(p).resolve() for p in inputs)
    resolved = frozenset(paths | _identities(paths))
    for name in NAMED_FILES:
        check_not_input(out / name, resolved)
    kept = (out / AUDIO).resolve()
    inside = next((p for p in paths if p.is_relative_to(kept)), None) if keep_audio else None
    if inside is not None:
        raise UserError(f"{inside}: an input of this run lies in the audio the run keeps ({kept}): copy it elsewhere, "
                        "or give another folder for the run (--out)")
    return resolved


def _safe_name(text: str) -> str:
    """A file name from any text: its word characters, dots and dashes (at most 64, no leading dot), then 16 hex
    digits of its sha256, so that two texts never share a name however they sanitise."""
    stem = re.sub(r"[^\w.-]+", "_", text).strip("._-")[:64]
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{stem}-{digest}" if stem else digest


def kept_audio(codec: str, utt_id: str) -> str:
    """Where a row's decoded audio is kept, relative to the run folder (the row's `decoded_audio` link)."""
    return f"{AUDIO}/{_safe_name(codec)}/{_safe_name(utt_id)}.wav"


def write_kept_audio(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write a codec's decoded audio losslessly (float32 WAV: no clipping, no rounding), whole or not at all."""
    wav = io.BytesIO()  # made in memory, so that a full disk is the OSError it is, not libsndfile's "System error"
    sf.write(wav, np.asarray(samples, dtype=np.float32), sample_rate, format="WAV", subtype="FLOAT")
    with replacing(path) as tmp:
        tmp.write_bytes(wav.getvalue())


@dataclass
class Rows:
    """rows.jsonl read back: the first row of each (utterance, codec) in file order, and the lines left out."""

    rows: list[Row]
    duplicates: int  # rows of a pair read before (two runs that wrote one folder at once, or files joined by hand)
    unreadable: int  # lines that are not a whole row (cut short by a kill, or damaged)


def has_rows(out: Path) -> bool:
    """Whether a folder holds a rows file (a run has started there)."""
    return (out / ROWS).is_file()


def read_rows(out: Path) -> Rows:
    """The one reader of a folder's rows: no (utterance, codec) pair counts twice (the first row is kept), and a
    line that is not a whole row is left out; both are counted so that the report can say so."""
    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    duplicates = unreadable = 0
    path = out / ROWS
    if not path.is_file():
        return Rows(rows, 0, 0)
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = Row.from_json(json.loads(line))
            except (ValueError, RecursionError):  # cut short, damaged, or not UTF-8
                row = None
            if row is None:
                unreadable += 1
                continue
            if row.key in seen:
                duplicates += 1
                continue
            seen.add(row.key)
            rows.append(row)
    return Rows(rows, duplicates, unreadable)


class RowWriter:
    """The one writer of rows.jsonl, for a run holding the folder's lock: a line cut short by a kill is dropped on
    open, each row is appended whole and synced, and a row that cannot be written whole (a full disk) leaves no
    part of itself behind."""

    def __init__(self, out: Path) -> None:
        self.path = out / ROWS
        _drop_cut_line(self.path)
        self.done = {row.key for row in read_rows(out).rows}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, row: Row) -> None:
        """Append one row."""
        data = memoryview((json.dumps(row.to_json(), ensure_ascii=False) + "\n").encode("utf-8"))
        start = os.fstat(self._fd).st_size
        try:
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except BaseException:  # a full disk, or Ctrl-C between two writes: take the part back, then go on failing
            os.ftruncate(self._fd, start)
            raise
        self.done.add(row.key)

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)


def _drop_cut_line(path: Path) -> None:
    """Cut a last line that has no end (a run killed while writing it) off the file."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        data = path.read_bytes()
        f.truncate(data.rfind(b"\n") + 1)
