"""Building blocks of the LFSC generator and its NeMo relatives (Audio Codec, NanoCodec): weight-normed convs with
length masking, their causal twins, HiFi-GAN residual stacks and the activations NeMo's configs name.

Attribute names mirror NeMo's so that the state_dict keys are NeMo's keys.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm


def mask_to_length(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero every time step at or beyond each item's length (x is [B, C, T], lengths [B]).

    `lengths=None` means every item fills T: the mask would multiply by one everywhere, so it is skipped
    (bit-identical, and no mask work on the fast inference path).
    """
    if lengths is None:
        return x
    steps = torch.arange(1, x.shape[-1] + 1, device=lengths.device, dtype=lengths.dtype)
    # Multiplying by the boolean mask (not masked_fill) keeps results bit-identical to NeMo.
    return x * (steps[None, None, :] <= lengths[:, None, None])


def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """x [..., T] with `pad` mirrored steps added on each side: the values of F.pad(mode='reflect').

    Copying slices is ~10x faster than F.pad's reflect kernel on CPU, where that kernel took 7 % (fp32) to 14 %
    (bf16 autocast) of a round trip. Gradients equal F.pad's too, except when the two mirrored edges overlap
    (T < 2 pad + 2), where they are summed in another order (differences ~1e-7).
    """
    if pad >= x.shape[-1]:
        raise ValueError(f"reflect padding of {pad} needs more than {pad} time steps, got {x.shape[-1]}")
    if pad == 0:
        return x
    # Channels-last input (the packed bf16 path) keeps its layout; time-contiguous input (every other path, single
    # channels included) stays time-contiguous, so plain convolutions see the layout, and give the results, of F.pad.
    if x.dim() == 3 and x.stride(-1) != 1 and x.transpose(1, 2).is_contiguous():
        steps_first = x.transpose(1, 2)
        return torch.cat([steps_first[:, 1 : pad + 1].flip(1), steps_first, steps_first[:, -pad - 1 : -1].flip(1)],
                         dim=1).transpose(1, 2)
    return torch.cat([x[..., 1 : pad + 1].flip(-1), x, x[..., -pad - 1 : -1].flip(-1)], dim=-1)


class Snake(nn.Module):
    """x + sin(alpha x)^2 / alpha per channel (Ziyin et al. 2020), as NeMo computes it."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class HalfSnake(nn.Module):
    """Snake on the first half of the channels, LeakyReLU on the rest (NeMo's HalfSnake)."""

    def __init__(self, channels: int):
        super().__init__()
        self.snake_channels = channels // 2
        self.snake_act = Snake(self.snake_channels)
        self.lrelu = nn.LeakyReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = self.snake_channels
        return torch.cat([self.snake_act(x[:, :split]), self.lrelu(x[:, split:])], dim=1)


class CodecActivation(nn.Module):
    """A learned activation under the attribute name NeMo's CodecActivation gives it, so its keys are NeMo's
    (`activations.0.activation.snake_act.alpha`)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.activation = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x)


# The generators' activations by their NeMo names (LeakyReLU with PyTorch's default slope 0.01): name -> module
# given the channel count.
ACTIVATIONS = {
    "lrelu": lambda channels: nn.LeakyReLU(),
    "elu": lambda channels: nn.ELU(),
    "half_snake": lambda channels: CodecActivation(HalfSnake(channels)),
}
# Output activations by NeMo's names; NeMo's "clamp" is a clamp to [-1, 1], which Hardtanh is.
OUTPUT_ACTIVATIONS = {"tanh": nn.Tanh, "clamp": nn.Hardtanh}


def activation(name: str, channels: int) -> nn.Module:
    """A new activation module named as in NeMo's configs (see ACTIVATIONS) for `channels` channels."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unsupported activation {name!r} (known: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name](channels)


class Conv1dNorm(nn.Module):
    """Weight-normed Conv1d with 'same' reflect padding, output masked to the valid length."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        padding: int | None = None,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        if not padding:
            padding = (kernel_size * dilation - dilation) // 2
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, padding_mode=pad_mode)
        self.conv = weight_norm(conv)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        conv = self.conv
        if conv.padding_mode != "reflect":
            return mask_to_length(conv(x), lengths)
        x = reflect_pad(x, conv.padding[0])
        return mask_to_length(F.conv1d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups), lengths)


class ConvTranspose1dNorm(nn.Module):
    """Weight-normed transposed Conv1d that up-samples by exactly `stride`, output masked."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int = 1):
        super().__init__()
        padding = (kernel_size - stride + 1) // 2
        output_padding = (kernel_size - stride) % 2
        conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups)
        self.conv = weight_norm(conv)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return mask_to_length(self.conv(x), lengths)


