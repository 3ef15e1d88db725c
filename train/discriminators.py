"""The multi-resolution complex-STFT and multi-period discriminators, and the wrapper that runs all of them.

Attribute names mirror NeMo's, so the state-dict keys are NeMo's (`discriminator.discriminators.0...`).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

LRELU_SLOPE = 0.1
# A discriminator maps audio [B, T] to (score maps, feature maps per sub-discriminator).
Outputs = tuple[list[torch.Tensor], list[list[torch.Tensor]]]


class Conv2dNorm(nn.Module):
    """Weight-normed Conv2d with 'same' reflect padding (kernel and dilation given as (time, freq))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], stride=(1, 1), dilation=(1, 1)):
        super().__init__()
        padding = tuple((k * d - d) // 2 for k, d in zip(kernel_size, dilation))
        self.conv = weight_norm(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, padding_mode="reflect")
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def conv_stack(
    convs: nn.ModuleList, post: nn.Module, activation: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Activated convs then the score conv; the feature maps are each activation and the score."""
    fmap = []
    for conv in convs:
        x = activation(conv(x))
        fmap.append(x)
    score = post(x)
    fmap.append(score)
    return score, fmap


class DiscriminatorSTFT(nn.Module):
    """EnCodec-style discriminator on the complex STFT (real and imaginary parts as two channels)."""

    def __init__(self, resolution: Sequence[int]):
        super().__init__()
        self.n_fft, self.hop_length, win_length = resolution
        self.register_buffer("window", torch.hann_window(win_length, periodic=False))
        self.activation = nn.LeakyReLU(LRELU_SLOPE)
        self.conv_layers = nn.ModuleList([
            Conv2dNorm(2, 32, (3, 9)),
            Conv2dNorm(32, 32, (3, 9), stride=(1, 2), dilation=(1, 1)),
            Conv2dNorm(32, 32, (3, 9), stride=(1, 2), dilation=(2, 1)),
            Conv2dNorm(32, 32, (3, 9), stride=(1, 2), dilation=(4, 1)),
            Conv2dNorm(32, 32, (3, 3)),
        ])
        self.conv_post = Conv2dNorm(32, 1, (3, 3))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(
            audio.float(), self.n_fft, self.hop_length, win_length=len(self.window), window=self.window,
            normalized=True, center=True, return_complex=True,
        )
        x = torch.stack([spec.real, spec.imag], dim=1).transpose(2, 3)  # [B, 2, frames, freq]
        score, fmap = conv_stack(self.conv_layers, self.conv_post, self.activation, x)
        return score[:, 0].transpose(1, 2), fmap  # [B, freq', frames]


class SubDiscriminators(nn.Module):
    """Sub-discriminators run on the same audio; their scores and feature maps listed in order."""

    def __init__(self, discriminators: Sequence[nn.Module]):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    def forward(self, audio: torch.Tensor) -> Outputs:
        outputs = [d(audio) for d in self.discriminators]
        return [s for s, _ in outputs], [f for _, f in outputs]


class MultiResolutionDiscriminatorSTFT(SubDiscriminators):
    """One DiscriminatorSTFT per [n_fft, hop, win] resolution."""

    def __init__(self, resolutions: Sequence[Sequence[int]]):
        super().__init__([DiscriminatorSTFT(r) for r in resolutions])


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN period discriminator: audio folded into [T/p, p] and convolved along time."""

    def __init__(self, period: int):
        super().__init__()
        self.period = period
        self.activation = nn.LeakyReLU(LRELU_SLOPE)
        self.conv_layers = nn.ModuleList([
            Conv2dNorm(1, 32, (5, 1), stride=(3, 1)),
            Conv2dNorm(32, 128, (5, 1), stride=(3, 1)),
            Conv2dNorm(128, 512, (5, 1), stride=(3, 1)),
            Conv2dNorm(512, 1024, (5, 1), stride=(3, 1)),
            Conv2dNorm(1024, 1024, (5, 1)),
        ])
        self.conv_post = Conv2dNorm(1024, 1, (3, 1))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = audio[:, None, :]
        remainder = x.shape[-1] % self.period
        if remainder:
            x = nn.functional.pad(x, (0, self.period - remainder), mode="reflect")
        x = x.view(x.shape[0], 1, -1, self.period)
        score, fmap = conv_stack(self.conv_layers, self.conv_post, self.activation, x)
        return score[:, 0].transpose(1, 2), fmap  # [B, period, frames]


class MultiPeriodDiscriminator(SubDiscriminators):
    """One PeriodDiscriminator per period."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11)):
        super().__init__([PeriodDiscriminator(p) for p in periods])


class Discriminator(nn.Module):
    """Runs every discriminator on real and generated audio (one batch) and pools their scores and feature maps."""

    def __init__(self, discriminators: Sequence[nn.Module]):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    def forward(
        self, audio_real: torch.Tensor, audio_gen: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """(scores_real, scores_gen, fmaps_real, fmaps_gen), one entry per sub-discriminator."""
        n = audio_real.shape[0]
        both = torch.cat([audio_real, audio_gen.to(audio_real.dtype)])  # one pass: no batch statistics anywhere
        scores_real, scores_gen, fmaps_real, fmaps_gen = [], [], [], []
        for disc in self.discriminators:
            scores, fmaps = disc(both)
            scores_real += [s[:n] for s in scores]
            scores_gen += [s[n:] for s in scores]
            fmaps_real += [[f[:n] for f in fm] for fm in fmaps]
            fmaps_gen += [[f[n:] for f in fm] for fm in fmaps]
        return scores_real, scores_gen, fmaps_real, fmaps_gen

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without frozen speech-model weights (they come from their own files)."""
        frozen = {name for name, p in self.named_parameters() if not p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k not in frozen and ".slm_model." not in k}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load what trainable_state_dict saved; every trainable tensor must be present with its shape."""
        expected = self.trainable_state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in expected if k in state and state[k].shape != expected[k].shape)
        if missing or unexpected or wrong:
            raise ValueError(f"discriminator mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}, shapes {wrong[:3]}")
        self.load_state_dict(state, strict=False)
