"""DistillMOS, the no-reference MOS: it ranks clean speech over Opus 6k over Codec2 1200 as listeners do, ignores
the reference, and scores what the reference metrics must refuse."""

import json
import sys

import numpy as np
import pytest

from codec.audio import load_audio
from codec.registry import get_codec
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
