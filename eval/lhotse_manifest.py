"""Lhotse manifests as lfsc-eval input: a CutSet, or a RecordingSet with its SupervisionSet (JSON lines, gzipped or
not), converted to `Utterance`s in this one place. Each cut must be a whole recording in one file: an `Utterance`
is a whole file, so a segment of a longer recording is refused rather than evaluated as the file it lies in.
A manifest is read one line at a time and each cut or recording becomes its `Utterance` at once, so only those
small records are held (the runner needs the whole list, for resume), never the manifest's Lhotse objects. A
SupervisionSet listed in its RecordingSet's order, as Lhotse's recipes write it, is merged with the recordings as both
are read, one recording's supervisions held at a time; one in another order is held whole, as small records of what
an Utterance takes from it."""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from codec.errors import UserError
from eval.language_codes import iso_639_1
from eval.manifest import DURATION_TOLERANCE, MAX_LINE_BYTES, Utterance, audio_header, check_lang

GZIP_MAGIC = b"\x1f\x8b"
KINDS = {"supervisions": "cuts", "sources": "recordings", "recording_id": "supervisions"}  # a key each kind has


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if len(line) > MAX_LINE_BYTES:
                    raise UserError(f"{path}:{number}: longer than {MAX_LINE_BYTES >> 20} MiB: is this a manifest?")
                yield line
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise UserError(f"{path}: not a readable Lhotse manifest ({type(exc).__name__}: {str(exc)[:80]})") from None


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _entries(path: Path) -> Iterator[tuple[int, dict]]:
    """The JSON objects of a JSON-lines file with their line numbers, each checked to be an object."""
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({str(exc)[:80]})") from None
        if not isinstance(entry, dict):
            raise UserError(f"{path}:{number}: each line must be a JSON object, got {type(entry).__name__}")
        yield number, entry


def kind(path: Path) -> str | None:
    """'cuts', 'recordings' or 'supervisions' when `path` is a Lhotse manifest of that kind (told by its first
    line), None when it is not one (a NeMo-style manifest, or a file that is not there to read)."""
    if not path.is_file():
        return None
    first = next(_entries(path), (0, None))[1] if _is_gzip(path) else _first_json_object(path)
    if first is None or "audio_filepath" in first:
        return None
    return next((name for key, name in KINDS.items() if key in first), None)


def _first_json_object(path: Path) -> dict | None:
    """The first line of a text file as a JSON object, or None when it is no such line (load_manifest words it)."""
    with open(path, "rb") as f:
        line = f.readline(MAX_LINE_BYTES)
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None


def _manifest(path: Path, expected: str) -> Iterator:
    """The Lhotse cuts, recordings or supervisions (`expected`) of a JSON-lines file, one at a time as it is read."""
    from lhotse import Recording, SupervisionSegment
    from lhotse.cut.set import deserialize_cut

    read = {"cuts": deserialize_cut, "recordings": Recording.from_dict, "supervisions": SupervisionSegment.from_dict}
    listed = False
    for number, entry in _entries(path):
        try:
            item = read[expected](entry)
        except (KeyError, TypeError, ValueError, AttributeError, AssertionError) as exc:
            raise UserError(f"{path}:{number}: not a Lhotse {expected} manifest Lhotse can read ({type(exc).__name__}: "
                            f"{str(exc)[:80]})") from None
        listed = True
        yield item
    if not listed:
        raise UserError(f"{path}: lists no {expected}")


def load_lhotse(path: Path, supervisions: Path | None, lang: str | None) -> list[Utterance]:
    """Utterances of a Lhotse CutSet file, or of a RecordingSet file and its SupervisionSet file; `lang` is the
    language of those whose supervision names none."""
    found = kind(path)
    if found == "supervisions":
        raise UserError(f"{path}: is a Lhotse SupervisionSet: give its RecordingSet as --manifest and this file as "
                        "--supervisions")
    if found is None:
        raise UserError(f"{path}: not a Lhotse CutSet or RecordingSet (JSON lines of cuts or recordings)")
    if lang is not None:
        check_lang(lang, "--lang")
    if found == "cuts":
        if supervisions is not None:
            raise UserError(f"--supervisions applies to a Lhotse RecordingSet: {path} holds cuts, which carry their "
                            "own supervisions")
        return from_cuts(_manifest(path, "cuts"), lang, str(path))
    if supervisions is None:
        raise UserError(f"{path}: is a Lhotse RecordingSet: give its SupervisionSet (transcripts and languages) too, "
                        "with --supervisions")
    if not supervisions.is_file():
        raise UserError(f"{supervisions}: supervisions file not found")
    if kind(supervisions) != "supervisions":
        raise UserError(f"{supervisions}: not a Lhotse SupervisionSet (JSON lines of supervisions)")
    return from_recordings(_ManifestFile(path, "recordings"), _ManifestFile(supervisions, "supervisions"), lang,
                           str(path))


