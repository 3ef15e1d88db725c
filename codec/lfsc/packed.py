"""bf16 on x86 CPUs: the generator with oneDNN-packed weights and channels-last activations.

Plain `F.conv1d` makes oneDNN cast and re-block every weight and re-layout every activation on every call;
here each weight is cast and blocked once, and the convolutions hand channels-last activations to each other
(the elementwise layers and `reflect_pad` keep that layout). On a 2-core AVX512_BF16 CPU this runs a 5 s round
trip about 20 % faster than bf16 autocast with plain convolutions (docs/performance.md). The arithmetic is
bf16 like autocast's, not fp32: the fp32 path keeps plain convolutions, bit-identical to NeMo.

The packing ops are the ones `torch.compile` emits for CPU convolutions (`torch.ops.mkldnn`); conv1d runs as
conv2d over a height of one.
"""

from __future__ import annotations

import torch
from torch import nn

from codec.lfsc.model import LFSCModel
from codec.lfsc.nn import Conv1dNorm, ConvTranspose1dNorm, reflect_pad


def available(dtype: torch.dtype) -> bool:
    """Whether this build and CPU run packed convolutions in `dtype` (bf16 with oneDNN and AVX512_BF16/AMX)."""
    return (
        dtype == torch.bfloat16
        and torch.backends.mkldnn.is_available()
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


class PackedConv1d(nn.Module):
    """A Conv1dNorm (reflect padding, masks skipped) with its weight cast and blocked once."""

    def __init__(self, wrapper: Conv1dNorm, dtype: torch.dtype, input_size: list[int]):
        super().__init__()
        conv = wrapper.conv
        if conv.padding_mode != "reflect" or conv.groups != 1:
            raise ValueError("packed convolutions need LFSC's reflect-padded, ungrouped convs")
        self.padding = conv.padding[0]
        self.args = ([0, 0], [1, conv.stride[0]], [1, conv.dilation[0]], 1)  # padding, stride, dilation, groups
        weight = conv.weight.detach().to(dtype)[:, :, None]
        self.weight = torch.ops.mkldnn._reorder_convolution_weight(weight, *self.args, input_size)
        self.bias = conv.bias.detach().to(dtype)

    def forward(self, x: torch.Tensor, lengths: None) -> torch.Tensor:
        x = reflect_pad(x, self.padding)[:, :, None]
        return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, *self.args, "none", [], "")[:, :, 0]


class PackedConvTranspose1d(nn.Module):
    """A ConvTranspose1dNorm (masks skipped) with its weight cast and blocked once."""

    def __init__(self, wrapper: ConvTranspose1dNorm, dtype: torch.dtype, input_size: list[int]):
        super().__init__()
        conv = wrapper.conv
        # padding, output padding, stride, dilation, groups
        self.args = ([0, conv.padding[0]], [0, conv.output_padding[0]], [1, conv.stride[0]], [1, 1], conv.groups)
        weight = conv.weight.detach().to(dtype)[:, :, None]
        self.weight = torch.ops.mkldnn._reorder_convolution_transpose_weight(weight, *self.args, input_size)
        self.bias = conv.bias.detach().to(dtype)

    def forward(self, x: torch.Tensor, lengths: None) -> torch.Tensor:
        out = torch.ops.mkldnn._convolution_transpose_pointwise(x[:, :, None], self.weight, self.bias, *self.args,
                                                                 "none", [], "")
        return out[:, :, 0]


def _conv_input_sizes(model: LFSCModel, frames: int) -> dict[str, list[int]]:
    """The 4-D input size of every conv wrapper for a batch of one `frames`-frame window (a meta-device run)."""
    from codec.lfsc.inference import decoder_full, encoder_full

    sizes: dict[str, list[int]] = {}

    def record(name: str, wrapper: nn.Module, inputs: tuple) -> None:
        batch, channels, steps = inputs[0].shape
        pad = 2 * wrapper.conv.padding[0] if isinstance(wrapper, Conv1dNorm) else 0
        sizes[name] = [batch, channels, 1, steps + pad]

    with torch.device("meta"):
        twin = LFSCModel(model.config)
        for name, module in twin.named_modules():
            if isinstance(module, (Conv1dNorm, ConvTranspose1dNorm)):
                module.register_forward_pre_hook(lambda m, i, name=name: record(name, m, i))
        encoder_full(twin, torch.empty(1, frames * model.samples_per_frame))
        decoder_full(twin, torch.empty(1, model.config.decoder.input_dim, frames))
    return sizes


def packed_generator(model: LFSCModel, dtype: torch.dtype, frames: int) -> LFSCModel:
    """A twin of `model` whose encoder and decoder run packed `dtype` convolutions (blocked for `frames`-frame
    windows; any length works); only its audio_encoder and audio_decoder are usable, on full-length batches."""
    sizes = _conv_input_sizes(model, frames)
    with torch.device("meta"):
        twin = LFSCModel(model.config)  # the convs are replaced below, so no weight is ever allocated twice
    source = dict(model.named_modules())
    for name, module in list(twin.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, Conv1dNorm):
                setattr(module, child_name, PackedConv1d(source[full], dtype, sizes[full]))
            elif isinstance(child, ConvTranspose1dNorm):
                setattr(module, child_name, PackedConvTranspose1d(source[full], dtype, sizes[full]))
    return twin
