"""The training losses (spectral and adversarial) against hand-computed values and an independent numpy reference on small inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from codec.lfsc.spectral_losses import MultiResolutionMelLoss, MultiResolutionSTFTLoss, masked_l1, slaney_mel_filterbank
from train.losses import discriminator_loss, feature_matching_loss, generator_adversarial_loss


def test_masked_l1_by_hand():
    # item 0: frames |1,3|, |2,4| -> means 2, 3 over 2 valid frames -> 2.5; item 1: one valid frame, mean 1 -> 1.
    predicted = torch.tensor([[[1.0, 2.0, 9.0], [3.0, 4.0, 9.0]], [[1.0, 7.0, 7.0], [1.0, 7.0, 7.0]]])
    loss = masked_l1(predicted, torch.zeros_like(predicted), torch.tensor([2, 1]))
    assert loss.item() == pytest.approx((2.5 + 1.0) / 2)


def _slaney_hz_to_mel(hz):
    # Linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4).
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz < 1000, hz / (200 / 3), 15 + np.log(np.maximum(hz, 1e-9) / 1000) / (np.log(6.4) / 27))


def _slaney_mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel < 15, mel * (200 / 3), 1000 * np.exp((mel - 15) * np.log(6.4) / 27))


def _triangles(sr, n_fft, n_mels):
    edges = _slaney_mel_to_hz(np.linspace(0, _slaney_hz_to_mel(sr / 2), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, centre, hi = edges[m : m + 3]
        fb[m] = np.maximum(0, np.minimum((freqs - lo) / (centre - lo), (hi - freqs) / (hi - centre)))
    return fb


@pytest.mark.parametrize("n_fft,n_mels", [(32, 5), (256, 40), (2048, 320)])
def test_filterbank_is_slaney_scale_without_area_norm(n_fft, n_mels):
    fb = slaney_mel_filterbank(22050, n_fft, n_mels)
    assert fb.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(fb, _triangles(22050, n_fft, n_mels), atol=1e-5)


def _log_spectrum_reference(audio, n_fft, hop, win):
    """Independent numpy STFT: reflect pad n_fft/2, symmetric Hann, |X| with the 1e-5 guard."""
    padded = np.pad(audio, n_fft // 2, mode="reflect")
    window = np.zeros(n_fft)
    start = (n_fft - win) // 2
    window[start : start + win] = np.hanning(win)
    frames = [padded[i : i + n_fft] * window for i in range(0, len(padded) - n_fft + 1, hop)]
    spec = np.fft.rfft(np.array(frames), axis=1).T  # [freq, frames]
    return np.sqrt(spec.real**2 + spec.imag**2 + 1e-5)


def _masked_reference(a, b, frames):
    return np.abs(a - b).mean(axis=0)[:frames].sum() / frames


def test_mel_and_stft_losses_match_numpy_reference():
    rng = np.random.default_rng(0)
    real, gen = rng.standard_normal((2, 2, 24)).astype(np.float32)
    lengths = np.array([24, 14])
    res, n_mels = [16, 4, 16], 3
    fb = _triangles(22050, 16, n_mels)
    mel_ref, stft_ref = [], []
    for i in range(2):
        frames = lengths[i] // 4 + 1  # valid frames of a length-L signal with hop 4
        mr, mg = _log_spectrum_reference(real[i], *res), _log_spectrum_reference(gen[i], *res)
        mel_ref.append(_masked_reference(np.log(fb @ mr + 1), np.log(fb @ mg + 1), frames))
        stft_ref.append(_masked_reference(np.log(mr + 1), np.log(mg + 1), frames))
    args = (torch.from_numpy(real), torch.from_numpy(gen), torch.from_numpy(lengths))
    mel = MultiResolutionMelLoss(22050, [res], [n_mels], log_guard=1.0)(*args)
    stft = MultiResolutionSTFTLoss([res], log_guard=1.0)(*args)
    assert mel.item() == pytest.approx(np.mean(mel_ref), rel=1e-4)
    assert stft.item() == pytest.approx(np.mean(stft_ref), rel=1e-4)


def test_multi_resolution_loss_is_mean_over_resolutions():
    torch.manual_seed(0)
    real, gen = torch.randn(2, 1, 4096)
    lengths = torch.tensor([4096])
    resolutions, dims = [[64, 16, 64], [256, 64, 256]], [10, 40]
    both = MultiResolutionMelLoss(22050, resolutions, dims)(real, gen, lengths)
    each = [MultiResolutionMelLoss(22050, [r], [d])(real, gen, lengths) for r, d in zip(resolutions, dims)]
    assert both.item() == pytest.approx(sum(e.item() for e in each) / 2, rel=1e-6)
    assert MultiResolutionMelLoss(22050, resolutions, dims)(real, real, lengths).item() == 0.0


def test_least_squares_losses_by_hand():
    scores_gen = [torch.tensor([[0.5, 1.0]]), torch.tensor([[0.0]])]
    scores_real = [torch.tensor([[1.0, 1.0]]), torch.tensor([[0.5]])]
    # generator: ((0.25 + 0) / 2 + 1) / 2
    assert generator_adversarial_loss(scores_gen).item() == pytest.approx(0.5625)
    # discriminator: ((0 + (0.25 + 1) / 2) / 2 + (0.25 + 0) / 2) / 2
    assert discriminator_loss(scores_real, scores_gen).item() == pytest.approx(0.21875)


def test_feature_matching_by_hand():
    real = [[torch.ones(2), torch.zeros(3)], [torch.ones(1)]]
    gen = [[torch.zeros(2), 2 * torch.ones(3)], [0.5 * torch.ones(1)]]
    # disc 0: (1 + 2) / 2 = 1.5; disc 1: 0.5 / 1; mean 1.0
    assert feature_matching_loss(real, gen).item() == pytest.approx(1.0)


def test_losses_have_gradients_at_silence():
    gen = torch.zeros(1, 2048, requires_grad=True)
    loss = MultiResolutionSTFTLoss([[64, 16, 64]])(torch.zeros(1, 2048), gen, torch.tensor([2048]))
    loss.backward()
    assert math.isfinite(loss.item()) and torch.isfinite(gen.grad).all()
