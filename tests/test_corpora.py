"""lfsc-eval manifest over tiny corpora laid out as the real ones unpack, and Lhotse manifests as run input."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from eval.cli import main
from eval.language_codes import iso_639_1
from eval.manifest import ISO_639_1, load_manifest

RATE = 16000


def _tone(path: Path, seconds: float, rate: int = RATE, **kwargs) -> Path:
    """A short noise burst written with soundfile (format from the suffix, or `format`/`subtype`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    sf.write(path, (0.1 * rng.standard_normal(round(seconds * rate))).astype(np.float32), rate, **kwargs)
    return path


def _manifest(tmp_path: Path, *args: str) -> list[dict]:
    out = tmp_path / "out" / "m.jsonl"
    assert main(["manifest", *args, "--out", str(out)]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _rows(run: Path) -> list[dict]:
    """The rows a run folder holds."""
    return [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]


def _error(capsys, *args: str) -> str:
    capsys.readouterr()  # what earlier commands printed
    assert main(list(args)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lfsc-eval: error: "), lines
    return lines[0]


def _mls(root: Path) -> Path:
    for name, lang_rows in (("mls_german_opus", ["1234_567_000001\tguten tag", "1234_567_000002\twie geht es"]),
                            ("mls_polish_opus", ["99_12_000003\tdzień dobry"])):
        split = root / name / "test"
        (root / name).mkdir(parents=True)
        (root / name / "metainfo.txt").write_text("SPEAKER | GENDER | PARTITION | MINUTES | BOOK ID | TITLE | CHAPTER\n")
        split.mkdir()
        (split / "transcripts.txt").write_text("\n".join(lang_rows) + "\n", encoding="utf-8")
        for row in lang_rows:
            uid = row.split("\t")[0]
            speaker, book, _ = uid.split("_")
            _tone(split / "audio" / speaker / book / f"{uid}.opus", 0.5, format="OGG", subtype="OPUS")
    return root


def test_mls_opus_lists_each_language_mapped_to_iso_codes(tmp_path):
    rows = _manifest(tmp_path, "--corpus", "mls", "--root", str(_mls(tmp_path / "mls")))
    assert [(r["id"], r["lang"], r["text"], r["speaker"]) for r in rows] == [
        ("1234_567_000001", "de", "guten tag", "1234"), ("1234_567_000002", "de", "wie geht es", "1234"),
        ("99_12_000003", "pl", "dzień dobry", "99")]
    assert all(Path(r["audio_filepath"]).is_absolute() and r["audio_filepath"].endswith(".opus") for r in rows)
    assert rows[0]["duration"] == pytest.approx(0.5, abs=0.001) and rows[0]["license"] == "CC-BY-4.0"
    utterances = load_manifest(tmp_path / "out" / "m.jsonl")
    assert [u.id for u in utterances] == [r["id"] for r in rows] and not any(u.problem for u in utterances)
    assert len(utterances[0].load().samples) == utterances[0].sample_rate // 2  # the loader reads Opus


def test_mls_lang_chooses_languages_and_an_absent_one_is_named(tmp_path, capsys):
    root = _mls(tmp_path / "mls")
    rows = _manifest(tmp_path, "--corpus", "mls", "--root", str(root), "--lang", "pl")
    assert [r["lang"] for r in rows] == ["pl"]
    line = _error(capsys, "manifest", "--corpus", "mls", "--root", str(root), "--lang", "fr", "--out", str(tmp_path / "x.jsonl"))
    assert "has no 'fr' (it has: de, pl)" in line and not (tmp_path / "x.jsonl").exists()


def _fleurs(root: Path) -> Path:
    rows = {"de_de": [("1", "101.wav", "Guten Tag, Welt.", "guten tag welt"), ("1", "102.wav", "Guten Tag, Welt.", "guten tag welt")],
            "cmn_hans_cn": [("7", "201.wav", "你好。", "你好")]}
    for lang, entries in rows.items():
        (root / "metadata" / lang).mkdir(parents=True)
        lines = []
        for prompt, name, raw, norm in entries:
            _tone(root / lang / "test" / name, 0.4)
            lines.append("\t".join([prompt, name, raw, norm, " ".join("|".join(norm.split())) + " |", str(int(0.4 * RATE)), "MALE"]))
        (root / "metadata" / lang / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_fleurs_lists_raw_transcriptions_in_iso_languages(tmp_path):
    rows = _manifest(tmp_path, "--corpus", "fleurs", "--root", str(_fleurs(tmp_path / "fleurs")))
    assert [(r["id"], r["lang"], r["text"]) for r in rows] == [
        ("cmn_hans_cn/201", "zh", "你好。"), ("de_de/101", "de", "Guten Tag, Welt."), ("de_de/102", "de", "Guten Tag, Welt.")]
    assert rows[0]["duration"] == pytest.approx(0.4)


def test_fleurs_language_without_an_iso_639_1_code_is_named_and_can_be_left_out(tmp_path, capsys):
    root = _fleurs(tmp_path / "fleurs")
    (root / "metadata" / "de_de").rename(root / "metadata" / "ast_es")
    (root / "de_de").rename(root / "ast_es")
    line = _error(capsys, "manifest", "--corpus", "fleurs", "--root", str(root), "--out", str(tmp_path / "x.jsonl"))
    assert "ast_es have no ISO 639-1 code" in line and "--lang (zh)" in line
    assert [r["lang"] for r in _manifest(tmp_path, "--corpus", "fleurs", "--root", str(root), "--lang", "zh")] == ["zh"]


def _librispeech(root: Path) -> Path:
    chapter = root / "test-clean" / "1089" / "134686"
    chapter.mkdir(parents=True)
    (chapter / "1089-134686.trans.txt").write_text("1089-134686-0000 HE HOPED THERE WOULD BE STEW\n"
                                                   "1089-134686-0001 STUFF IT INTO YOU\n")
    _tone(chapter / "1089-134686-0000.flac", 0.5)
    _tone(chapter / "1089-134686-0001.flac", 0.6)
    other = root / "test-other" / "1688" / "142285"
    other.mkdir(parents=True)
    (other / "1688-142285.trans.txt").write_text("1688-142285-0000 THERE'S IRON THEY SAY\n")
    _tone(other / "1688-142285-0000.flac", 0.3)
    return root


def test_librispeech_test_lists_every_test_part_through_lhotse_and_run_evaluates_it(tmp_path):
    rows = _manifest(tmp_path, "--corpus", "librispeech", "--root", str(_librispeech(tmp_path / "LibriSpeech")))
    assert sorted((r["id"], r["text"], r["lang"], r["speaker"], r["source"]) for r in rows) == [
        ("1089-134686-0000", "HE HOPED THERE WOULD BE STEW", "en", "1089", "LibriSpeech test-clean"),
        ("1089-134686-0001", "STUFF IT INTO YOU", "en", "1089", "LibriSpeech test-clean"),
        ("1688-142285-0000", "THERE'S IRON THEY SAY", "en", "1688", "LibriSpeech test-other")]
    assert sorted(r["duration"] for r in rows) == pytest.approx([0.3, 0.5, 0.6])
    out = tmp_path / "run"
    assert main(["run", "--manifest", str(tmp_path / "out" / "m.jsonl"), "--codec", "identity", "--metrics", "si_sdr",
                 "--no-cache", "--out", str(out)]) == 0
    scored = _rows(out)
    assert len(scored) == 3 and {row["utt_id"] for row in scored} == {r["id"] for r in rows}
    assert all(row["metrics"]["si_sdr"] > 100 for row in scored)  # identity gives the input back


def test_librispeech_split_names_one_part_and_other_languages_are_refused(tmp_path, capsys):
    root = _librispeech(tmp_path / "LibriSpeech")
    rows = _manifest(tmp_path, "--corpus", "librispeech", "--root", str(root), "--split", "test-other")
    assert [r["id"] for r in rows] == ["1688-142285-0000"]
    line = _error(capsys, "manifest", "--corpus", "librispeech", "--root", str(root), "--lang", "de", "--out",
                  str(tmp_path / "x.jsonl"))
    assert "LibriSpeech is English only" in line


def _commonvoice(root: Path) -> Path:
    locale = root / "cv-corpus-17.0" / "sv-SE"
    header = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment"
    rows = ["abc\tcommon_voice_sv-SE_1.mp3\tx1\tHej \"där\tgeneral\t2\t0\t\t\t\t\tsv-SE\t",
            "def\tcommon_voice_sv-SE_2.mp3\tx2\tGod morgon.\tgeneral\t2\t0\t\t\t\t\tsv-SE\t"]
    for row in rows:
        _tone(locale / "clips" / row.split("\t")[1], 0.5, format="MP3")
    (locale / "test.tsv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root / "cv-corpus-17.0"


def test_common_voice_mp3_with_unbalanced_quotes_maps_its_locale(tmp_path):
    rows = _manifest(tmp_path, "--corpus", "commonvoice", "--root", str(_commonvoice(tmp_path)))
    assert [(r["id"], r["text"], r["lang"], r["speaker"], r["license"]) for r in rows] == [
        ("common_voice_sv-SE_1", 'Hej "där', "sv", "abc", "CC0-1.0"), ("common_voice_sv-SE_2", "God morgon.", "sv", "def", "CC0-1.0")]
    utterances = load_manifest(tmp_path / "out" / "m.jsonl")
    assert utterances[0].duration == pytest.approx(0.5, abs=0.01) and not utterances[0].problem


def _daps(root: Path) -> Path:
    for name in ("f1_script1_clean.wav", "m3_script2_clean.wav"):
        _tone(root / "clean" / name, 0.5, rate=44100)
    _tone(root / "clean" / "._f1_script1_clean.wav", 0.1)  # macOS leaves such files in the archive
    (root / "scripts").mkdir()
    (root / "scripts" / "script1.txt").write_text("The first script.\nIt has two lines.\n")
    (root / "scripts" / "script2.txt").write_text("The second script.\n")
    return root


def test_daps_reads_clean_speech_with_its_scripts(tmp_path, capsys):
    rows = _manifest(tmp_path, "--corpus", "daps", "--root", str(_daps(tmp_path / "daps")))
    assert [(r["id"], r["text"], r["lang"], r["speaker"], r["sample_rate"]) for r in rows] == [
        ("f1_script1", "The first script. It has two lines.", "en", "f1", 44100),
        ("m3_script2", "The second script.", "en", "m3", 44100)]
    line = _error(capsys, "manifest", "--corpus", "daps", "--root", str(tmp_path / "daps"), "--split", "test", "--out",
                  str(tmp_path / "x.jsonl"))
    assert "daps has no splits" in line


@pytest.mark.parametrize("corpus, expected", [
    ("mls", "expected mls_<language>[_opus]/test/transcripts.txt"),
    ("fleurs", "expected metadata/<language>/test.tsv"),
    ("librispeech", "expected folders such as test-clean/"),
    ("commonvoice", "expected <locale>/test.tsv and <locale>/clips/"),
    ("daps", "expected clean/<speaker>_<script>_clean.wav"),
])
def test_a_wrong_layout_names_what_was_expected(tmp_path, capsys, corpus, expected):
    root = tmp_path / "downloads"
    _tone(root / "some" / "file.wav", 0.1)
    line = _error(capsys, "manifest", "--corpus", corpus, "--root", str(root), "--out", str(tmp_path / "m.jsonl"))
    assert expected in line and not (tmp_path / "m.jsonl").exists()


def test_missing_root_existing_out_and_unknown_language_are_refused(tmp_path, capsys):
    root = _daps(tmp_path / "daps")
    out = tmp_path / "m.jsonl"
    assert "not a folder" in _error(capsys, "manifest", "--corpus", "daps", "--root", str(tmp_path / "nope"), "--out", str(out))
    out.write_text("mine\n")
    assert "already exists" in _error(capsys, "manifest", "--corpus", "daps", "--root", str(root), "--out", str(out))
    assert out.read_text() == "mine\n"
    assert "unknown language code 'german'" in _error(capsys, "manifest", "--corpus", "mls", "--root", str(root), "--lang",
                                                      "german", "--out", str(tmp_path / "n.jsonl"))


def test_a_missing_audio_file_is_named_with_its_transcript_line(tmp_path, capsys):
    root = _mls(tmp_path / "mls")
    next((root / "mls_polish_opus" / "test" / "audio").rglob("*.opus")).unlink()
    line = _error(capsys, "manifest", "--corpus", "mls", "--root", str(root), "--out", str(tmp_path / "m.jsonl"))
    assert "transcripts.txt:1: its audio file" in line and "99_12_000003.opus is missing" in line


def test_unreadable_audio_is_listed_without_duration_and_named_but_all_unreadable_is_refused(tmp_path, capsys):
    root = _daps(tmp_path / "daps")
    (root / "clean" / "m3_script2_clean.wav").write_bytes(b"RIFF but not a wave")
    out = tmp_path / "m.jsonl"
    assert main(["manifest", "--corpus", "daps", "--root", str(root), "--out", str(out)]) == 1
    assert "m3_script2: " in capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert "duration" in rows[0] and "duration" not in rows[1]
    assert [u.problem != "" for u in load_manifest(out)] == [False, True]
    (root / "clean" / "f1_script1_clean.wav").write_bytes(b"nothing")
    line = _error(capsys, "manifest", "--corpus", "daps", "--root", str(root), "--out", str(tmp_path / "n.jsonl"))
    assert "none of the 2 audio files can be read" in line and not (tmp_path / "n.jsonl").exists()


@given(st.sampled_from(sorted(ISO_639_1)), st.sampled_from(["", "_us", "-CN", "_hans_cn", "-sursilv"]))
def test_a_code_with_a_region_or_script_maps_to_its_language(code, tail):
    assert iso_639_1(code.upper() + tail) == code


@pytest.mark.parametrize("label, code", [("german", "de"), ("English", "en"), ("cmn_hans_cn", "zh"), ("ast_es", None),
                                         ("yue_hant_hk", None), ("klingon", None)])
def test_language_names_and_three_letter_codes(label, code):
    assert iso_639_1(label) == code


# Lhotse manifests as input

def _lhotse_sets(tmp_path: Path):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recordings, supervisions = [], []
    for i, (text, language) in enumerate([("hello there", "English"), ("guten tag", "de_de")]):
        recording = Recording.from_file(_tone(tmp_path / "audio" / f"utt{i}.flac", 0.5 + 0.1 * i))
        recordings.append(recording)
        supervisions.append(SupervisionSegment(id=f"s{i}", recording_id=recording.id, start=0.0,
                                               duration=recording.duration, text=text, language=language, speaker=f"spk{i}"))
    return RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)


def _relabelled(supervisions, language: str | None):
    """The supervisions, each naming `language`."""
    from lhotse import SupervisionSet

    return SupervisionSet.from_segments([replace(s, language=language) for s in supervisions])


def test_a_lhotse_cutset_is_evaluated_by_run(tmp_path):
    from lhotse import CutSet

    cuts = CutSet.from_manifests(*_lhotse_sets(tmp_path))
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    out = tmp_path / "run"
    assert main(["run", "--manifest", str(tmp_path / "cuts.jsonl.gz"), "--codec", "identity", "--metrics", "si_sdr",
                 "--no-cache", "--out", str(out)]) == 0
    rows = _rows(out)
    assert sorted((r["utt_id"], r["lang"], r["speaker"]) for r in rows) == [("utt0", "en", "spk0"), ("utt1", "de", "spk1")]


def test_a_lhotse_recording_set_with_its_supervisions_gives_text_language_and_duration(tmp_path):
    from eval.lhotse_manifest import load_lhotse

    recordings, supervisions = _lhotse_sets(tmp_path)
    recordings.to_file(tmp_path / "recordings.jsonl")  # plain JSON lines, not gzipped
    supervisions.to_file(tmp_path / "supervisions.jsonl.gz")
    utterances = load_lhotse(tmp_path / "recordings.jsonl", tmp_path / "supervisions.jsonl.gz", None)
    assert [(u.id, u.text, u.lang, round(u.duration, 3)) for u in utterances] == [
        ("utt0", "hello there", "en", 0.5), ("utt1", "guten tag", "de", 0.6)]


def test_lhotse_supervisions_without_language_take_lang(tmp_path):
    from lhotse import CutSet

    from eval.lhotse_manifest import load_lhotse

    recordings, supervisions = _lhotse_sets(tmp_path)
    cuts = CutSet.from_manifests(recordings, _relabelled(supervisions, None))
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    assert {u.lang for u in load_lhotse(tmp_path / "cuts.jsonl.gz", None, "fr")} == {"fr"}
    assert {u.lang for u in load_lhotse(tmp_path / "cuts.jsonl.gz", None, None)} == {""}


def test_lhotse_inputs_refused_in_one_line(tmp_path, capsys):
    from lhotse import CutSet

    recordings, supervisions = _lhotse_sets(tmp_path)
    recordings.to_file(tmp_path / "recordings.jsonl.gz")
    supervisions.to_file(tmp_path / "supervisions.jsonl.gz")
    run = ["run", "--codec", "identity", "--metrics", "si_sdr", "--no-cache", "--out", str(tmp_path / "run")]
    assert "give its SupervisionSet" in _error(capsys, *run, "--manifest", str(tmp_path / "recordings.jsonl.gz"))
    assert "give its RecordingSet as --manifest" in _error(capsys, *run, "--manifest", str(tmp_path / "supervisions.jsonl.gz"))
    segmented = CutSet.from_cuts(c.truncate(offset=0.1, duration=0.2) for c in CutSet.from_manifests(recordings, supervisions))
    segmented.to_file(tmp_path / "segments.jsonl.gz")
    line = _error(capsys, *run, "--manifest", str(tmp_path / "segments.jsonl.gz"))
    assert "covers 0.10-0.30 s of recording utt0" in line and "not segments" in line
    klingon = CutSet.from_manifests(recordings, _relabelled(supervisions, "Klingon"))
    klingon.to_file(tmp_path / "klingon.jsonl.gz")
    assert "language 'Klingon' has no ISO 639-1 code" in _error(capsys, *run, "--manifest", str(tmp_path / "klingon.jsonl.gz"))
    (tmp_path / "broken.jsonl.gz").write_bytes(gzip.compress(b'{"id": "x", "supervisions": [], "type": "MonoCut"}\n'))
    assert "not a Lhotse cuts manifest Lhotse can read" in _error(capsys, *run, "--manifest", str(tmp_path / "broken.jsonl.gz"))
    assert not (tmp_path / "run").exists()


def test_a_librispeech_part_without_transcripts_or_without_audio_is_named(tmp_path, capsys):
    root = tmp_path / "LibriSpeech"
    (root / "test-clean" / "1089" / "134686").mkdir(parents=True)
    out = str(tmp_path / "m.jsonl")
    assert "test-clean: holds no transcripts" in _error(capsys, "manifest", "--corpus", "librispeech", "--root", str(root),
                                                        "--out", out)
    (root / "test-clean" / "1089" / "134686" / "1089-134686.trans.txt").write_text("1089-134686-0000 HE HOPED\n")
    assert "1 of its 1 transcript lines name FLAC files that are not there" in _error(capsys, "manifest", "--corpus", "librispeech", "--root", str(root),
                                                       "--out", out)


def test_a_lhotse_manifest_is_read_a_line_at_a_time_holding_only_the_utterances(tmp_path):
    """Reading more cuts raises the peak only by the utterances kept: nothing of the manifest is held whole (the
    eager reading this replaced peaked about 7 MiB above what it kept for these 3000 cuts)."""
    import tracemalloc

    from benchmarks.lhotse_memory_bench import write_manifest
    from eval.lhotse_manifest import load_lhotse

    path = write_manifest(tmp_path, 3000)
    tracemalloc.start()
    utterances = load_lhotse(path, None, "en")
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(utterances) == 3000 and utterances[-1].id == "r2999" and utterances[0].text
    assert peak - held < 1.5 * 2**20
