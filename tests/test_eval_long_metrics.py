"""Metrics on long clips: PESQ scores a long clip in pieces cut at pauses (its C code holds at most 50
utterances and overruns its buffers beyond), and a clip up to one piece exactly as a whole file."""

import numpy as np
import pytest

from codec.audio import load_audio
from codec.registry import get_codec
from eval import metrics
from eval_assets import utterances


def speech(seconds: float, sr: int = 16000) -> np.ndarray:
    """Bundled speech tiled to `seconds` (16 kHz)."""
    pieces = [load_audio(utt.audio_path).samples for utt in utterances(count=5)]
    return np.resize(np.concatenate(pieces), round(seconds * sr)).astype(np.float32)


def test_pesq_of_a_clip_up_to_one_piece_is_the_whole_file_value():
    from pesq import pesq

    ref = speech(12.0)
    deg = get_codec("opus-6k").roundtrip(ref, 16000).audio
    assert metrics._pesq_pieces(ref, 16000) == [(0, len(ref))]
    assert metrics.pesq_wb(ref, deg, 16000) == float(pesq(16000, ref.astype(np.float64), deg.astype(np.float64), "wb"))


def test_pesq_of_a_long_clip_is_the_duration_weighted_mean_of_pieces_cut_at_pauses():
    """75 s of speech (about 40 utterances; ten minutes hold hundreds): scored in pieces of 15 to 30 s, each cut in a
    pause, the value is their duration-weighted mean and lies in PESQ's range."""
    sr = 16000
    ref = speech(75.0)
    deg = get_codec("opus-6k").roundtrip(ref, sr).audio
    pieces = metrics._pesq_pieces(ref, sr)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(ref)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(metrics.PESQ_PIECE_S * sr / 2 <= end - start <= metrics.PESQ_PIECE_S * sr for start, end in pieces)
    clip_rms = np.sqrt(np.mean(ref.astype(np.float64) ** 2))
    for _, cut in pieces[:-1]:  # each cut is in a pause: its 100 ms are far quieter than the clip
        assert np.sqrt(np.mean(ref[cut - 800: cut + 800].astype(np.float64) ** 2)) < 0.1 * clip_rms
    value = metrics.pesq_wb(ref, deg, sr)
    each = [metrics.pesq_wb(ref[a:b], deg[a:b], sr) for a, b in pieces]
    assert value == pytest.approx(np.average(each, weights=[b - a for a, b in pieces]))
    assert 1.04 <= value <= 4.64


@pytest.mark.parametrize("name,which", [("mel_distance", 0), ("stft_distance", 1)])
def test_the_spectral_distances_computed_a_chunk_at_a_time_are_the_losses_on_the_whole_signal(monkeypatch, name, which):
    """Chunks of 16384 samples (five in the signal, each cut inside 2048-point frames' context) give the training
    loss's value on the whole 3 s signal: every frame is computed with its true neighbours."""
    import torch

    ref = speech(3.0, 22050).astype(np.float64)
    deg = get_codec("opus-6k").roundtrip(ref.astype(np.float32), 22050).audio.astype(np.float64)
    with torch.inference_mode():
        whole = float(metrics._nemo_losses()[which](torch.from_numpy(ref)[None], torch.from_numpy(deg)[None],
                                                    torch.tensor([len(ref)])))
    monkeypatch.setattr(metrics, "SPECTRAL_CHUNK", 2**14)
    assert metrics.compute(name, ref, deg, 22050) == pytest.approx(whole, rel=1e-10)
