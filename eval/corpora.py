"""Standard speech corpora a user has downloaded (MLS, FLEURS, LibriSpeech, Common Voice, DAPS), read from their own
folder layouts into `Utterance`s with transcripts and ISO 639-1 languages, and written as a NeMo-style manifest.

LibriSpeech goes through Lhotse's recipe. The others are read here, each for a reason its recipe gives: Lhotse's
MLS recipe lists every split (train too, millions of files) and probes Opus with ffmpeg; its FLEURS recipe needs
the train, dev and test metadata all present; its Common Voice recipe needs the 'variant' column (releases 14 and
later) and spawns worker processes; Lhotse has no DAPS recipe."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import secrets
from dataclasses import replace
from pathlib import Path

from codec.errors import UserError
from eval.language_codes import iso_639_1
from eval.manifest import Utterance, audio_header, check_lang


def _utterance(uid: str, path: Path, text: str, lang: str, speaker: str, source: str, license: str) -> Utterance:
    """An utterance of a corpus file, its rate and length from the header (or why it cannot be read)."""
    rate, samples, problem = audio_header(path)
    return Utterance(id=uid, audio_path=path.resolve(), text=" ".join(text.split()), duration=samples / rate if rate else 0.0,
                     lang=lang, speaker=speaker, sample_rate=rate, source=source, license=license, problem=problem)


def _audio(path: Path, where: str) -> Path:
    if not path.is_file():
        raise UserError(f"{where}: its audio file {path} is missing: download the corpus again or give its folder")
    return path


def _languages(found: dict[Path, str], wanted: list[str] | None, corpus: str, root: Path) -> dict[str, Path]:
    """The language folders asked for (all found when `wanted` is None), by ISO 639-1 code; `found` maps each
    folder to the language label the corpus gives it."""
    by_code: dict[str, Path] = {}
    unknown = []
    for folder, label in sorted(found.items()):
        code = iso_639_1(label)
        if code is None:
            unknown.append(label)
        elif code in by_code:
            raise UserError(f"{root}: {by_code[code].name} and {folder.name} are both '{code}': keep one of them")
        else:
            by_code[code] = folder
    if wanted is None:
        if unknown:
            raise UserError(f"{root}: {corpus} language(s) {', '.join(unknown)} have no ISO 639-1 code: choose the "
                            f"others with --lang ({' '.join(sorted(by_code))})")
        return by_code
    missing = [code for code in wanted if code not in by_code]
    if missing:
        raise UserError(f"{root}: this {corpus} has no '{missing[0]}' (it has: {', '.join(sorted(by_code)) or 'none'})")
    return {code: by_code[code] for code in wanted}


def _mls(root: Path, split: str, wanted: list[str] | None) -> list[Utterance]:
    """MLS as OpenSLR 94 unpacks: mls_<language>[_opus]/<split>/transcripts.txt (id TAB text) and
    <split>/audio/<speaker>/<book>/<id>.opus or .flac."""
    found = {d: d.name.split("_")[1] for d in root.glob("mls_*") if d.is_dir() and "_lm_" not in d.name}
    if not found:
        raise UserError(f"{root}: holds no MLS language folders: expected mls_<language>[_opus]/{split}/transcripts.txt "
                        "(e.g. mls_german_opus): give the folder MLS was unpacked into")
    utterances = []
    for code, folder in _languages(found, wanted, "MLS", root).items():
        transcripts = folder / split / "transcripts.txt"
        if not transcripts.is_file():
            raise UserError(f"{transcripts}: not found: expected MLS's {split} transcripts there (give --split train, "
                            "dev or test)")
        suffix = ".opus" if folder.name.endswith("_opus") else ".flac"
        for number, line in enumerate(_text_lines(transcripts), start=1):
            uid, sep, text = line.partition("\t")
            parts = uid.split("_")
            if not sep or len(parts) != 3:
                raise UserError(f"{transcripts}:{number}: expected '<speaker>_<book>_<segment> TAB <text>'")
            path = _audio(folder / split / "audio" / parts[0] / parts[1] / f"{uid}{suffix}", f"{transcripts}:{number}")
            utterances.append(_utterance(uid, path, text, code, parts[0], f"MLS {folder.name} {split}", "CC-BY-4.0"))
    return utterances


def _text_lines(path: Path) -> list[str]:
    """The non-empty lines of a UTF-8 transcript file."""
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text: is this the corpus's transcript file?") from None


FLEURS_FIELDS = 7  # id, file name, raw transcription, transcription, characters, samples, gender


def _fleurs(root: Path, split: str, wanted: list[str] | None) -> list[Utterance]:
    """FLEURS as Lhotse's download_fleurs lays it out: <lang>/<split>/*.wav and metadata/<lang>/<split>.tsv (id, file
    name, raw transcription, transcription, characters, samples, gender); the text is the raw transcription."""
    metadata = root / "metadata"
    found = {root / d.name: d.name for d in metadata.glob("*") if (d / f"{split}.tsv").is_file()}
    if not found:
        raise UserError(f"{root}: holds no FLEURS metadata: expected metadata/<language>/{split}.tsv and "
                        f"<language>/{split}/*.wav (e.g. metadata/de_de/{split}.tsv), as Lhotse's download_fleurs writes")
    utterances = []
    for code, folder in _languages(found, wanted, "FLEURS", root).items():
        table = metadata / folder.name / f"{split}.tsv"
        for number, line in enumerate(_text_lines(table), start=1):
            fields = line.split("\t")
            if len(fields) != FLEURS_FIELDS:
                raise UserError(f"{table}:{number}: expected {FLEURS_FIELDS} tab-separated fields (id, file name, raw "
                                f"transcription, transcription, characters, samples, gender), got {len(fields)}")
            path = _audio(folder / split / fields[1], f"{table}:{number}")
            utterances.append(_utterance(f"{folder.name}/{path.stem}", path, fields[2], code, "",
                                         f"FLEURS {folder.name} {split}", "CC-BY-4.0"))
    return utterances


COMMON_VOICE_COLUMNS = ("client_id", "path", "sentence")


def _commonvoice(root: Path, split: str, wanted: list[str] | None) -> list[Utterance]:
    """Common Voice as its release unpacks: <locale>/<split>.tsv (client_id, path, sentence, ... with a header) and
    <locale>/clips/<path> (MP3)."""
    found = {d: d.name for d in root.glob("*") if (d / f"{split}.tsv").is_file() and (d / "clips").is_dir()}
    if not found:
        raise UserError(f"{root}: holds no Common Voice languages: expected <locale>/{split}.tsv and <locale>/clips/ "
                        "(e.g. de/test.tsv): give the cv-corpus-<version> folder")
    utterances = []
    for code, folder in _languages(found, wanted, "Common Voice", root).items():
        table = folder / f"{split}.tsv"
        with open(table, encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)  # sentences hold unbalanced quotes
            missing = [c for c in COMMON_VOICE_COLUMNS if c not in (rows.fieldnames or ())]
            if missing:
                raise UserError(f"{table}: has no column(s) {', '.join(missing)}: is this a Common Voice table?")
            for number, row in enumerate(rows, start=2):
                path = _audio(folder / "clips" / row["path"], f"{table}:{number}")
                utterances.append(_utterance(path.stem, path, row["sentence"] or "", code, row["client_id"] or "",
                                             f"Common Voice {root.name} {folder.name} {split}", "CC0-1.0"))
    return utterances


DAPS_FILE = re.compile(r"([fm]\d+)_(script\d+)_clean\.wav")


def _daps(root: Path, split: str | None, wanted: list[str] | None) -> list[Utterance]:
    """DAPS as it unpacks: clean/<speaker>_<script>_clean.wav (f1_script1_clean.wav) read from scripts/<script>.txt;
    all English."""
    if wanted not in (None, ["en"]):
        raise UserError(f"DAPS is English only: --lang {' '.join(wanted)} names none of it")
    files = sorted(p for p in (root / "clean").glob("*_clean.wav") if DAPS_FILE.fullmatch(p.name))
    if not files:
        raise UserError(f"{root}: holds no DAPS clean speech: expected clean/<speaker>_<script>_clean.wav "
                        "(e.g. clean/f1_script1_clean.wav) and scripts/<script>.txt")
    utterances = []
    for path in files:
        speaker, script = DAPS_FILE.fullmatch(path.name).groups()
        text_file = root / "scripts" / f"{script}.txt"
        if not text_file.is_file():
            raise UserError(f"{text_file}: not found: expected the text of {script} there, for {path.name}")
        text = " ".join(_text_lines(text_file))
        utterances.append(_utterance(f"{speaker}_{script}", path, text, "en", speaker, "DAPS clean", "CC-BY-NC-4.0"))
    return utterances


def _librispeech(root: Path, split: str, wanted: list[str] | None) -> list[Utterance]:
    """LibriSpeech through Lhotse's recipe: the parts named `split` or starting with it ('test': test-clean and
    test-other), as <part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt and FLAC files beside."""
    if wanted not in (None, ["en"]):
        raise UserError(f"LibriSpeech is English only: --lang {' '.join(wanted)} names none of it")
    from lhotse.recipes.librispeech import LIBRISPEECH, MINI_LIBRISPEECH

    parts = [p for p in LIBRISPEECH + MINI_LIBRISPEECH if (p == split or p.startswith(f"{split}-")) and (root / p).is_dir()]
    if not parts:
        raise UserError(f"{root}: holds no LibriSpeech '{split}' part: expected folders such as {split}-clean/<speaker>/"
                        "<chapter>/<speaker>-<chapter>.trans.txt: give the LibriSpeech folder")
    listed = {part: sum(len(_text_lines(t)) for t in (root / part).rglob("*.trans.txt")) for part in parts}
    for part, count in listed.items():
        if not count:
            raise UserError(f"{root / part}: holds no transcripts: expected <speaker>/<chapter>/<speaker>-<chapter>"
                            ".trans.txt with the FLAC files beside them")
    utterances = []
    for part in parts:
        utterances += [replace(u, source=f"LibriSpeech {part}", license="CC-BY-4.0")
                       for u in _librispeech_part(root / part, listed[part])]
    return utterances


def _librispeech_part(folder: Path, listed: int) -> list[Utterance]:
    """The utterances of one LibriSpeech part through Lhotse's recipe, all `listed` transcript lines of it."""
    from lhotse.recipes.librispeech import prepare_librispeech

    from eval.lhotse_manifest import from_recordings

    try:
        with contextlib.redirect_stderr(io.StringIO()):  # the recipe's progress bars and its log of missing files
            sets = prepare_librispeech(folder.parent, dataset_parts=[folder.name])[folder.name]
    except AssertionError:  # Lhotse's check that some recordings were found
        sets = {"recordings": [], "supervisions": []}
    if len(sets["recordings"]) != listed:  # the recipe leaves out lines whose FLAC file is missing
        raise UserError(f"{folder}: {listed - len(sets['recordings'])} of its {listed} transcript lines name FLAC files "
                        "that are not there: unpack the audio again")
    return from_recordings(sets["recordings"], sets["supervisions"], None, str(folder))