def from_recordings(recordings: Iterable, supervisions: Iterable, lang: str | None, where: str) -> list[Utterance]:
    """Utterances of Lhotse recordings and their supervisions (each must name a listed recording): each recording a
    cut of all of it, with its supervisions, as `CutSet.from_manifests` makes it. Both are merged as they are read,
    one recording's supervisions held at a time; when the supervisions are in another order, or the pair holds an
    error, both are read again with all supervisions held as small records (so give lists, Lhotse sets or manifest
    files, which can be read twice, not one-pass iterators)."""
    if iter(recordings) is recordings or iter(supervisions) is supervisions:
        raise TypeError("from_recordings reads its inputs twice when they are out of order: give lists, Lhotse sets "
                        "or manifest files, not one-pass iterators")
    try:
        return from_cuts(_merged_cuts(recordings, supervisions), lang, where)
    except (_NotInOrder, UserError):
        # The merge judges each recording by the supervisions met so far: a supervision listed out of order may
        # name an earlier recording, so the error it met may not be the first one there is (or count them all).
        pass
    held = _held(supervisions)
    utterances = from_cuts((_cut(recording, number, [_segment(s) for s in held.pop(recording.id, [])])
                            for number, recording in enumerate(recordings)), lang, where)
    if held:  # supervisions of recordings the set does not list
        recording_id, (supervision, *_) = next(iter(held.items()))
        raise UserError(f"{where}: supervision {supervision.id} names recording {recording_id!r}, which the "
                        "RecordingSet does not list: give the matching pair")
    return utterances


@dataclass(frozen=True)
class _ManifestFile:
    """A manifest file's Lhotse objects of one kind, read afresh each time it is iterated."""
    path: Path
    expected: str

    def __iter__(self) -> Iterator:
        return _manifest(self.path, self.expected)


class _NotInOrder(Exception):
    """The supervisions are not listed in the recordings' order, so the merge cannot join them."""


def _merged_cuts(recordings: Iterable, supervisions: Iterable) -> Iterator:
    """Cuts of the recordings, each with the supervisions that follow the previous recording's: the order Lhotse's
    recipes write (both sets from one loop) and its lazy `CutSet.from_manifests` needs. Raises _NotInOrder at a
    supervision that names another recording than the one at hand, or that is left after the last one."""
    stream = iter(supervisions)
    pending = next(stream, None)
    for number, recording in enumerate(recordings):
        if pending is not None and pending.recording_id != recording.id:
            raise _NotInOrder  # (or this recording has none, which only the end would tell: stop before it)
        taken = []
        while pending is not None and pending.recording_id == recording.id:
            taken.append(pending)
            pending = next(stream, None)
        yield _cut(recording, number, taken)
    if pending is not None:
        raise _NotInOrder


class _Supervision(NamedTuple):
    """What an Utterance takes from a Lhotse supervision: held for each supervision when the merge cannot be used,
    a fraction of the Lhotse object's size."""
    id: str
    recording_id: str
    start: float
    duration: float
    text: str | None
    language: str | None
    speaker: str | None


def _held(supervisions: Iterable) -> dict[str, list[_Supervision]]:
    """The supervisions as small records by the recording each names, in the order listed."""
    held: dict[str, list[_Supervision]] = {}
    for s in supervisions:
        held.setdefault(s.recording_id, []).append(
            _Supervision(s.id, s.recording_id, s.start, s.duration, s.text, _shared(s.language), _shared(s.speaker)))
    return held


def _shared(label: str | None) -> str | None:
    """One copy of a label that many supervisions repeat (JSON parsing makes a new string for each line)."""
    return label if label is None else sys.intern(label)


def _segment(supervision: _Supervision):
    """The Lhotse supervision a held record was taken from, as far as an Utterance reads it."""
    from lhotse import SupervisionSegment

    return SupervisionSegment(**supervision._asdict())


def _cut(recording, number: int, supervisions: list):
    """The cut of all of the `number`th recording with its supervisions, as `CutSet.from_manifests` makes it."""
    from lhotse import MonoCut, MultiCut

    mono = recording.num_channels == 1
    return (MonoCut if mono else MultiCut)(
        id=f"{recording.id}-{number}", start=0, duration=recording.duration,
        channel=recording.channel_ids[0] if mono else recording.channel_ids, recording=recording,
        supervisions=supervisions)


