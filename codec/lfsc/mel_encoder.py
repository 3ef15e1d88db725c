"""NeMo's MultiBandMelEncoder, the Mel Codec's encoder, in plain PyTorch: audio -> log-mel spectrogram at the frame
rate -> each band of mel channels encoded by its own ResNet of HiFi-GAN residual blocks -> the bands' latents
concatenated. Attribute names mirror NeMo's, so the state_dict keys are NeMo's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from codec.lfsc.nn import ResidualBlock, activation, conv1d_norm

if TYPE_CHECKING:
    from codec.lfsc.model import MelEncoderConfig

# Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above.
_HZ_PER_MEL = 200.0 / 3
_LOG_FROM_HZ = 1000.0
_LOG_FROM_MEL = _LOG_FROM_HZ / _HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= _LOG_FROM_HZ, _LOG_FROM_MEL + np.log(np.maximum(hz, _LOG_FROM_HZ) / _LOG_FROM_HZ) / _LOG_STEP,
                    hz / _HZ_PER_MEL)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return np.where(mel >= _LOG_FROM_MEL, _LOG_FROM_HZ * np.exp(_LOG_STEP * (mel - _LOG_FROM_MEL)), mel * _HZ_PER_MEL)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] float32 triangles of peak 1 on Slaney's mel scale from 0 Hz to Nyquist: what NeMo's
    FilterbankFeatures gets from librosa.filters.mel(norm=None)."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising, falling = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


class LogMelFeatures(nn.Module):
    """Audio [B, T] -> log(mel magnitude + log_guard) [B, mel_dim, frames] and frame counts, as NeMo's
    FilterbankFeatures computes them for the Mel Codec (exact padding, no pre-emphasis, dither or normalisation):
    frames past each item's count are zeros, and an item of T samples counts (T - hop) // hop frames."""

    def __init__(self, sample_rate: int, win_length: int, hop_length: int, mel_dim: int, log_guard: float):
        super().__init__()
        self.n_fft, self.hop_length, self.log_guard = win_length, hop_length, log_guard
        self.register_buffer("window", torch.hann_window(win_length, periodic=False))
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(sample_rate, win_length, mel_dim))[None])

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = (self.n_fft - self.hop_length) // 2
        frames = torch.floor_divide(lengths + 2 * pad - self.n_fft, self.hop_length).long()
        frames = torch.where(lengths == 0, torch.zeros_like(frames), frames)
        # NeMo computes the features in float32 whatever the model's dtype, autocast off
        with torch.autocast(audio.device.type, enabled=False):
            x = nn.functional.pad(audio.float(), (pad, pad))
            spec = torch.stft(x, self.n_fft, self.hop_length, self.n_fft, self.window.float(), center=False,
                              return_complex=True)
            magnitude = torch.view_as_real(spec).pow(2).sum(-1).sqrt()
            mel = torch.log(torch.matmul(self.fb.float(), magnitude) + self.log_guard)
        steps = torch.arange(mel.shape[-1], device=mel.device)
        return mel.masked_fill((steps[None, :] >= frames[:, None])[:, None, :], 0.0), frames


class MelSpectrogramProcessor(nn.Module):
    """LogMelFeatures under NeMo's nesting, so its buffers have NeMo's keys (mel_processor.preprocessor.featurizer.fb)."""

    def __init__(self, cfg: MelEncoderConfig):
        super().__init__()
        self.preprocessor = nn.Module()
        self.preprocessor.featurizer = LogMelFeatures(cfg.sample_rate, cfg.win_length, cfg.hop_length, cfg.mel_dim,
                                                      cfg.log_guard)

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.preprocessor.featurizer(audio, lengths)


class ResNetEncoder(nn.Module):
    """Features [B, in_channels, N] -> [B, out_channels, N]: conv, residual blocks (channels -> filters -> channels),
    activation, conv; every output masked to the lengths."""

    def __init__(self, in_channels: int, cfg: MelEncoderConfig):
        super().__init__()
        k, pad_mode, act = cfg.kernel_size, cfg.pad_mode, cfg.activation
        self.pre_conv = conv1d_norm(False, in_channels, k, pad_mode, out_channels=cfg.hidden_channels)
        self.res_layers = nn.ModuleList([ResidualBlock(cfg.hidden_channels, k, 1, act, pad_mode, filters=cfg.filters,
                                                       dropout=cfg.dropout_rate) for _ in range(cfg.num_layers)])
        self.post_activation = activation(act, cfg.hidden_channels)
        self.post_conv = conv1d_norm(False, cfg.hidden_channels, k, pad_mode, out_channels=cfg.out_channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.pre_conv(x, lengths)
        for block in self.res_layers:
            x = block(x, lengths)
        return self.post_conv(self.post_activation(x), lengths)


class MultiBandMelEncoder(nn.Module):
    """Audio [B, T] -> latent [B, len(mel_bands) * out_channels, T / hop_length] and frame counts: each band
    (start, end) of mel channels encoded by its own ResNetEncoder."""

    def __init__(self, cfg: MelEncoderConfig):
        super().__init__()
        self.mel_bands = [tuple(band) for band in cfg.mel_bands]
        self.mel_processor = MelSpectrogramProcessor(cfg)
        self.encoders = nn.ModuleList([ResNetEncoder(end - start, cfg) for start, end in self.mel_bands])

    def context_frames(self) -> int:
        """Whole frames of context each side that one encoded frame depends on: the STFT window's overhang past
        its frame, then one step per conv (each ResNet: pre_conv, two per residual block, post_conv)."""
        features = self.mel_processor.preprocessor.featurizer
        window = -(-(features.n_fft - features.hop_length) // 2 // features.hop_length)
        resnet = self.encoders[0]
        convs = [resnet.pre_conv, resnet.post_conv] + [c for b in resnet.res_layers for c in (b.input_conv, b.skip_conv)]
        return window + sum(c.conv.dilation[0] * (c.conv.kernel_size[0] - 1) // 2 for c in convs)

    def forward(self, audio: torch.Tensor, audio_len: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode; `audio_len=None` means every item fills the batch. The frame counts are NeMo's even then (one
        fewer than T / hop_length: the last frame is masked), so full-length and masked calls agree."""
        if audio_len is None:
            audio_len = torch.full((audio.shape[0],), audio.shape[1], device=audio.device)
        spec, spec_len = self.mel_processor(audio, audio_len)
        spec = spec.to(audio.dtype)
        bands = [encoder(spec[:, start:end], spec_len) for (start, end), encoder in zip(self.mel_bands, self.encoders)]
        return torch.cat(bands, dim=1), spec_len
