"""DistillMOS, the no-reference MOS: it ranks clean speech over Opus 6k over Codec2 1200 as listeners do, ignores
the reference, and scores what the reference metrics must refuse."""

import json
import sys

import numpy as np
import pytest

from codec.audio import load_audio
from codec.registry import get_codec
from eval import mos
from eval.metrics import MetricError, compute
from eval.run_folder import ROWS
from eval.runner import run
from eval_assets import utterances


def scores(codec: str, utts) -> list[float]:
    out = []
    for utt in utts:
        audio = load_audio(utt.audio_path)
        decoded = get_codec(codec).roundtrip(audio.samples, audio.sample_rate).audio
        out.append(compute("distill_mos", audio.samples, decoded, audio.sample_rate))
    return out


def test_distillmos_ranks_clean_over_opus_over_codec2_as_in_the_anchors():
    utts = utterances(count=3)
    clean, opus, codec2 = (np.mean(scores(c, utts)) for c in ("identity", "opus-6k", "codec2-1200"))
    # offline_assets.md: clean 4.2-4.5, Opus 6k 2.3-3.1, Codec2 1200 1.7-1.9
    assert clean > 3.8 and clean - opus > 0.5 and opus - codec2 > 0.5 and codec2 < 2.5, (clean, opus, codec2)
    assert "torchaudio" not in sys.modules  # the import placeholder is gone again


def test_distillmos_ignores_the_reference_and_refuses_silence():
    utt = utterances(count=1)[0]
    audio = load_audio(utt.audio_path)
    with_ref = compute("distill_mos", audio.samples, audio.samples, audio.sample_rate)
    without = compute("distill_mos", np.zeros_like(audio.samples), audio.samples, audio.sample_rate)
    assert with_ref == without
    with pytest.raises(MetricError, match="silent"):
        compute("distill_mos", audio.samples, np.zeros_like(audio.samples), audio.sample_rate)


def test_the_runner_scores_distillmos_where_alignment_is_refused(tmp_path, small_nemo, monkeypatch):
    """A random-weight LFSC's output cannot be aligned with speech: PESQ is refused, DistillMOS still reads it."""
    monkeypatch.setenv("LFSC_CHECKPOINT", str(small_nemo))
    run(utterances(count=1), ["lfsc"], tmp_path / "run", metrics=["pesq_wb", "f0_rmse", "distill_mos"], cache_dir=None)
    (row,) = [json.loads(line) for line in (tmp_path / "run" / ROWS).read_text().splitlines()]
    assert "cannot align" in row["missing"]["pesq_wb"] and "cannot align" in row["missing"]["f0_rmse"]
    assert 1.0 <= row["metrics"]["distill_mos"] <= 5.0


def speech(seconds: float) -> np.ndarray:
    """Bundled speech tiled to `seconds` at 16 kHz."""
    pieces = [load_audio(utt.audio_path).samples for utt in utterances(count=5)]
    return np.resize(np.concatenate(pieces), round(seconds * mos.SAMPLE_RATE)).astype(np.float32)


class Recording:
    """Stands in for the model: records each call's input shape and answers with `answer` (or the model)."""

    def __init__(self, answer):
        self.answer, self.shapes = answer, []

    def __call__(self, x):
        self.shapes.append(tuple(x.shape))
        return self.answer(x)


def test_the_windows_are_the_packages_own():
    from distillmos import sqa

    mos._model("cpu")  # imports distillmos
    assert (mos.WINDOW, mos.MAX_HOP) == (sqa.SEQ_LEN, sqa.MAX_HOP_LEN)
    assert mos.windows(1000) == mos.windows(mos.WINDOW) == [0]
    for n in (mos.WINDOW + 1, 12 * mos.SAMPLE_RATE, 600 * mos.SAMPLE_RATE + 7):
        starts = mos.windows(n)
        assert starts[0] == 0 and starts[-1] == n - mos.WINDOW and max(np.diff(starts)) <= mos.MAX_HOP


def test_distillmos_of_a_long_clip_is_the_packages_value_rated_a_few_windows_at_a_time(monkeypatch):
    """A 12 s clip (6 windows): the mean over windows fed 4 and 2 at a time equals the package's own forward,
    which batches all six; a clip up to one window long is fed whole, as before."""
    import torch

    model = mos._model("cpu")
    recording = Recording(model)
    monkeypatch.setattr(mos, "_model", lambda device: recording)
    for seconds in (12.0, 3.0):
        audio = speech(seconds)
        recording.shapes.clear()
        windowed = mos.predict(audio)
        with torch.inference_mode():
            whole = float(model(torch.from_numpy(audio)[None])[0])
        assert windowed == pytest.approx(whole, abs=1e-5) and 1.0 <= windowed <= 5.0
        if seconds > mos.WINDOW / mos.SAMPLE_RATE:
            assert recording.shapes == [(4, mos.WINDOW), (2, mos.WINDOW)]
        else:
            assert recording.shapes == [(1, len(audio))] and windowed == whole


def test_ten_minutes_are_rated_in_batches_of_windows_whatever_the_length(monkeypatch):
    """The structural memory bound: on a 10-minute clip no model call sees more than BATCH windows of WINDOW
    samples, and the windows cover the clip; the value is the mean of theirs (a stand-in model answers each
    window's RMS so the test runs in a moment; the benchmark reports the real model's peak)."""
    recording = Recording(lambda x: 1.0 + 4.0 * x.square().mean(dim=1, keepdim=True).sqrt())
    monkeypatch.setattr(mos, "_model", lambda device: recording)
    audio = speech(600.0)
    value = mos.predict(audio)
    starts = mos.windows(len(audio))
    assert all(rows <= mos.BATCH and samples == mos.WINDOW for rows, samples in recording.shapes)
    assert sum(rows for rows, _ in recording.shapes) == len(starts) > 590
    expected = np.mean([1.0 + 4.0 * np.sqrt(np.mean(audio[s: s + mos.WINDOW] ** 2.0)) for s in starts])
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-5)
