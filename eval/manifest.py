"""Speech manifests (NeMo JSON-lines style) and folders of audio with sidecar transcripts, validated on load."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from codec.audio import Audio, load_audio, open_audio
from codec.errors import UserError

# ISO 639-1 (two-letter) language codes; manifests name languages with these.
ISO_639_1 = frozenset(
    """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz
    ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik
    io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml
    mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd
    se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi
    vo wa wo xh yi yo za zh zu
    """.split()
)

DURATION_TOLERANCE = 0.010  # seconds a manifest duration may differ from the file header
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
REQUIRED_KEYS = ("audio_filepath", "text", "lang")
MAX_LINE_BYTES = 1 << 20  # a manifest line is one utterance: far more than any transcript needs


@dataclass(frozen=True)
class Utterance:
    """One recorded utterance: where its audio is, what is said, in which language, by whom, under which licence."""

    id: str
    audio_path: Path
    text: str
    duration: float
    lang: str
    speaker: str
    sample_rate: int
    source: str
    license: str
    problem: str = ""  # why its audio cannot be read ('' when it can): the runner skips it and names it

    def load(self, sample_rate: int | None = None) -> Audio:
        """The utterance's audio (`load_audio`); a problem found when it was listed is raised as the UserError."""
        if self.problem:
            raise UserError(self.problem)
        return load_audio(self.audio_path, sample_rate)


def check_lang(lang: object, where: str) -> str:
    """Return lang if it is a known ISO 639-1 code, else raise UserError naming where it came from."""
    if not isinstance(lang, str) or lang not in ISO_639_1:
        raise UserError(
            f"{where}: unknown language code {_shown(lang)}: use a lower-case ISO 639-1 code such as 'en' or 'fr'"
        )
    return lang


def audio_header(path: Path) -> tuple[int, int, str]:
    """(sample rate, samples, '') of a readable audio file, or (0, 0, why it cannot be read: codec.audio refuses a
    file cut off or damaged where its container can tell, which libsndfile would read as shorter)."""
    try:
        source = open_audio(path)
    except UserError as exc:
        return 0, 0, str(exc)
    return source.file_rate, source.file_samples, ""


def _number(entry: dict, key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, (int, float)) and abs(value) < 1e300 and math.isfinite(value):
        return float(value)
    raise UserError(f"{where}: '{key}' must be a number, got {_shown(value)}")


def _shown(value: object) -> str:
    """A value as a message quotes it: its repr, cut to 60 characters."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**60 else "a number of more than 60 digits"
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: str, key: str, where: str) -> str:
    """`value` when it is text a file can hold; JSON can spell lone surrogates, which no UTF-8 file can."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{where}: '{key}' holds an escaped lone surrogate (\\ud800-\\udfff), which is not text: "
                        "fix the line") from None
    return value