def from_cuts(cuts, lang: str | None, where: str) -> list[Utterance]:
    """Utterances of Lhotse cuts, one per cut, each a whole recording (its id), its language mapped to ISO 639-1."""
    utterances: list[Utterance] = []
    seen: set[str] = set()
    for cut in cuts:
        utterance = _utterance(cut, lang, where)
        if utterance.id in seen:
            raise UserError(f"{where}: recording {utterance.id} is in more than one cut: list each recording once")
        seen.add(utterance.id)
        utterances.append(utterance)
    if not utterances:
        raise UserError(f"{where}: lists no cuts")
    return utterances


def _utterance(cut, lang: str | None, where: str) -> Utterance:
    where = f"{where}: cut {cut.id}"
    recording = getattr(cut, "recording", None)
    if recording is None:
        raise UserError(f"{where}: is a {type(cut).__name__}, not a cut of one recording: lfsc-eval evaluates "
                        "recordings as they are, not mixes or padding")
    path = _audio_file(recording, where)
    _check_whole(cut, recording, where)
    supervision = _supervision(cut, where)
    rate, samples, problem = audio_header(path)
    utterance = Utterance(id=recording.id, audio_path=path, text="", duration=samples / rate if rate else 0.0,
                          lang=lang or "", speaker="", sample_rate=rate, source="", license="", problem=problem)
    if supervision is None:
        return utterance
    return replace(utterance, text=(supervision.text or "").strip(), speaker=_shared(supervision.speaker) or "",
                   lang=_language(supervision.language, lang, where))


def _audio_file(recording, where: str) -> Path:
    """The one audio file a recording is (a relative path is taken from the working folder, as Lhotse takes it)."""
    sources = recording.sources
    if len(sources) != 1 or sources[0].type != "file":
        what = f"{len(sources)} sources" if len(sources) != 1 else f"a '{sources[0].type}' source"
        raise UserError(f"{where}: its recording {recording.id} has {what}: lfsc-eval reads recordings that are one "
                        "audio file each")
    transforms = [t["name"] if isinstance(t, dict) else type(t).__name__ for t in recording.transforms or []]
    if any(name != "Resample" for name in transforms):  # resampling aside, the audio would differ from the file
        raise UserError(f"{where}: its recording applies {', '.join(transforms)}: lfsc-eval evaluates the audio "
                        "files as they are; give cuts without transforms")
    path = Path(sources[0].source).resolve()
    if not path.is_file():
        raise UserError(f"{where}: audio file {path} does not exist: fix the path (a relative one is taken from the "
                        "folder lfsc-eval runs in)")
    return path


def _check_whole(cut, recording, where: str) -> None:
    """Refuse a cut that is part of its recording: in time, or some channels of a multi-channel file."""
    if cut.start > DURATION_TOLERANCE or abs(cut.duration - recording.duration) > DURATION_TOLERANCE:
        raise UserError(f"{where}: covers {cut.start:.2f}-{cut.end:.2f} s of recording {recording.id} "
                        f"({recording.duration:.2f} s): lfsc-eval evaluates whole audio files, not segments; cut "
                        "segments into files of their own first")
    channels = cut.channel if isinstance(cut.channel, list) else [cut.channel]
    if sorted(channels) != sorted(recording.channel_ids):
        raise UserError(f"{where}: takes channel(s) {channels} of the {recording.num_channels}-channel recording "
                        f"{recording.id}: lfsc-eval reads whole files (downmixed); give cuts of all channels")


def _supervision(cut, where: str):
    """The cut's one supervision covering all of it (None when it has none)."""
    if not cut.supervisions:
        return None
    if len(cut.supervisions) > 1:
        raise UserError(f"{where}: holds {len(cut.supervisions)} supervisions (segments): lfsc-eval evaluates whole "
                        "files with one transcript; cut segments into files of their own first")
    supervision = cut.supervisions[0]
    if supervision.start > DURATION_TOLERANCE or supervision.end < cut.duration - DURATION_TOLERANCE:
        raise UserError(f"{where}: its supervision {supervision.id} covers {supervision.start:.2f}-"
                        f"{supervision.end:.2f} s of {cut.duration:.2f} s: lfsc-eval evaluates whole files with one "
                        "transcript; cut segments into files of their own first")
    return supervision


def _language(label: str | None, lang: str | None, where: str) -> str:
    """The ISO 639-1 code of a supervision's language; `lang` (or '') when it names none."""
    if not label:
        return lang or ""
    code = iso_639_1(label)
    if code is None:
        raise UserError(f"{where}: language {label!r} has no ISO 639-1 code that lfsc-eval knows: give supervisions "
                        "with codes such as 'en' or 'de'")
    return code
