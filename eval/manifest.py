"""Speech manifests (NeMo JSON-lines style) and folders of audio with sidecar transcripts, validated on load."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

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


def default_manifest() -> Path:
    """Path of the bundled multilingual speech manifest (assets/speech/manifest.jsonl)."""
    return Path(__file__).resolve().parent.parent / "assets" / "speech" / "manifest.jsonl"


def check_lang(lang: object, where: str) -> str:
    """Return lang if it is a known ISO 639-1 code, else raise UserError naming where it came from."""
    if not isinstance(lang, str) or lang not in ISO_639_1:
        raise UserError(
            f"{where}: unknown language code {lang!r}: use a lower-case ISO 639-1 code such as 'en' or 'fr'"
        )
    return lang


def _header(path: Path) -> tuple[int, int, str]:
    """(sample rate, samples, '') of a readable audio file, or (0, 0, why it cannot be read)."""
    try:
        source = open_audio(path)
    except UserError as exc:
        return 0, 0, str(exc)
    return source.file_rate, source.file_samples, ""


def _number(entry: dict, key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _optional_text(entry: dict, key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise UserError(f"{where}: '{key}' must be a string, got {value!r}")
    return value


def _utterance(entry: object, root: Path, where: str) -> Utterance:
    if not isinstance(entry, dict):
        raise UserError(f"{where}: each line must be a JSON object, got {type(entry).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in entry]
    if missing:
        needed = ", ".join(REQUIRED_KEYS)
        raise UserError(f"{where}: missing required key(s) {', '.join(missing)} (each line needs {needed})")
    rel = entry["audio_filepath"]
    if not isinstance(rel, str) or not rel:
        raise UserError(f"{where}: 'audio_filepath' must be a non-empty string, got {rel!r}")
    text = _optional_text(entry, "text", where)
    lang = check_lang(entry["lang"], where)
    path = (root / rel).resolve()
    if not path.is_file():  # a wrong path is the manifest's mistake (often every line's): stop at once
        raise UserError(f"{where}: audio file {path} does not exist: fix the path (relative to the manifest's folder)")
    rate, samples, problem = _header(path)
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
        id=Path(rel).with_suffix("").as_posix(),
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
    if not path.is_file():
        raise UserError(f"{path}: manifest not found: give the path of a .jsonl manifest")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 text manifest ({exc})") from None
    root = path.resolve().parent
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        utterance = _utterance(entry, root, where)
        if utterance.id in seen:
            first = seen[utterance.id]
            raise UserError(f"{where}: {utterance.id} is already listed on line {first}: remove the duplicate")
        seen[utterance.id] = number
        utterances.append(utterance)
    if not utterances:
        raise UserError(f"{path}: manifest lists no utterances")
    return utterances


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
        rate, samples, problem = _header(file)
        uid = file.relative_to(root).with_suffix("").as_posix()
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