class CausalConv1dNorm(nn.Module):
    """Weight-normed Conv1d padded with zeros on the left only (no output step sees a later input step), and on the
    right just enough for whole strides; output masked. NeMo's CausalConv1dNorm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(in_channels, out_channels, kernel_size, stride, dilation=dilation))
        self.left = (kernel_size - 1) * dilation + 1 - stride

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        right = -x.shape[-1] % self.conv.stride[0]
        return mask_to_length(self.conv(F.pad(x, (self.left, right))), lengths)


class CausalConvTranspose1dNorm(nn.Module):
    """Weight-normed transposed Conv1d that up-samples by `stride`, its overhang trimmed on the right only (causal);
    output masked. NeMo's CausalConvTranspose1dNorm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int = 1):
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, groups=groups))
        self.trim = kernel_size - stride

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        y = self.conv(x)
        return mask_to_length(y[..., : y.shape[-1] - self.trim], lengths)


def conv1d_norm(causal: bool, channels: int, kernel_size: int, pad_mode: str, dilation: int = 1,
                out_channels: int | None = None) -> nn.Module:
    """A stride-1 weight-normed conv: causal (zeros on the left) or 'same' padded with `pad_mode`."""
    out_channels = channels if out_channels is None else out_channels
    if causal:
        return CausalConv1dNorm(channels, out_channels, kernel_size, dilation=dilation)
    return Conv1dNorm(channels, out_channels, kernel_size, dilation=dilation, pad_mode=pad_mode)


class ResidualBlock(nn.Module):
    """act -> dilated conv -> act -> conv, added to the input (HiFi-GAN ResBlock1 unit)."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, act: str, pad_mode: str = "reflect",
                 causal: bool = False, filters: int | None = None, dropout: float = 0.0):
        super().__init__()
        filters = channels if filters is None else filters  # the inner width: HiFi-GAN keeps it, ResNetEncoder not
        self.input_activation = activation(act, channels)
        self.skip_activation = activation(act, filters)
        self.dropout = nn.Dropout(dropout)  # NeMo's module layout; LFSC's HiFi-GAN blocks use none
        self.input_conv = conv1d_norm(causal, channels, kernel_size, pad_mode, dilation, out_channels=filters)
        self.skip_conv = conv1d_norm(causal, filters, kernel_size, pad_mode, out_channels=channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        res = self.input_conv(self.input_activation(x), lengths)
        res = self.skip_conv(self.skip_activation(res), lengths)
        return x + self.dropout(res)


class HiFiGANResBlock(nn.Module):
    """ResidualBlocks of one kernel size, one per dilation, applied in sequence."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int], act: str, pad_mode: str = "reflect",
                 causal: bool = False):
        super().__init__()
        self.res_blocks = nn.ModuleList(
            [ResidualBlock(channels, kernel_size, d, act, pad_mode, causal) for d in dilations]
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        for block in self.res_blocks:
            x = block(x, lengths)
        return x


class HiFiGANResLayer(nn.Module):
    """Multi-receptive-field fusion: one HiFiGANResBlock per kernel size on the same input, averaged."""

    def __init__(
        self, channels: int, kernel_sizes: Sequence[int], dilations: Sequence[int], act: str, pad_mode: str = "reflect",
        causal: bool = False,
    ):
        super().__init__()
        self.res_blocks = nn.ModuleList(
            [HiFiGANResBlock(channels, k, dilations, act, pad_mode, causal) for k in kernel_sizes]
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        # Python's sum then a true division: the same float operations, in the same order, as NeMo; the
        # generator adds each branch as it comes, so only one branch output is held at a time.
        return sum(block(x, lengths) for block in self.res_blocks) / len(self.res_blocks)
