"""The speaker model on many clips at once (`embed_many`): GE2E's batched partials agree with one clip at a time
to float rounding, refused clips keep their message in place, and the version says when batching is on."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from codec.audio import load_audio, resample
from eval import speaker
from eval_assets import utterances

TOLERANCE = 1e-6  # batched partials against one by one: 8.2e-8 measured on CPU (12 bundled clips)
SILENT = "the audio is silent"
UNVOICED = "less than 0.1 s of voiced audio"


@pytest.fixture(scope="module")
def ge2e() -> speaker.GE2E:
    return speaker.GE2E("cpu")


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """Five bundled clips (16 kHz, several languages) and, in between, a silent one and 50 ms of faint noise."""
    speech = [load_audio(u.audio_path).samples for u in utterances(count=5)]
    noise = 1e-3 * np.random.default_rng(0).standard_normal(800).astype(np.float32)
    return speech[:2] + [np.zeros(16000, np.float32)] + speech[2:4] + [noise] + speech[4:]


def one_by_one(model: speaker.SpeakerModel, clips: list[np.ndarray]) -> list[np.ndarray | str]:
    out: list[np.ndarray | str] = []
    for clip in clips:
        try:
            out.append(model.embed(clip))
        except ValueError as exc:
            out.append(str(exc))
    return out


def assert_close(got: list, expected: list, tolerance: float) -> float:
    """Messages equal, embeddings within `tolerance`; the largest difference."""
    assert len(got) == len(expected)
    worst = 0.0
    for g, e in zip(got, expected):
        if isinstance(e, str):
            assert g == e
        else:
            assert g.shape == e.shape == (256,) and g.dtype == e.dtype == np.float32
            worst = max(worst, float(np.max(np.abs(g - e))))
    assert worst <= tolerance, worst
    return worst


def test_the_partials_are_cut_with_embed_utterances_defaults():
    from resemblyzer import VoiceEncoder

    defaults = inspect.signature(VoiceEncoder.embed_utterance).parameters
    assert (speaker.PARTIAL_RATE, speaker.PARTIAL_MIN_COVERAGE) == (
        defaults["rate"].default, defaults["min_coverage"].default)


def test_forced_batching_agrees_with_one_by_one_and_keeps_refusals_in_place(ge2e, clips):
    expected = one_by_one(ge2e, clips)
    assert SILENT in expected[2] and UNVOICED in expected[5]
    assert sum(isinstance(e, str) for e in expected) == 2
    got = ge2e.embed_many(clips, batch=True)
    assert_close(got, expected, TOLERANCE)
    # the clips are told apart: different speakers' embeddings are far apart at this tolerance
    assert float(np.max(np.abs(got[0] - got[1]))) > 1e-2


def test_chunks_of_a_few_partials_change_nothing_beyond_rounding(ge2e, clips, monkeypatch):
    """Three partials per forward: chunks straddle clips (these have two partials each), no forward sees more."""
    rows = []
    forward = ge2e._forward

    def recording(mels):
        rows.append(len(mels))
        return forward(mels)

    monkeypatch.setattr(speaker, "PARTIALS_PER_CALL", 3)
    monkeypatch.setattr(ge2e, "_forward", recording)
    expected = one_by_one(ge2e, clips)
    assert_close(ge2e.embed_many(clips, batch=True), expected, TOLERANCE)
    voiced = [clip for clip, e in zip(clips, expected) if not isinstance(e, str)]
    assert max(rows) == 3 and sum(rows) == sum(len(ge2e._partial_mels(ge2e._voiced(c))) for c in voiced) > 6


def test_a_batch_of_one_clip_is_embed_utterances_own_forward(ge2e, clips):
    """One clip's partials in one forward is what `embed_utterance` computes: bit-identical."""
    for clip in (clips[0], clips[3]):
        (got,) = ge2e.embed_many([clip], batch=True)
        assert np.array_equal(got, ge2e.embed(clip))
    assert ge2e.embed_many([clips[2]], batch=True) == one_by_one(ge2e, [clips[2]])
    assert ge2e.embed_many([], batch=True) == []


def test_unbatched_embed_many_is_bit_identical_to_embed_at_any_rate(ge2e, clips, monkeypatch):
    monkeypatch.setattr(speaker, "_model", ge2e)  # restored after the test
    assert not speaker.batched()  # a CPU model: embed_many loops over embed by default
    at_24k = [resample(clip, 16000, 24000) for clip in clips]
    got = speaker.embed_many(at_24k, 24000)
    for g, clip in zip(got, at_24k):
        try:
            assert np.array_equal(g, speaker.embed(clip, 24000))
        except ValueError as exc:
            assert g == str(exc)
    assert isinstance(got[2], str) and isinstance(got[0], np.ndarray)


def test_a_plugged_in_model_keeps_working_one_clip_at_a_time(monkeypatch):
    class Length(speaker.SpeakerModel):
        name, sample_rate, version = "length", 8000, "length/1"

        def embed(self, audio: np.ndarray) -> np.ndarray:
            if not audio.any():
                raise ValueError("nothing to hear")
            return np.array([float(len(audio))])

    monkeypatch.setattr(speaker, "_model", Length())
    got = speaker.embed_many([np.full(160, 0.5, np.float32), np.zeros(160, np.float32)], 16000)
    assert got[0].tolist() == [80.0] and got[1] == "nothing to hear"  # resampled to the model's 8 kHz
    monkeypatch.setattr(speaker, "default_device", lambda: "cuda")
    assert not speaker.batched() and speaker.model_version() == "length/1"


def test_the_version_says_batched_on_a_gpu_without_loading_the_model(ge2e, monkeypatch):
    monkeypatch.setattr(speaker, "_model", None)
    assert speaker.model_version() == speaker.describe()["version"] == "resemblyzer-0.1.4/1"  # the keys until now
    monkeypatch.setattr(speaker, "default_device", lambda: "cuda")  # GE2E would load on a GPU
    assert speaker.batched() and speaker.model_version() == "resemblyzer-0.1.4/1+batched"
    assert speaker.describe()["version"] == "resemblyzer-0.1.4/1+batched"
    assert speaker._model is None  # nothing was loaded
    monkeypatch.setattr(speaker, "_model", ge2e)  # a loaded model counts by its own device
    assert not speaker.batched() and speaker.model_version() == "resemblyzer-0.1.4/1"
    monkeypatch.setattr(ge2e, "device", "cuda:1")
    assert speaker.batched() and speaker.model_version() == "resemblyzer-0.1.4/1+batched"
