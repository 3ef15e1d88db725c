"""Reduced precision with the weights cast once and channels-last activations: the generator's packed twin.

Plain `F.conv1d` under autocast casts every weight on every call and hands the convolution library
time-contiguous activations, which it re-lays out for its fast kernels. The twin holds each weight already in the
target dtype, and the convolutions hand channels-last activations to each other (the elementwise layers and
`reflect_pad` keep that layout); conv1d runs as conv2d over a height of one.
- x86 CPUs with native bf16: the weights are also blocked by oneDNN once (the ops `torch.compile` emits for CPU
  convolutions, `torch.ops.mkldnn`). A 5 s round trip on a 2-core AVX512_BF16 CPU runs about 1.4x faster than
  bf16 autocast with plain convolutions (docs/performance.md).
- CUDA, bf16 or fp16: channels-last cuDNN convolutions (docs/performance.md has the GPU figures).
The arithmetic is the reduced precision's, like autocast's, not fp32: the fp32 path keeps plain convolutions,
bit-identical to NeMo. The twin is a snapshot: weights changed in the model later are not seen.
"""

from __future__ import annotations

import platform

import torch
from torch import nn
from torch.nn import functional as F

from codec.lfsc.mel_encoder import MultiBandMelEncoder
from codec.lfsc.model import LFSCModel, decoder_full, encoder_full
from codec.lfsc.nn import CausalConv1dNorm, CausalConvTranspose1dNorm, Conv1dNorm, ConvTranspose1dNorm, reflect_pad


def _native_bf16_cpu() -> bool:
    # oneDNN also "supports" bf16 by emulation on older AVX-512 CPUs, where it is no faster: ask for the hardware.
    return (
        platform.machine().lower() in ("x86_64", "amd64")
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    )


def _packable(model: LFSCModel) -> bool:
    """Whether every conv is of the kinds packed here (LFSC's: reflect-padded, ungrouped, undilated transposes)."""
    if isinstance(model.audio_encoder, MultiBandMelEncoder):  # the Mel Codec's: its features are no convs
        return False
    for module in model.modules():
        conv = getattr(module, "conv", None)
        if isinstance(module, (CausalConv1dNorm, CausalConvTranspose1dNorm)):  # NanoCodec's decoder: not packed
            return False
        if isinstance(module, Conv1dNorm) and (conv.padding_mode != "reflect" or conv.groups != 1):
            return False
        if isinstance(module, ConvTranspose1dNorm) and (conv.dilation[0] != 1 or conv.groups != 1):
            return False
    return True


def available(model: LFSCModel, dtype: torch.dtype) -> bool:
    """Whether `model` runs packed in `dtype` here: bf16 on an x86 CPU with AVX512_BF16 or AMX and oneDNN, or
    bf16/fp16 on CUDA."""
    device = model.device.type
    on_cpu = device == "cpu" and dtype == torch.bfloat16 and _native_bf16_cpu()
    on_cuda = device == "cuda" and dtype in (torch.bfloat16, torch.float16)
    return (on_cpu or on_cuda) and _packable(model)


def kernels(device: torch.device) -> str:
    """What the packed convolutions run on `device`, for run settings and reports."""
    return "oneDNN packed" if device.type == "cpu" else "cuDNN channels-last"


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """x [B, C, T] as [B, C, 1, T] in channels-last memory (a view when it already is; C = 1 is both layouts)."""
    return x[:, :, None].contiguous(memory_format=torch.channels_last)


