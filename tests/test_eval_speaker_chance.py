"""The speaker model's chance level on a run's own references: pairs, spreads, the equal-error threshold, caching."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from eval import speaker
from eval.cache import Cache
from eval.speaker_chance import chance_level, equal_error
from eval_assets import utterances

E1, E2, E3 = np.eye(3)
# speaker a: two identical embeddings (cos 1.0); b: cos 0.6; c: one utterance. Different-speaker cosines:
# a-b 0 (x4), a-c 0.8 (x2), b1-c 0.6, b2-c 0.36.
EMBEDDINGS = {1: E1, 2: E1, 3: E2, 4: 0.6 * E2 + 0.8 * E3, 5: 0.8 * E1 + 0.6 * E2, 6: E3}


class Fake(speaker.SpeakerModel):
    """Embeddings chosen by the clip's first sample (k / 100 -> EMBEDDINGS[k]); counts its calls."""

    name = "fake speaker similarity"
    sample_rate = 16000

    def __init__(self, version: str = "fake/1") -> None:
        self.version = version
        self.calls = 0

    def embed(self, audio: np.ndarray) -> np.ndarray:
        self.calls += 1
        return EMBEDDINGS[int(round(float(audio[0]) * 100))]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(speaker, "_model", None)  # restored after the test
    model = Fake()
    speaker.set_model(model)
    return model


def _clips(tmp_path, labels: dict[int, str]) -> list[tuple[str, str]]:
    out = []
    for k, label in labels.items():
        path = tmp_path / f"clip{k}.wav"
        sf.write(path, np.full(1600, k / 100, dtype=np.float32), 16000, subtype="FLOAT")
        out.append((str(path), label))
    return out


def test_equal_error_threshold_on_known_distributions():
    assert equal_error([0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.65]) == (pytest.approx(0.625), 0.25)
    assert equal_error([0.8, 0.9], [0.1, 0.2]) == (pytest.approx(0.5), 0.0)  # separable: midway, no errors


def test_chance_level_pairs_every_labelled_reference_and_gives_exact_statistics(tmp_path, fake):
    refs = _clips(tmp_path, {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: ""})
    result = chance_level(refs + refs[:2], Cache(tmp_path / "cache"))  # a reference met twice counts once
    assert (result["utterances"], result["speakers"], result["unlabelled"]) == (5, 3, 1)
    assert result["same"]["pairs"] == 2 and result["same"]["mean"] == pytest.approx(0.8)
    different = [0, 0, 0, 0, 0.8, 0.8, 0.6, 0.36]
    assert result["different"]["pairs"] == 8 and result["different"]["mean"] == pytest.approx(np.mean(different))
    assert result["different"]["p95"] == pytest.approx(0.8)
    # thresholds 0.48: 3/8 different accepted, 0/2 same rejected; 0.7: 2/8 and 1/2 -> the closest pair
    assert result["eer_threshold"] == pytest.approx(0.7) and result["eer"] == pytest.approx(0.375)
    assert "1 utterance(s) without a speaker label" in result["note"]
    assert result["model"] == "fake speaker similarity"


def test_embeddings_are_cached_by_content_and_model_version(tmp_path, fake):
    refs = _clips(tmp_path, {1: "a", 3: "b"})
    cache = Cache(tmp_path / "cache")
    first = chance_level(refs, cache)
    again = Fake()
    speaker.set_model(again)
    assert chance_level(refs, cache) == first and again.calls == 0
    other = Fake("fake/2")
    speaker.set_model(other)
    chance_level(refs, cache)
    assert other.calls == 2


def test_without_labels_or_with_one_speaker_the_report_is_told_why(tmp_path, fake):
    unknown = chance_level(_clips(tmp_path, {1: "", 3: ""}), Cache(None))
    assert unknown["eer"] is None and unknown["note"].startswith("speakers unknown")
    alone = chance_level(_clips(tmp_path, {1: "a", 2: "a"}), Cache(None))
    assert alone["same"]["pairs"] == 1 and alone["eer"] is None and alone["note"].startswith("one speaker only")


def test_ge2e_on_bundled_speakers_scores_one_voice_above_two(tmp_path):
    picked = utterances(lang="it", count=2) + utterances(lang="fr", count=1) + utterances(lang="ru", count=1)
    result = chance_level([(u.audio_path, u.speaker) for u in picked], Cache(None))
    assert (result["same"]["pairs"], result["different"]["pairs"]) == (1, 5)
    assert 0 < result["different"]["mean"] < result["same"]["mean"] < 1
    assert result["different"]["p95"] < result["eer_threshold"] <= result["same"]["p5"]
