"""The LFSC family's encoder and decoder run incrementally: every layer keeps the inputs its next outputs still need,
and a step computes each layer's new outputs only, the moment all their inputs are in (no window of past context is
run again, as the windowed live stream does). With the whole receptive field waited for, this is the live stream at
whole-file compute.

Why it is whole-file coding: a padded convolution's output at step t reads the inputs t - p .. t + p, padded at the
two edges (reflected, replicated or zeros; a causal one: zeros on the left only); here the left edge is padded when
the first inputs arrive and the right edge at `flush`, and every output in between is one convolution over exactly
its own inputs, so each layer's outputs are the whole-file layer's, given as soon as the inputs they read are in.
Residual sums and the multi-receptive-field mean wait for their slowest branch. A transposed convolution gives an
output once every input that adds to it is in. Works on the model's layers (fp32, autocast) and on its packed
twin's (codec.lfsc.packed).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from codec.errors import UserError
from codec.lfsc.inference import LFSCInference, receptive_field
from codec.lfsc.model import HiFiGANDecoder, HiFiGANEncoder, LFSCModel
from codec.lfsc.nn import CausalConv1dNorm
from codec.lfsc.packed import PackedConv1d, PackedConvTranspose1d
from codec.streaming import CodecStream

Chunk = torch.Tensor | None  # [B, C, steps]; None: no steps


def steps(x: Chunk) -> int:
    """Time steps in a chunk."""
    return 0 if x is None else x.shape[-1]


def join(a: Chunk, b: Chunk) -> Chunk:
    """a then b along time, steps first in memory when either is (the packed twin's convolutions hand on
    channels-last activations, and run slowly on others)."""
    if steps(a) == 0:
        return b
    if steps(b) == 0:
        return a
    if _steps_first(a) or _steps_first(b):
        return torch.cat([a.transpose(1, 2), b.transpose(1, 2)], dim=1).transpose(1, 2)
    return torch.cat([a, b], dim=-1)


def _steps_first(x: torch.Tensor) -> bool:
    return x.stride(-1) != 1 and x.transpose(1, 2).is_contiguous()


class Conv:
    """A convolution padded on each side (reflect, replicate or zeros), or a causal one (zeros on the left, then to
    whole strides): an output as soon as the inputs it reads are in."""

    def __init__(self, module: nn.Module):
        # The packed twin's convolutions keep their sizes as numbers, the model's in their nn.Conv1d as tuples.
        sizes = module if isinstance(module, PackedConv1d) else module.conv
        kernel, dilation, stride, pad = (size if isinstance(size, int) else size[0] for size in (
            sizes.kernel_size, sizes.dilation, sizes.stride, sizes.padding))
        self.span, self.stride, self.pad = dilation * (kernel - 1) + 1, stride, pad
        self.mode = ("causal" if isinstance(module, CausalConv1dNorm)
                     else "reflect" if isinstance(module, PackedConv1d) else module.conv.padding_mode)
        self.module, self.run = module, unpadded(module)
        self.input_size: list[int] = []  # of its last run, 4-D as the packed twin's kernels are blocked for
        self.held: Chunk = None  # inputs not yet read to their end (the left edge's padding included)
        self.seen, self.started = 0, False

    def push(self, x: Chunk) -> Chunk:
        """The outputs that `x` completes."""
        self.held, self.seen = join(self.held, x), self.seen + steps(x)
        if not self.started:
            if steps(self.held) < (self.pad + 1 if self.mode == "reflect" else 1):  # what the left edge is made of
                return None
            self.held, self.started = join(self._edge(left=True), self.held), True
        return self._outputs()

    def flush(self) -> Chunk:
        """The outputs that the right edge's padding completes."""
        if not self.started:
            raise ValueError(f"padding of {self.pad} needs more than {steps(self.held)} time steps")
        self.held = join(self.held, self._edge(left=False))
        return self._outputs()

    def _edge(self, left: bool) -> torch.Tensor:
        """The padding at the left or the right edge, made as the whole-file convolution makes it."""
        held, pad = self.held, self.pad
        if self.mode == "causal":
            return held.new_zeros(*held.shape[:2], self.module.left if left else -self.seen % self.stride)
        if self.mode == "reflect":
            return (held[..., 1 : pad + 1] if left else held[..., -pad - 1 : -1]).flip(-1)
        if self.mode == "replicate":
            return (held[..., :1] if left else held[..., -1:]).expand(-1, -1, pad)
        return held.new_zeros(*held.shape[:2], pad)

    def _outputs(self) -> Chunk:
        count = (steps(self.held) - self.span) // self.stride + 1
        if count <= 0:
            return None
        x = self.held[..., : (count - 1) * self.stride + self.span]
        self.input_size = [x.shape[0], x.shape[1], 1, x.shape[2]]
        out = self.run(x)
        self.held = self.held[..., count * self.stride :]
        return out