class PackedConv1d(nn.Module):
    """A Conv1dNorm (reflect padding, masks skipped) with its weight cast once: blocked by oneDNN for inputs of
    `input_size` (4-D), or with `input_size=None` run as a plain channels-last convolution (CUDA)."""

    def __init__(self, wrapper: Conv1dNorm, dtype: torch.dtype, input_size: list[int] | None):
        super().__init__()
        conv = wrapper.conv
        self.padding, self.stride, self.dilation = conv.padding[0], conv.stride[0], conv.dilation[0]
        self.kernel_size = conv.kernel_size[0]
        weight = conv.weight.detach().to(dtype)[:, :, None]
        self.onednn = input_size is not None
        if self.onednn:
            self.weight = torch.ops.mkldnn._reorder_convolution_weight(weight, *self._onednn_args(), input_size)
        else:
            self.weight = weight.contiguous(memory_format=torch.channels_last)
        self.bias = conv.bias.detach().to(dtype)

    def _onednn_args(self) -> tuple:
        # padding (done by reflect_pad), stride, dilation, groups
        return [0, 0], [1, self.stride], [1, self.dilation], 1

    def forward(self, x: torch.Tensor, lengths: None) -> torch.Tensor:
        return self.unpadded(reflect_pad(x, self.padding))

    def unpadded(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of x as it is (no padding): its outputs whose inputs all lie in x."""
        if self.onednn:
            out = torch.ops.mkldnn._convolution_pointwise(x[:, :, None], self.weight, self.bias, *self._onednn_args(),
                                                          "none", [], "")
        else:
            out = F.conv2d(_channels_last(x), self.weight, self.bias, (1, self.stride), 0, (1, self.dilation))
        return out[:, :, 0]


class PackedConvTranspose1d(nn.Module):
    """A ConvTranspose1dNorm (masks skipped) with its weight cast once; `input_size` as for PackedConv1d."""

    def __init__(self, wrapper: ConvTranspose1dNorm, dtype: torch.dtype, input_size: list[int] | None):
        super().__init__()
        conv = wrapper.conv
        self.stride, self.padding, self.output_padding = conv.stride[0], conv.padding[0], conv.output_padding[0]
        self.kernel_size = conv.kernel_size[0]
        weight = conv.weight.detach().to(dtype)[:, :, None]
        self.onednn = input_size is not None
        if self.onednn:
            self.weight = torch.ops.mkldnn._reorder_convolution_transpose_weight(weight, *self._onednn_args(), input_size)
        else:
            self.weight = weight.contiguous(memory_format=torch.channels_last)
        self.bias = conv.bias.detach().to(dtype)

    def _onednn_args(self) -> tuple:
        # padding, output padding, stride, dilation, groups
        return [0, self.padding], [0, self.output_padding], [1, self.stride], [1, 1], 1

    def forward(self, x: torch.Tensor, lengths: None) -> torch.Tensor:
        if self.onednn:
            out = torch.ops.mkldnn._convolution_transpose_pointwise(x[:, :, None], self.weight, self.bias,
                                                                     *self._onednn_args(), "none", [], "")
        else:
            out = F.conv_transpose2d(_channels_last(x), self.weight, self.bias, (1, self.stride), (0, self.padding),
                                     (0, self.output_padding))
        return out[:, :, 0]


class PackedGenerator(nn.Module):
    """The packed encoder and decoder; called like the model's (`encoder_full`/`decoder_full`), full length only."""

    def __init__(self, audio_encoder: nn.Module, audio_decoder: nn.Module):
        super().__init__()
        self.audio_encoder = audio_encoder
        self.audio_decoder = audio_decoder


def window_sizes(model: LFSCModel, encoder_frames: int, decoder_frames: int) -> dict[str, list[int]]:
    """The 4-D input size of every conv wrapper for batches of one window (a meta-device run)."""
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
        encoder_full(twin, torch.empty(1, encoder_frames * model.samples_per_frame))
        decoder_full(twin, torch.empty(1, model.config.decoder.input_dim, decoder_frames))
    return sizes


def packed_generator(model: LFSCModel, dtype: torch.dtype, sizes: dict[str, list[int]]) -> PackedGenerator:
    """The encoder and decoder of `model` with packed `dtype` convolutions; `model` itself is left as it is.
    `sizes`: per conv wrapper's name, the 4-D input size its weight is blocked for by oneDNN (CPU; any length
    runs, the sizes blocked for fastest, others can be many times slower); {}: plain channels-last (CUDA)."""
    with torch.device("meta"):
        twin = LFSCModel(model.config)  # every conv is replaced below: no weight of the twin is ever allocated
    source = dict(model.named_modules())
    for name, module in list(twin.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, Conv1dNorm):
                setattr(module, child_name, PackedConv1d(source[full], dtype, sizes.get(full)))
            elif isinstance(child, ConvTranspose1dNorm):
                setattr(module, child_name, PackedConvTranspose1d(source[full], dtype, sizes.get(full)))
    # What is left on the meta device are the learned activations' parameters (the Audio Codec's and NanoCodec's
    # half-snake alphas; LFSC has none): the model's own, in the packed dtype the convolutions hand them.
    left = {key for key, value in twin.state_dict().items() if value.is_meta}
    twin.load_state_dict({key: value.to(dtype) for key, value in model.state_dict().items() if key in left},
                         strict=False, assign=True)
    return PackedGenerator(twin.audio_encoder, twin.audio_decoder).eval()
