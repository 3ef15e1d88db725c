"""Signal metrics: identity values, ordering under damage, NeMo definitions, failures recorded as errors."""

from __future__ import annotations

import numpy as np
import pytest

from codec.audio import fit_length, load_audio, resample
from eval.metrics import FAST_METRICS, METRICS, MetricError, compute
from eval.sanity import check_pair
from eval_assets import utterances


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    utt = utterances(count=1)[0]
    audio = load_audio(utt.audio_path)
    return audio.samples, audio.sample_rate


def test_identity_gives_the_metric_ceilings(clip):
    x, sr = clip
    assert compute("pesq_wb", x, x, sr) == pytest.approx(4.644, abs=0.01)
    assert compute("pesq_nb", x, x, sr) == pytest.approx(4.549, abs=0.01)
    assert compute("stoi", x, x, sr) == pytest.approx(1.0, abs=1e-6)
    assert compute("estoi", x, x, sr) == pytest.approx(1.0, abs=1e-6)
    assert compute("si_sdr", x, x, sr) > 60
    assert compute("mel_distance", x, x, sr) == 0.0
    assert compute("stft_distance", x, x, sr) == 0.0


def test_more_noise_reads_worse_on_every_metric(clip):
    x, sr = clip
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(x)).astype(np.float32) * float(np.std(x))
    light, heavy = x + 0.03 * noise, x + 0.3 * noise
    for name in FAST_METRICS:
        a, b = compute(name, x, light, sr), compute(name, x, heavy, sr)
        assert (a > b) if METRICS[name].higher_is_better else (a < b), name
        lo, hi = METRICS[name].range
        assert lo <= b <= hi, name


def test_mel_filterbank_equals_librosa():
    import librosa

    from codec.lfsc.spectral_losses import NEMO_MEL_DIMS, NEMO_RESOLUTIONS, slaney_mel_filterbank

    for (n_fft, _, _), n_mels in zip(NEMO_RESOLUTIONS, NEMO_MEL_DIMS):
        expected = librosa.filters.mel(sr=22050, n_fft=n_fft, n_mels=n_mels, fmin=0, fmax=11025, htk=False, norm=None)
        np.testing.assert_allclose(slaney_mel_filterbank(22050, n_fft, n_mels), expected, atol=1e-6)


def test_stft_distance_matches_a_torch_stft_implementation_of_nemos_loss(clip):
    import torch

    from codec.lfsc.spectral_losses import NEMO_RESOLUTIONS

    x, sr = clip
    y = x + 0.05 * np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    ref, deg = (torch.from_numpy(resample(s, sr, 22050)).double() for s in (x, y))
    total = 0.0
    for n_fft, hop, win in NEMO_RESOLUTIONS:
        window = torch.hann_window(win, periodic=False, dtype=torch.float64)
        mags = [torch.sqrt(torch.view_as_real(torch.stft(s, n_fft, hop, win, window, center=True, pad_mode="reflect",
                                                          return_complex=True)).pow(2).sum(-1) + 1e-5) for s in (ref, deg)]
        total += float(torch.mean(torch.abs(torch.log(mags[0] + 1) - torch.log(mags[1] + 1))))
    assert compute("stft_distance", x, y, sr) == pytest.approx(total / len(NEMO_RESOLUTIONS), rel=1e-6)


def test_silence_and_too_short_audio_raise_instead_of_fake_values(clip):
    x, sr = clip
    silence = np.zeros(sr * 2, dtype=np.float32)
    for name in ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr"):
        with pytest.raises(MetricError):
            compute(name, silence, silence, sr)
    short = x[: sr // 5]
    for name in ("pesq_wb", "stoi"):
        with pytest.raises(MetricError):
            compute(name, short, short, sr)


def test_22khz_decoded_audio_against_16khz_reference_is_resampled_not_misread(clip):
    # The pitfall behind a public "PESQ 1.1 / STOI 0.16" for a 22.05 kHz codec: its samples read as 16 kHz.
    x, sr = clip
    x16 = resample(x, sr, 16000)
    decoded_22k = resample(x16, 16000, 22050)
    sanity, aligned = check_pair(x16, 16000, decoded_22k, 22050)
    assert sanity.resampled and sanity.delay_samples == 0 and not sanity.refuse
    assert compute("pesq_wb", x16, aligned, 16000) > 4.4
    assert compute("stoi", x16, aligned, 16000) > 0.99
    misread = fit_length(decoded_22k, len(x16))
    assert compute("stoi", x16, misread, 16000) < 0.6


def test_unknown_metric_is_a_key_error(clip):
    x, sr = clip
    with pytest.raises(KeyError):
        compute("pesq_xb", x, x, sr)


def _glide(rate: int, seconds: float, scale: float = 1.0) -> np.ndarray:
    """A harmonic tone whose pitch glides around 150 Hz (times `scale`), like a voiced vowel."""
    t = np.arange(int(rate * seconds)) / rate
    f0 = scale * (150 + 30 * np.sin(2 * np.pi * 2 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


def test_pitch_metrics_read_the_pitch_error_in_cents_and_the_voicing_changes():
    rate = 16000
    ref = _glide(rate, 2.0)
    assert compute("f0_rmse", ref, ref, rate) == 0.0 and compute("vuv_error", ref, ref, rate) == 0.0
    sharp = _glide(rate, 2.0, scale=2 ** (100 / 1200))  # a semitone up, frame for frame
    assert compute("f0_rmse", ref, sharp, rate) == pytest.approx(100, abs=10)
    assert compute("f0_corr", ref, sharp, rate) > 0.99
    ref[int(1.5 * rate):] = 0.0  # both end in silence; the decoded one also starts with 0.5 s of it
    late = sharp.copy()
    late[: rate // 2] = 0.0
    late[int(1.5 * rate):] = 0.0
    # over all frames (silence included): 0.5 s of 2 s differ; over frames voiced in either it would read 1/3
    assert compute("vuv_error", ref, late, rate) == pytest.approx(0.25, abs=0.03)
    with pytest.raises(MetricError, match="voiced in both"):
        compute("f0_rmse", ref, np.zeros_like(ref), rate)
