"""A Lhotse RecordingSet joined with its SupervisionSet: merged as both are read when the supervisions follow the
recordings' order, held as small records when they do not, the same Utterances and errors either way."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.errors import UserError
from eval.lhotse_manifest import from_cuts, from_recordings, load_lhotse

RATE = 16000
LANGUAGES = ["English", "de_de", None, "Klingon"]  # None takes --lang; Klingon has no ISO 639-1 code


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> list:
    """Lhotse recordings of six short WAV files of different lengths."""
    from lhotse import Recording

    folder = tmp_path_factory.mktemp("audio")
    recordings = []
    for i in range(6):
        sf.write(folder / f"utt{i}.wav", np.zeros(RATE // 10 * (i + 1), np.float32), RATE)
        recordings.append(Recording.from_file(folder / f"utt{i}.wav"))
    return recordings


def _supervision(recording_id: str, number: int, duration: float, language: str | None = "English"):
    from lhotse import SupervisionSegment

    return SupervisionSegment(id=f"{recording_id}-s{number}", recording_id=recording_id, start=0.0, duration=duration,
                              text=f"text of {recording_id}", language=language, speaker=f"spk-{recording_id}")


def _one_each(recordings: list) -> list:
    """One whole-recording supervision for each recording, in the recordings' order."""
    return [_supervision(r.id, 0, r.duration) for r in recordings]


def _outcome(read) -> list | str:
    """The Utterances `read()` gives, or the one-line error it raises."""
    try:
        return read()
    except UserError as exc:
        return f"error: {exc}"


def _as_lhotse_joins(recordings: list, supervisions: list) -> list | str:
    """What Lhotse's eager `CutSet.from_manifests` makes of the pair, as Utterances: it leaves out supervisions of
    recordings that are not listed, which lfsc-eval names after the cuts are read."""
    from lhotse import CutSet, RecordingSet, SupervisionSet

    cuts = CutSet.from_manifests(RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions))
    outcome = _outcome(lambda: from_cuts(cuts, "fr", "m"))
    listed = {r.id for r in recordings}
    unlisted = next((s for s in supervisions if s.recording_id not in listed), None)
    if isinstance(outcome, str) or unlisted is None:
        return outcome
    return (f"error: m: supervision {unlisted.id} names recording {unlisted.recording_id!r}, which the RecordingSet "
            "does not list: give the matching pair")


@st.composite
def _pairs(draw, audio: list) -> tuple[list, list]:
    """Recordings and supervisions: mostly one each, some with none or two, some language Lhotse-codable or not, at
    times one of a recording that is not listed; listed in the recordings' order or shuffled."""
    recordings = draw(st.permutations(audio))[:draw(st.integers(1, len(audio)))]
    supervisions = []
    for recording in recordings:
        for number in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
            supervisions.append(_supervision(recording.id, number, recording.duration, draw(st.sampled_from(LANGUAGES))))
    if draw(st.booleans()):
        supervisions.insert(draw(st.integers(0, len(supervisions))), _supervision("ghost", 0, 1.0))
    if draw(st.booleans()):
        supervisions = draw(st.permutations(supervisions))
    return recordings, supervisions


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_from_recordings_gives_what_lhotse_joins_in_any_order(audio, data):
    recordings, supervisions = data.draw(_pairs(audio))
    assert _outcome(lambda: from_recordings(recordings, supervisions, "fr", "m")) == _as_lhotse_joins(recordings,
                                                                                                      supervisions)


class _Read:
    """A list read afresh at each iteration, counting the items handed out and noting `note()` before each."""

    def __init__(self, items: list, note=lambda: None):
        self.items, self.note, self.read, self.notes = items, note, 0, []

    def __iter__(self):
        for item in self.items:
            self.notes.append(self.note())
            self.read += 1
            yield item


def test_supervisions_in_the_recordings_order_are_read_along_with_them(audio):
    """When each recording is taken, only the supervisions up to its own have been read, and each only once."""
    recordings = [replace(audio[i % len(audio)], id=f"r{i}") for i in range(40)]
    supervisions = _Read(_one_each(recordings))
    read = _Read(recordings, note=lambda: supervisions.read)
    utterances = from_recordings(read, supervisions, None, "m")
    assert [(u.id, u.text) for u in utterances] == [(r.id, f"text of {r.id}") for r in recordings]
    assert read.notes == list(range(1, 41)) and supervisions.read == 40


def test_supervisions_in_another_order_give_the_same_utterances_read_again_from_where_the_order_breaks(audio):
    """The merge gives up at the first recording whose supervision is not next, not after reading all recordings."""
    in_order = _one_each(audio)
    shuffled = [in_order[i] for i in (3, 0, 5, 1, 4, 2)]
    read = _Read(audio)
    assert from_recordings(read, shuffled, None, "m") == from_recordings(audio, in_order, None, "m")
    assert read.read == 1 + len(audio)


def _write(path: Path, items: list) -> Path:
    path.write_text("".join(json.dumps(item.to_dict()) + "\n" for item in items), encoding="utf-8")
    return path


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4, 5], [5, 2, 0, 4, 1, 3]])
def test_manifest_files_in_either_order_give_the_same_utterances(audio, tmp_path, order):
    supervisions = _one_each(audio)
    recordings_file = _write(tmp_path / "recordings.jsonl", audio)
    supervisions_file = _write(tmp_path / "supervisions.jsonl", [supervisions[i] for i in order])
    utterances = load_lhotse(recordings_file, supervisions_file, None)
    assert [(u.id, u.text, u.lang, u.speaker) for u in utterances] == [
        (r.id, f"text of {r.id}", "en", f"spk-{r.id}") for r in audio]


@pytest.mark.parametrize("where", [6, 3, 0])  # after the last (the merge reaches the end), midway, first
def test_a_supervision_of_a_recording_not_listed_is_named_in_either_order(audio, tmp_path, where):
    supervisions = _one_each(audio)
    supervisions.insert(where, _supervision("ghost", 0, 1.0))
    recordings_file = _write(tmp_path / "recordings.jsonl", audio)
    supervisions_file = _write(tmp_path / "supervisions.jsonl", supervisions)
    with pytest.raises(UserError, match="supervision ghost-s0 names recording 'ghost', which the RecordingSet does "
                                        "not list: give the matching pair"):
        load_lhotse(recordings_file, supervisions_file, None)


@pytest.mark.parametrize("listed, count", [
    (["a", "b", "a"], 2),  # the merge meets the second of a's after the last recording
    (["a", "b-Klingon", "a"], 2),  # ... after b, whose own error comes later in the recordings' order
    (["a", "a", "b", "a"], 3),  # ... after it took two of a's, not all
])
def test_a_recording_whose_supervisions_are_apart_is_refused_with_all_of_them_counted(audio, listed, count):
    first, second = audio[:2]
    recordings = {"a": first, "b": second}
    supervisions = [_supervision(recordings[name[0]].id, number, recordings[name[0]].duration,
                                 "Klingon" if name.endswith("Klingon") else "English")
                    for number, name in enumerate(listed)]
    with pytest.raises(UserError, match=f"cut {first.id}-0: holds {count} supervisions"):
        from_recordings([first, second], supervisions, None, "m")


def test_one_pass_iterators_are_refused_since_the_pair_may_be_read_twice(audio):
    with pytest.raises(TypeError, match="reads its inputs twice"):
        from_recordings(iter(audio), _one_each(audio), None, "m")
