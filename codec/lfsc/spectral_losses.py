"""LFSC's spectral reconstruction losses (spec section 5.1): multi-resolution log-mel and log-STFT L1, which training
minimises and eval reports as distances."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

SQRT_GUARD = 1e-5  # added under the square root of |STFT|^2 so the gradient at zero is finite


# NeMo LFSC's loss resolutions [n_fft, hop, win] and mel bins (lfsc_spec.md section 5.1); the training defaults
# and eval's mel/STFT distance both use them.
NEMO_RESOLUTIONS = ((32, 8, 32), (64, 16, 64), (128, 32, 128), (256, 64, 256), (512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
NEMO_MEL_DIMS = (5, 10, 20, 40, 80, 160, 320)


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / logstep, hz / (200.0 / 3))


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(logstep * (mel - 15.0)), mel * (200.0 / 3))


def slaney_mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Mel filterbank [n_mels, n_fft//2 + 1] on the Slaney mel scale, 0 Hz to Nyquist, triangles of peak 1 (no area norm).

    Equal to librosa.filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr/2, htk=False, norm=None) (a test checks it),
    written out because importing librosa costs seconds in every process that computes a mel distance.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, 1 + n_fft // 2)
    mel_freqs = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(0.0), _hz_to_slaney_mel(sample_rate / 2), n_mels + 2))
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    fdiff = np.diff(mel_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)


def masked_l1(predicted: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """|predicted - target| over [B, D, T]: mean over D, sum over the first `lengths` frames / lengths, mean over B."""
    steps = torch.arange(target.shape[-1], device=target.device)
    mask = (steps[None, :] < lengths[:, None]).to(target.dtype)
    per_frame = (predicted - target).abs().mean(dim=1) * mask
    return (per_frame.sum(dim=1) / lengths.clamp(min=1)).mean()


def magnitude(audio: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor, normalized: bool = False) -> torch.Tensor:
    """|STFT| [B, n_fft//2+1, T//hop + 1] with centred reflect-padded frames, guarded for gradients.

    Computed in the window's dtype: float32 in training (also under autocast), float64 for eval's distances.
    """
    spec = torch.stft(
        audio.to(window.dtype), n_fft, hop, win_length=len(window), window=window, center=True, pad_mode="reflect",
        normalized=normalized, return_complex=True,
    )
    spec = torch.view_as_real(spec)
    return torch.sqrt(spec.pow(2).sum(-1) + SQRT_GUARD)


class MultiResolutionMelLoss(nn.Module):
    """Mean over resolutions of the masked L1 distance between log(mel + log_guard) spectrograms."""

    def __init__(self, sample_rate: int, resolutions: Sequence[Sequence[int]], mel_dims: Sequence[int], log_guard: float = 1.0):
        super().__init__()
        if len(resolutions) != len(mel_dims):
            raise ValueError("need one mel size per loss resolution")
        self.resolutions = [tuple(r) for r in resolutions]
        self.log_guard = log_guard
        for i, ((n_fft, _, win), n_mels) in enumerate(zip(self.resolutions, mel_dims)):
            self.register_buffer(f"window_{i}", torch.hann_window(win, periodic=False), persistent=False)
            fb = torch.from_numpy(slaney_mel_filterbank(sample_rate, n_fft, n_mels))
            self.register_buffer(f"fb_{i}", fb, persistent=False)

    def log_mel(self, audio: torch.Tensor, i: int) -> torch.Tensor:
        """log(mel + guard) [B, n_mels, frames] at resolution i."""
        n_fft, hop, _ = self.resolutions[i]
        mag = magnitude(audio, n_fft, hop, getattr(self, f"window_{i}"))
        return torch.log(getattr(self, f"fb_{i}") @ mag + self.log_guard)

    def forward(self, audio_real: torch.Tensor, audio_gen: torch.Tensor, audio_len: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for i, (_, hop, _) in enumerate(self.resolutions):
            frames = audio_len // hop + 1
            total = total + masked_l1(self.log_mel(audio_gen, i), self.log_mel(audio_real, i), frames)
        return total / len(self.resolutions)


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over resolutions of the masked L1 distance between log(|STFT| + log_guard) spectrograms."""

    def __init__(self, resolutions: Sequence[Sequence[int]], log_guard: float = 1.0):
        super().__init__()
        self.resolutions = [tuple(r) for r in resolutions]
        self.log_guard = log_guard
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window_{i}", torch.hann_window(win, periodic=False), persistent=False)

    def forward(self, audio_real: torch.Tensor, audio_gen: torch.Tensor, audio_len: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for i, (n_fft, hop, _) in enumerate(self.resolutions):
            window = getattr(self, f"window_{i}")
            real = torch.log(magnitude(audio_real, n_fft, hop, window) + self.log_guard)
            gen = torch.log(magnitude(audio_gen, n_fft, hop, window) + self.log_guard)
            total = total + masked_l1(gen, real, audio_len // hop + 1)
        return total / len(self.resolutions)
