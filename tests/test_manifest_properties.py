"""eval.manifest under arbitrary input: whatever a manifest holds (bytes, JSON values, field values), reading it
gives utterances or one UserError, never another exception; and a cut-off WAV is named, not read as shorter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codec.errors import UserError, user_message
from eval.manifest import MAX_LINE_BYTES, Utterance, load_folder, load_manifest

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder with one real 1 s WAV (audio/a.wav) beside the manifests the tests write."""
    root = tmp_path_factory.mktemp("manifest")
    (root / "audio").mkdir()
    sf.write(root / "audio" / "a.wav", 0.3 * np.sin(np.arange(16000) / 5.0), 16000, subtype="PCM_16")
    return root


def read(folder: Path, data: bytes) -> list[Utterance] | str:
    """Read `data` as a manifest: its utterances, or the UserError's message (anything else fails the test)."""
    path = folder / "m.jsonl"
    path.write_bytes(data)
    try:
        return load_manifest(path)
    except UserError as exc:
        message = user_message(exc)  # what the user sees: one line, whatever a path in it holds
        assert message and "\n" not in message and len(message) < 5000, message  # a path, not the whole line
        return message


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PATHS = st.sampled_from(["audio/a.wav", "./audio/a.wav", "audio/../audio/a.wav", "audio", "", "/", "..", "../x.wav",
                         "audio/a.wav\x00", "audio/\ud800.wav", "a" * 5000, "audio/missing.wav"]) | st.text(max_size=20)
NUMBERS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
           | st.sampled_from([1.0, 16000, 10**400, -(10**400), 1e308]))
FIELDS = st.fixed_dictionaries(
    {"audio_filepath": PATHS, "text": st.text(max_size=20) | JSON, "lang": st.sampled_from(["en", "xx", "EN", ""]) | JSON},
    optional={"duration": NUMBERS, "sample_rate": NUMBERS, "speaker": st.text(max_size=4) | JSON,
              "source": JSON, "license": JSON, "\ud800": JSON},
)


@SETTINGS
@given(data=st.binary(max_size=300))
@example(data=b"")
@example(data=b"\xff\xfe{}\n")
@example(data=b"\x00" * 64)
@example(data=b"[" * 100_000)
@example(data=b'{"audio_filepath": "audio/a.wav", "text": "x", "lang": "en", "duration": ' + b"9" * 5000 + b"}")
def test_any_bytes_give_utterances_or_one_user_error(folder: Path, data: bytes) -> None:
    read(folder, data)


@SETTINGS
@given(lines=st.lists(JSON, max_size=4))
def test_any_json_values_give_utterances_or_one_user_error(folder: Path, lines: list) -> None:
    read(folder, "\n".join(json.dumps(value) for value in lines).encode("utf-8", "surrogatepass"))


@SETTINGS
@given(entry=FIELDS)
@example(entry={"audio_filepath": "audio/a.wav", "text": "x", "lang": "en", "duration": 10**400})
@example(entry={"audio_filepath": "audio/a.wav\x00", "text": "x", "lang": "en"})
@example(entry={"audio_filepath": "audio/a.wav", "text": "\ud800", "lang": "en"})
@example(entry={"audio_filepath": "a" * 5000, "text": "x", "lang": "en"})
def test_any_field_values_give_utterances_or_one_user_error(folder: Path, entry: dict) -> None:
    got = read(folder, json.dumps(entry).encode())
    if isinstance(got, list):  # accepted: then every field is what the reader promises
        (utt,) = got
        assert utt.audio_path == (folder / "audio" / "a.wav").resolve() and utt.lang == "en"
        assert isinstance(utt.text, str) and utt.text.encode("utf-8") is not None


def test_a_line_over_the_cap_is_refused_without_being_parsed(folder: Path) -> None:
    line = json.dumps({"audio_filepath": "audio/a.wav", "text": "x" * MAX_LINE_BYTES, "lang": "en"}).encode()
    assert "longer than 1 MiB" in read(folder, line + b"\n")


def cut_wav(path: Path, subtype: str = "PCM_16") -> None:
    """A WAV whose header promises 2 s of which the file holds about 1 s (cut off in a copy)."""
    sf.write(path, 0.3 * np.sin(np.arange(32000) / 5.0), 16000, subtype=subtype)
    data = path.read_bytes()
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_cut_off_wav_is_an_utterance_with_its_problem_not_a_shorter_recording(tmp_path: Path, subtype: str) -> None:
    """libsndfile reads a WAV cut off in the middle as a shorter one, without an error; the reader names it."""
    cut_wav(tmp_path / "cut.wav", subtype)
    sf.write(tmp_path / "whole.wav", np.zeros(8000) + 0.1, 16000)
    utts = {u.id: u for u in load_folder(tmp_path, "en")}
    assert utts["whole"].problem == ""
    assert "header promises 2.00 s of audio but the file holds only 1.00 s" in utts["cut"].problem
    with pytest.raises(UserError, match="cut off"):
        utts["cut"].load()
    # A manifest that declares the header's duration does not stop at it: the run skips and names the utterance.
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "cut.wav", "text": "x", "lang": "en", "duration": 2.0}) + "\n")
    (utt,) = load_manifest(manifest)
    assert "cut off" in utt.problem
