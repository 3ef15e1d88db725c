"""Sanity checks: delays found and undone, pathological audio flagged, unalignable pairs refused."""

from __future__ import annotations

import numpy as np
import pytest

from codec.audio import load_audio
from codec.registry import get_codec
from eval.metrics import compute
from eval.sanity import check_pair, shift
from eval_assets import utterances


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    audio = load_audio(utterances(count=1)[0].audio_path)
    return audio.samples, audio.sample_rate


@pytest.mark.parametrize("delay_ms", [7.5, 40.0, -12.0])
def test_a_delayed_copy_is_detected_and_aligned(clip, delay_ms):
    x, sr = clip
    delay = int(round(delay_ms * sr / 1000))
    delayed = shift(x, -delay)  # shift() undoes a delay, so the negative shift applies one
    noisy = delayed + 0.003 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    sanity, aligned = check_pair(x, sr, noisy, sr)
    assert sanity.delay_samples == delay and sanity.delay_compensated and sanity.delay_method == "waveform"
    assert compute("stoi", x, aligned, sr) > 0.97
    assert compute("stoi", x, noisy, sr) < compute("stoi", x, aligned, sr)


def test_a_delayed_parametric_codec_output_is_aligned_on_the_envelope(clip):
    x, sr = clip
    decoded = get_codec("codec2-3200").roundtrip(x, sr).audio
    delay = int(0.03 * sr)
    sanity, aligned = check_pair(x, sr, shift(decoded, -delay), sr)
    assert sanity.delay_method == "envelope" and sanity.delay_compensated and not sanity.refuse
    assert abs(sanity.delay_samples - delay) <= 0.01 * sr  # 2 ms envelope frames; Codec2 smears onsets
    assert compute("stoi", x, aligned, sr) > compute("stoi", x, shift(decoded, -delay), sr)


def test_unrelated_audio_is_refused_for_intrusive_metrics(clip):
    x, sr = clip
    noise = 0.1 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    sanity, _ = check_pair(x, sr, noise, sr)
    assert "cannot align" in sanity.refuse


def test_clipping_dc_silence_nan_and_length_are_reported(clip):
    x, sr = clip
    loud = np.clip(x * 50, -1, 1)
    sanity, _ = check_pair(x, sr, loud + 0.05, sr)
    assert sanity.deg_clipped_fraction > 0.01 and any("clipped" in w for w in sanity.warnings)
    assert any("DC offset" in w for w in sanity.warnings)
    sanity, _ = check_pair(x, sr, np.zeros_like(x), sr)
    assert sanity.deg_silent and "decoded audio is silent" in sanity.warnings
    broken = x.copy()
    broken[100:110] = np.nan
    sanity, _ = check_pair(x, sr, broken, sr)
    assert sanity.deg_nonfinite == 10 and "NaN" in sanity.refuse
    sanity, aligned = check_pair(x, sr, x[: len(x) - sr // 10], sr)
    assert sanity.length_mismatch_samples == -(sr // 10) and len(aligned) == len(x)


@pytest.mark.parametrize("trim", [0, 3000])
def test_the_delay_searched_a_block_at_a_time_is_the_full_cross_correlations_peak(clip, monkeypatch, trim):
    """Blocks of 4096 samples (the clip holds several): the lag and peak of scipy's full cross-correlation of the
    zero-mean signals, restricted to lags up to MAX_DELAY_S; also when the decoded signal is the shorter."""
    from scipy.signal import correlate

    from eval import sanity

    x, sr = clip
    decoded = get_codec("opus-6k").roundtrip(shift(x, -int(0.021 * sr)), sr).audio
    decoded = decoded[: len(decoded) - trim]
    a = x.astype(np.float64) - np.mean(x, dtype=np.float64)
    b = decoded.astype(np.float64) - np.mean(decoded, dtype=np.float64)
    max_lag, zero = int(sanity.MAX_DELAY_S * sr), len(a) - 1
    window = correlate(b, a, mode="full", method="fft")[zero - max_lag: zero + max_lag + 1]
    k = int(np.argmax(np.abs(window)))
    monkeypatch.setattr(sanity, "BLOCK", 4096)
    assert len(x) > 5 * 4096
    lag, confidence = sanity.estimate_delay(x, decoded, sr)
    assert lag == k - max_lag and abs(lag - int(0.021 * sr)) < 0.005 * sr
    assert confidence == pytest.approx(abs(window[k]) / np.sqrt(np.dot(a, a) * np.dot(b, b)), rel=1e-9)
    hop = int(sanity.ENVELOPE_HOP_S * sr)
    frames = x[: len(x) // hop * hop].reshape(-1, hop).astype(np.float64)
    assert np.array_equal(sanity._envelope(x, hop), np.log10(np.mean(frames**2, axis=1) + 1e-8))