def _optional_text(entry: dict, key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise UserError(f"{where}: '{key}' must be a string, got {_shown(value)}")
    return _text(value, key, where)


def _audio_path(rel: object, root: Path, where: str) -> Path:
    """The audio file an 'audio_filepath' names (relative to the manifest's folder, or absolute), resolved."""
    if not isinstance(rel, str) or not rel:
        raise UserError(f"{where}: 'audio_filepath' must be a non-empty string, got {_shown(rel)}")
    if "\0" in _text(rel, "audio_filepath", where):
        raise UserError(f"{where}: 'audio_filepath' holds a NUL character, which no file name can: fix the path")
    try:
        path = (root / rel).resolve()
        found = path.is_file()
    except (OSError, RuntimeError) as exc:  # a name too long, a loop of symbolic links, a folder we may not enter
        why = exc.strerror if isinstance(exc, OSError) else "a loop of symbolic links"
        raise UserError(f"{where}: audio file path {_shown(rel)} cannot be used ({why}): fix the path") from None
    if not found:  # a wrong path is the manifest's mistake (often every line's): stop at once
        raise UserError(f"{where}: audio file {path} does not exist: fix the path (relative to the manifest's folder)")
    return path


def _utterance(entry: object, root: Path, where: str) -> Utterance:
    if not isinstance(entry, dict):
        raise UserError(f"{where}: each line must be a JSON object, got {type(entry).__name__}")
    for key in entry:
        _text(key, "a key", where)
    missing = [key for key in REQUIRED_KEYS if key not in entry]
    if missing:
        needed = ", ".join(REQUIRED_KEYS)
        raise UserError(f"{where}: missing required key(s) {', '.join(missing)} (each line needs {needed})")
    rel = entry["audio_filepath"]
    text = _optional_text(entry, "text", where)
    lang = check_lang(entry["lang"], where)
    path = _audio_path(rel, root, where)
    rate, samples, problem = audio_header(path)
    duration = samples / rate if rate else 0.0
    declared = _number(entry, "duration", where)
    if not problem and declared is not None and abs(declared - duration) > DURATION_TOLERANCE:
        raise UserError(
            f"{where}: duration {declared:.3f} s does not match {path.name} ({duration:.3f} s): fix 'duration'"
        )
    declared_rate = _number(entry, "sample_rate", where)
    if not problem and declared_rate is not None and declared_rate != rate:
        raise UserError(
            f"{where}: sample_rate {declared_rate:g} does not match {path.name} ({rate} Hz): fix 'sample_rate'"
        )
    return Utterance(
        id=_optional_text(entry, "id", where) or Path(rel).with_suffix("").as_posix(),
        audio_path=path,
        text=text,
        duration=duration,
        lang=lang,
        speaker=_optional_text(entry, "speaker", where),
        sample_rate=rate,
        source=_optional_text(entry, "source", where),
        license=_optional_text(entry, "license", where),
        problem=problem,
    )


def load_manifest(path: str | Path) -> list[Utterance]:
    """Read a JSON-lines manifest, checking every line (keys, file, audio header, duration, language)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a manifest: give the path of a .jsonl manifest (or --folder)")
    if not path.is_file():
        raise UserError(f"{path}: manifest not found: give the path of a .jsonl manifest")
    root = path.resolve().parent
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:  # a number of more than 4300 digits; arrays nested too deep
            raise UserError(f"{where}: not a usable JSON line ({type(exc).__name__}: {str(exc)[:80]})") from None
        utterance = _utterance(entry, root, where)
        if utterance.id in seen:
            first = seen[utterance.id]
            raise UserError(f"{where}: {utterance.id} is already listed on line {first}: remove the duplicate")
        seen[utterance.id] = number
        utterances.append(utterance)
    if not utterances:
        raise UserError(f"{path}: manifest lists no utterances")
    return utterances


def _lines(path: Path) -> Iterator[str]:
    """The manifest's lines, read one at a time (a manifest may list millions of utterances), each at most
    MAX_LINE_BYTES of UTF-8."""
    with open(path, "rb") as f:
        for number, line in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if len(line) > MAX_LINE_BYTES:
                raise UserError(f"{path}:{number}: longer than {MAX_LINE_BYTES >> 20} MiB: a manifest line is one "
                                "utterance's JSON object; is this a manifest?")
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"{path}:{number}: not UTF-8 text (byte {exc.start + 1}): is this a manifest? Save "
                                "it as UTF-8") from None


def _sidecar_text(path: Path) -> str:
    if not path.is_file():
        return ""
    try:
        return path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise UserError(f"{path}: transcript is not UTF-8 text: save it as UTF-8") from None


def load_folder(path: str | Path, lang: str | None = None) -> list[Utterance]:
    """Utterances from a folder of audio (recursive): text from sidecar .txt ('' if none), lang '' unless given."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder: give a folder holding audio files")
    if lang is not None:
        check_lang(lang, str(root))
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise UserError(f"{root}: holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    utterances = []
    seen: dict[str, Path] = {}
    for file in files:
        rate, samples, problem = audio_header(file)
        uid = file.relative_to(root).with_suffix("").as_posix()
        try:
            uid.encode("utf-8")
        except UnicodeEncodeError:  # its bytes are not UTF-8: it could name no row, report line or kept file
            raise UserError(f"{os.fsdecode(file)!a}: its name is not UTF-8 text: rename it") from None
        if uid in seen:
            raise UserError(f"{file}: same name as {seen[uid].name}: keep one audio file per name")
        seen[uid] = file
        text = _sidecar_text(file.with_suffix(".txt"))
        utterances.append(
            Utterance(
                id=uid,
                audio_path=file.resolve(),
                text=text,
                duration=samples / rate if rate else 0.0,
                lang=lang or "",
                speaker="",
                sample_rate=rate,
                source=file.name,
                license="",
                problem=problem,
            )
        )
    return utterances