def unpadded(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """`module`'s convolution without its padding; a plain one's weight taken once (weight norm not redone)."""
    if isinstance(module, PackedConv1d):
        return module.unpadded
    conv = module.conv
    weight, bias = conv.weight.detach(), conv.bias.detach()
    return lambda x: F.conv1d(x, weight, bias, conv.stride, 0, conv.dilation, conv.groups)


class ConvTranspose:
    """A transposed convolution up-sampling by `stride` (outputs [stride i, stride (i + 1)) for input i): an output
    as soon as every input that adds to it is in."""

    def __init__(self, module: nn.Module):
        self.module, self.input_size = module, []
        if isinstance(module, PackedConvTranspose1d):
            self.run: Callable[[torch.Tensor], torch.Tensor] = lambda x: module(x, None)
            self.stride, self.pad, kernel = module.stride, module.padding, module.kernel_size
        else:
            conv = module.conv
            weight, bias = conv.weight.detach(), conv.bias.detach()
            self.stride, self.pad, kernel = conv.stride[0], conv.padding[0], conv.kernel_size[0]
            self.run = lambda x: F.conv_transpose1d(x, weight, bias, conv.stride, conv.padding, conv.output_padding,
                                                    conv.groups, conv.dilation)
        # Output o reads the inputs from (o - reach) / stride to (o + pad) / stride.
        self.reach = kernel - 1 - self.pad
        self.held: Chunk = None
        self.held_from = self.seen = self.given = 0  # the input index of held's first step, inputs in, outputs out

    def push(self, x: Chunk) -> Chunk:
        """The outputs that `x` completes."""
        self.held, self.seen = join(self.held, x), self.seen + steps(x)
        return self._outputs(self.stride * self.seen - self.pad)

    def flush(self) -> Chunk:
        """The rest: no input is still to come."""
        return self._outputs(self.stride * self.seen)

    def _outputs(self, end: int) -> Chunk:
        if end <= self.given:
            return None
        # Run over the held inputs: its outputs are [stride * held_from, stride * seen), complete from `given` on.
        self.input_size = [self.held.shape[0], self.held.shape[1], 1, self.held.shape[2]]
        out = self.run(self.held)[..., self.given - self.stride * self.held_from : end - self.stride * self.held_from]
        self.given = end
        keep = max(self.held_from, -(-(end - self.reach) // self.stride))
        self.held, self.held_from = self.held[..., keep - self.held_from :], keep
        return out


class Pointwise:
    """An activation: every step at once."""

    def __init__(self, module: nn.Module):
        self.module = module

    def push(self, x: Chunk) -> Chunk:
        """`module(x)`."""
        return None if steps(x) == 0 else self.module(x)

    def flush(self) -> Chunk:
        """Nothing held."""
        return None


class Chain:
    """Layers one after another."""

    def __init__(self, layers: Sequence):
        self.layers = self.children = list(layers)

    def push(self, x: Chunk) -> Chunk:
        """What `x` completes through every layer."""
        for layer in self.layers:
            x = layer.push(x)
        return x

    def flush(self) -> Chunk:
        """Each layer's rest, passed on through the layers after it."""
        x = None
        for layer in self.layers:
            x = join(layer.push(x), layer.flush())
        return x


class Residual:
    """x + inner(x): x is held until inner's output for it is in."""

    def __init__(self, inner: Chain):
        self.inner, self.held = inner, None
        self.children = [inner]

    def push(self, x: Chunk) -> Chunk:
        """The sums that `x` completes."""
        self.held = join(self.held, x)
        return self._sums(self.inner.push(x))

    def flush(self) -> Chunk:
        """The remaining sums."""
        return self._sums(self.inner.flush())

    def _sums(self, res: Chunk) -> Chunk:
        if steps(res) == 0:
            return None
        out = self.held[..., : steps(res)] + res
        self.held = self.held[..., steps(res) :]
        return out


class Mean:
    """The mean of branches on the same input, as HiFiGANResLayer takes it (the same additions in the same order)."""

    def __init__(self, branches: Sequence):
        self.branches = self.children = list(branches)
        self.held: list[Chunk] = [None] * len(self.branches)

    def push(self, x: Chunk) -> Chunk:
        """The means that `x` completes in every branch."""
        return self._means([branch.push(x) for branch in self.branches])

    def flush(self) -> Chunk:
        """The remaining means."""
        return self._means([branch.flush() for branch in self.branches])

    def _means(self, new: list[Chunk]) -> Chunk:
        self.held = [join(held, out) for held, out in zip(self.held, new)]
        count = min(steps(held) for held in self.held)
        if count == 0:
            return None
        out = sum(held[..., :count] for held in self.held) / len(self.held)
        self.held = [held[..., count:] for held in self.held]
        return out


def _res_layer(layer: nn.Module) -> Mean:
    """HiFiGANResLayer: per kernel size a chain of residual units (act, conv, act, conv; dropout is off)."""
    return Mean([Chain([Residual(Chain([Pointwise(unit.input_activation), Conv(unit.input_conv),
                                        Pointwise(unit.skip_activation), Conv(unit.skip_conv)]))
                        for unit in block.res_blocks])
                 for block in layer.res_blocks])


def encoder(module: HiFiGANEncoder) -> Chain:
    """The HiFi-GAN encoder (the model's or its packed twin's): audio [B, 1, T] in, latent [B, C, T / 1024] out."""
    layers: list = [Conv(module.pre_conv)]
    for res_layer, act, down in zip(module.res_layers, module.activations, module.down_sample_conv_layers):
        layers += [_res_layer(res_layer), Pointwise(act), Conv(down)]
    return Chain(layers + [Pointwise(module.post_activation), Conv(module.post_conv)])


def decoder(module: HiFiGANDecoder) -> Chain:
    """The HiFi-GAN decoder: latent [B, C, N] in, audio [B, 1, 1024 N] out."""
    layers: list = [Conv(module.pre_conv)]
    for act, up, res_layer in zip(module.activations, module.up_sample_conv_layers, module.res_layers):
        layers += [Pointwise(act), ConvTranspose(up), _res_layer(res_layer)]
    return Chain(layers + [Pointwise(module.post_activation), Conv(module.post_conv), Pointwise(module.out_activation)])


def streamable(model: LFSCModel) -> bool:
    """Whether `model` runs incrementally: every LFSC-family model with a HiFi-GAN encoder (LFSC, the Audio Codec,
    NanoCodec; not the Mel Codec, whose encoder starts from mel features)."""
    return isinstance(model.audio_encoder, HiFiGANEncoder)


def convolutions(node) -> list:
    """The Conv and ConvTranspose nodes in a graph."""
    if isinstance(node, (Conv, ConvTranspose)):
        return [node]
    return [conv for child in getattr(node, "children", []) for conv in convolutions(child)]


def step_sizes(model: LFSCModel, hop_frames: int) -> dict[str, list[int]]:
    """Per conv wrapper's name, its input size in a step of `hop_frames` frames once the stream runs steadily:
    what the packed twin's CPU kernels are blocked for (found on the meta device)."""
    spf = model.samples_per_frame
    with torch.device("meta"):
        twin = LFSCModel(model.config)
        encoding, decoding = encoder(twin.audio_encoder), decoder(twin.audio_decoder)
        # What a layer holds depends only on how much came in, so one long push stands for the start-up.
        for frames in (4 * sum(receptive_field(twin)), hop_frames):
            decoding.push(encoding.push(torch.empty(1, 1, frames * spf)))
    names = {id(module): name for name, module in twin.named_modules()}
    return {names[id(conv.module)]: conv.input_size for conv in convolutions(encoding) + convolutions(decoding)}


def delay(model: LFSCModel, frames: int) -> int:
    """The samples an incremental encoder then decoder of `model` still owe once `frames` whole frames of audio
    are in (the same for any `frames` past the start-up): found on the meta device, where layers only count."""
    with torch.device("meta"):
        twin = LFSCModel(model.config)
        latent = encoder(twin.audio_encoder).push(torch.empty(1, 1, frames * model.samples_per_frame))
        audio = decoder(twin.audio_decoder).push(latent)
    return frames * model.samples_per_frame - steps(audio)


class IncrementalLFSCStream(CodecStream):
    """LFSC coded live with its whole receptive field as lookahead, `hop` frames of audio fed a step through the
    incremental encoder and decoder: tokens and audio are whole-file coding's, at whole-file compute. `sent` hears
    each block of committed tokens [codebooks, frames]."""

    def __init__(self, inference: LFSCInference, hop_frames: int,
                 sent: Callable[[np.ndarray], None] | None = None):
        super().__init__()
        model = inference.model
        if not streamable(model):
            raise UserError("this model's layers cannot run incrementally: stream it with a lookahead")
        self.inference, self.hop, self.sent = inference, hop_frames, sent
        self.sample_rate = model.sample_rate
        self.lookahead_frames = inference.encoder_context + inference.decoder_context
        self.latency = hop_frames * inference.spf - 1 + delay(model, 4 * self.lookahead_frames)
        self._encoder = encoder(inference.generator.audio_encoder)
        self._decoder = decoder(inference.generator.audio_decoder)
        self._fresh = np.zeros(0, dtype=np.float32)  # pushed, not yet fed

    def _take(self, samples: np.ndarray) -> np.ndarray:
        self._fresh = np.concatenate([self._fresh, samples])
        step, out = self.hop * self.inference.spf, []
        while len(self._fresh) >= step:
            out.append(self._feed(self._fresh[:step], last=False))
            self._fresh = self._fresh[step:]
        return np.concatenate([np.zeros(0, dtype=np.float32), *out])

    def _finish(self) -> np.ndarray:
        # The model's own padding: zeros to whole frames, at least its minimum.
        whole = self.inference.frames_for(self.pushed) * self.inference.spf - (self.pushed - len(self._fresh))
        return self._feed(np.pad(self._fresh, (0, whole - len(self._fresh))), last=True)

    @torch.inference_mode()
    def _feed(self, audio: np.ndarray, last: bool) -> np.ndarray:
        """Audio through the encoder, its finished frames' tokens through the decoder: the audio that finished."""
        inference, model = self.inference, self.inference.model
        with inference.autocast():
            latent = self._encoder.push(torch.from_numpy(audio)[None, None].to(inference.device, inference.input_dtype))
            latent = join(latent, self._encoder.flush()) if last else latent
        if steps(latent):
            full = torch.full((1,), steps(latent), device=inference.device)
            tokens = model.quantize(encoded=latent.float(), encoded_len=full)
            if self.sent is not None:
                self.sent(tokens[0].cpu().numpy())
            latent = model.dequantize(tokens=tokens, tokens_len=full).to(inference.input_dtype)
        with inference.autocast():
            decoded = self._decoder.push(latent)
            decoded = join(decoded, self._decoder.flush()) if last else decoded
        return np.zeros(0, dtype=np.float32) if steps(decoded) == 0 else decoded[0, 0].float().cpu().numpy()