CORPORA = {
    "mls": (_mls, "test"),
    "fleurs": (_fleurs, "test"),
    "librispeech": (_librispeech, "test"),
    "commonvoice": (_commonvoice, "test"),
    "daps": (_daps, None),
}


def read_corpus(corpus: str, root: Path, langs: list[str] | None = None, split: str | None = None) -> list[Utterance]:
    """The utterances of a downloaded corpus's split (its test split by default), in the languages asked for."""
    read, default_split = CORPORA[corpus]
    if not root.is_dir():
        raise UserError(f"{root}: not a folder: give the folder the {corpus} corpus was downloaded into")
    for lang in langs or []:
        check_lang(lang, "--lang")
    if default_split is None and split is not None:
        raise UserError(f"{corpus} has no splits: leave out --split")
    utterances = read(root.resolve(), split or default_split, list(dict.fromkeys(langs)) if langs else None)
    if not utterances:
        raise UserError(f"{root}: its {corpus} {split or default_split} split lists no utterances")
    return utterances


def check_new(out: Path) -> None:
    """Refuse an output manifest path that exists: a manifest is never written over."""
    if os.path.lexists(out):
        raise UserError(f"{out}: already exists: give a new path (a manifest is never written over)")


def write_manifest(utterances: list[Utterance], out: Path) -> list[Utterance]:
    """Write `utterances` as a NeMo-style JSON-lines manifest at the new path `out` (absolute audio paths; it appears
    whole or not at all, and never replaces a file); returns those whose audio cannot be read, listed without a
    duration (lfsc-eval run skips and names them). All unreadable is refused: the manifest would be of no use."""
    check_new(out)
    unreadable = [u for u in utterances if u.problem]
    if len(unreadable) == len(utterances):
        raise UserError(f"none of the {len(utterances)} audio files can be read (the first: {unreadable[0].problem})")
    seen: set[str] = set()
    for utterance in utterances:
        if utterance.id in seen:
            raise UserError(f"{utterance.audio_path}: its id {utterance.id} is listed twice by the corpus")
        seen.add(utterance.id)
    text = "".join(json.dumps(_entry(u), ensure_ascii=False) + "\n" for u in utterances)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.link(tmp, out)  # atomic, and fails rather than replace a file made meanwhile
    except FileExistsError:
        raise UserError(f"{out}: already exists: give a new path (a manifest is never written over)") from None
    finally:
        tmp.unlink(missing_ok=True)
    return unreadable


def _entry(utterance: Utterance) -> dict:
    entry = {"id": utterance.id, "audio_filepath": str(utterance.audio_path), "text": utterance.text,
             "lang": utterance.lang}
    if not utterance.problem:
        entry |= {"duration": round(utterance.duration, 6), "sample_rate": utterance.sample_rate}
    return entry | {"speaker": utterance.speaker, "source": utterance.source, "license": utterance.license}
