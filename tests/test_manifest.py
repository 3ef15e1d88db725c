"""eval.manifest: every kind of broken manifest line is rejected with its line number; folders load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec.errors import UserError
from codec.bundled_speech import default_manifest
from eval.manifest import load_folder, load_manifest


def tone(path: Path, seconds: float, rate: int = 16000) -> None:
    """Write a short 16-bit sine tone."""
    t = np.arange(int(seconds * rate)) / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), rate, subtype="PCM_16")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    tone(tmp_path / "audio" / "a.wav", 1.0)
    tone(tmp_path / "audio" / "b.flac", 0.5, rate=8000)
    return tmp_path


def good(name: str = "a.wav", **extra) -> dict:
    entry = {"audio_filepath": f"audio/{name}", "text": "hello there", "lang": "en", "duration": 1.0}
    return {**entry, "sample_rate": 16000, **extra}


def write(folder: Path, lines: list[str]) -> Path:
    path = folder / "m.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_valid_manifest_gives_utterances_with_absolute_paths_and_header_values(folder: Path) -> None:
    second = {"audio_filepath": "audio/b.flac", "text": "hola", "lang": "es", "speaker": "x", "license": "CC0"}
    path = write(folder, [json.dumps(good()), "", json.dumps(second)])
    first, other = load_manifest(path)
    assert first.id == "audio/a" and first.audio_path == (folder / "audio" / "a.wav").resolve()
    assert first.audio_path.is_absolute()
    assert (first.text, first.lang, first.sample_rate, first.duration) == ("hello there", "en", 16000, 1.0)
    assert (other.id, other.lang, other.sample_rate) == ("audio/b", "es", 8000)
    assert (other.speaker, other.license, other.source) == ("x", "CC0", "")
    assert other.duration == pytest.approx(0.5)


def test_duration_within_ten_ms_is_accepted(folder: Path) -> None:
    (utt,) = load_manifest(write(folder, [json.dumps(good(duration=1.009))]))
    assert utt.duration == 1.0  # the header's value, not the manifest's


BROKEN = {
    "bad json": '{"audio_filepath": "audio/a.wav", "text": "x",',
    "not an object": '["audio/a.wav", "x", "en"]',
    "missing key": json.dumps({"audio_filepath": "audio/a.wav", "lang": "en"}),
    "missing file": json.dumps(good("nothere.wav")),
    "wrong duration": json.dumps(good(duration=1.02)),
    "duration not a number": json.dumps(good(duration="1.0")),
    "wrong sample rate": json.dumps(good(sample_rate=22050)),
    "unknown language": json.dumps(good(lang="english")),
    "unknown two-letter code": json.dumps(good(lang="xx")),
    "text not a string": json.dumps(good(text=3)),
    "duplicate": json.dumps(good()),
}
EXPECTED = {
    "bad json": "not valid JSON",
    "not an object": "JSON object",
    "missing key": "text",
    "missing file": "does not exist",
    "wrong duration": "duration 1.020 s does not match",
    "duration not a number": "must be a number",
    "wrong sample rate": "sample_rate 22050",
    "unknown language": "unknown language code 'english'",
    "unknown two-letter code": "unknown language code 'xx'",
    "text not a string": "'text' must be a string",
    "duplicate": "already listed on line 1",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_line_is_rejected_naming_file_and_line(folder: Path, kind: str) -> None:
    (folder / "audio" / "junk.wav").write_text("this is not audio")
    other = json.dumps(good("b.flac", duration=0.5, sample_rate=8000))
    path = write(folder, [json.dumps(good()), other, BROKEN[kind], other])
    with pytest.raises(UserError) as info:
        load_manifest(path)
    message = str(info.value)
    assert f"{path}:3:" in message
    assert EXPECTED[kind] in message
    assert "\n" not in message


def test_audio_that_cannot_be_read_is_listed_with_its_problem_for_the_runner_to_skip(folder: Path) -> None:
    (folder / "audio" / "junk.wav").write_text("this is not audio")
    utterances = load_manifest(write(folder, [json.dumps(good()), json.dumps(good("junk.wav"))]))
    assert [u.problem for u in utterances][0] == "" and "not a readable audio file" in utterances[1].problem
    assert [u.id for u in load_folder(folder / "audio") if u.problem] == ["junk"]


def test_missing_or_empty_manifest_is_a_user_error(folder: Path) -> None:
    with pytest.raises(UserError, match="manifest not found"):
        load_manifest(folder / "none.jsonl")
    with pytest.raises(UserError, match="lists no utterances"):
        load_manifest(write(folder, [""]))


def test_load_folder_reads_audio_and_sidecar_text(folder: Path) -> None:
    (folder / "audio" / "a.txt").write_text("  bonjour tout le monde \n", encoding="utf-8")
    (folder / "audio" / "notes.md").write_text("not audio")
    tone(folder / "audio" / "sub" / "c.wav", 0.25)
    utts = load_folder(folder / "audio", lang="fr")
    assert [u.id for u in utts] == ["a", "b", "sub/c"]
    assert [u.text for u in utts] == ["bonjour tout le monde", "", ""]
    assert {u.lang for u in utts} == {"fr"}
    assert [u.sample_rate for u in utts] == [16000, 8000, 16000]
    assert utts[2].duration == pytest.approx(0.25)
    assert load_folder(folder / "audio")[0].lang == ""


def test_load_folder_rejects_bad_input(folder: Path) -> None:
    with pytest.raises(UserError, match="unknown language code"):
        load_folder(folder / "audio", lang="french")
    (folder / "empty").mkdir()
    with pytest.raises(UserError, match="holds no audio files"):
        load_folder(folder / "empty")
    with pytest.raises(UserError, match="not a folder"):
        load_folder(folder / "audio" / "a.wav")
    (folder / "audio" / "a.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_folder(folder / "audio")
    (folder / "audio" / "a.txt").unlink()
    tone(folder / "audio" / "a.flac", 0.1)
    with pytest.raises(UserError, match="same name"):
        load_folder(folder / "audio")


def test_default_manifest_is_the_bundled_one() -> None:
    assert default_manifest() == Path(__file__).resolve().parent.parent / "assets" / "speech" / "manifest.jsonl"
    assert default_manifest().is_file()
