"""Batched ASR: transcribe_many gives exactly the text of transcribe, clip by clip, on bundled speech."""

from __future__ import annotations

import numpy as np
import pytest

from codec.audio import load_audio
from codec.registry import get_codec
from eval import asr, sanity
from eval_assets import utterances


def _clips(lang: str, count: int) -> tuple[list[np.ndarray], int]:
    audios = [load_audio(u.audio_path) for u in utterances(lang=lang, count=count)]
    return [a.samples for a in audios], audios[0].sample_rate


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_batch_of_four_matches_one_by_one(lang):
    clips, sr = _clips(lang, 4)
    one_by_one = [asr.transcribe(x, sr, lang) for x in clips]
    assert all(one_by_one)
    assert asr.transcribe_many(clips, sr, lang) == one_by_one


def test_codec_outputs_batched_with_their_original_match_one_by_one():
    # what the runner sends: an original and its degraded versions, including one decoded to near silence
    clips, sr = _clips("es", 1)
    ref = clips[0]
    batch = [ref]
    for name in ("codec2-700c", "lowpass-3.5k"):
        rt = get_codec(name).roundtrip(ref, sr)
        batch.append(sanity.check_pair(ref, sr, rt.audio, rt.sample_rate)[1])
    batch.append(1e-4 * np.random.default_rng(0).standard_normal(len(ref)).astype(np.float32))
    assert asr.transcribe_many(batch, sr, "es") == [asr.transcribe(x, sr, "es") for x in batch]


@pytest.mark.slow
def test_full_windows_and_clips_over_30_s_match_one_by_one():
    # clips cut just short of 30 s often end mid-segment (faster-whisper then decodes a second window: the
    # batch hands those to transcribe); a clip over 30 s always goes one by one
    clips, sr = _clips("en", 4)
    speech = np.concatenate(clips * (1 + int(31 * sr // sum(len(x) for x in clips))))
    assert len(speech) > 30 * sr
    batch = [clips[0], speech, *(np.roll(speech, -len(x))[: int(29.5 * sr)] for x in clips)]
    assert asr.transcribe_many(batch, sr, "en") == [asr.transcribe(x, sr, "en") for x in batch]


def test_empty_batch():
    assert asr.transcribe_many([], 16000, "en") == []
