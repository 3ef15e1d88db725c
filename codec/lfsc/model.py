"""The LFSC generator: HiFi-GAN encoder -> grouped FSQ -> HiFi-GAN decoder, with NeMo's inference API."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from codec.bitstream import MAX_CODEBOOKS, MAX_DIMENSIONS  # what a .lfsc file can carry
from codec.lfsc.nn import (ACTIVATIONS, OUTPUT_ACTIVATIONS, CausalConvTranspose1dNorm, Conv1dNorm, ConvTranspose1dNorm,
                           HiFiGANResLayer, activation, conv1d_norm)
from codec.lfsc.mel_encoder import MultiBandMelEncoder
from codec.lfsc.quantizer import GroupFiniteScalarQuantizer


# The shortest input, in frames (LFSCModel.min_samples): LFSC's frame-rate convs reflect-pad by 3, and
# codec.lfsc.schema refuses configs whose convs would pad more than this input holds.
MIN_FRAMES = 4


@dataclass(frozen=True)
class Accepts:
    """The values a config field accepts, checked by codec.lfsc.schema before a model is built: a number from `low`
    to `high` (odd only, when `odd`), a list of `items` (fewest, most) such numbers, or one of `choices`."""

    low: float = 0
    high: float = 0
    odd: bool = False
    items: tuple[int, int] | None = None
    choices: tuple[str, ...] = ()


def setting(default: Any, accepts: Accepts) -> Any:
    """A config field: its default (NeMo's) and the values it accepts."""
    return field(default=default, metadata={"accepts": accepts})


KERNEL = Accepts(1, 31, odd=True)  # odd: the convs pad (k - 1) / 2 on each side to keep the length
KERNELS = Accepts(1, 31, odd=True, items=(1, 5))
DILATIONS = Accepts(1, 32, items=(1, 5))
ACTIVATION = Accepts(choices=tuple(ACTIVATIONS))
PAD_MODE = Accepts(choices=("reflect", "replicate", "zeros"))
FLAG = Accepts()  # a boolean


@dataclass
class EncoderConfig:
    """HiFiGANEncoder hyper-parameters (NeMo's argument names)."""

    encoded_dim: int = setting(32, Accepts(1, 1024))
    # A rate of 1 would give its kernel-2 conv one step too many; the widest layer is checked in codec.lfsc.schema.
    down_sample_rates: Sequence[int] = setting((2, 2, 4, 8, 8), Accepts(2, 64, items=(1, 12)))
    base_channels: int = setting(48, Accepts(1, 4096))
    in_kernel_size: int = setting(7, KERNEL)
    out_kernel_size: int = setting(7, KERNEL)
    resblock_kernel_sizes: Sequence[int] = setting((3, 7, 11), KERNELS)
    resblock_dilation_sizes: Sequence[int] = setting((1,), DILATIONS)
    activation: str = setting("lrelu", ACTIVATION)
    pad_mode: str = setting("reflect", PAD_MODE)


@dataclass
class MelEncoderConfig:
    """MultiBandMelEncoder hyper-parameters (NeMo's argument names, its ResNetEncoders' and, flattened in, its
    mel_processor's); defaults are the released Mel Codec's where NeMo's constructor has none."""

    mel_bands: Sequence[Sequence[int]] = setting(tuple((i, i + 10) for i in range(0, 80, 10)),
                                                 Accepts(0, 1024, items=(1, 64)))
    out_channels: int = setting(4, Accepts(1, 1024))
    num_layers: int = setting(6, Accepts(0, 64))
    hidden_channels: int = setting(256, Accepts(1, 4096))
    filters: int = setting(768, Accepts(1, 8192))
    kernel_size: int = setting(3, KERNEL)
    dropout_rate: float = setting(0.1, Accepts(0, 1))  # training only
    activation: str = setting("lrelu", ACTIVATION)
    pad_mode: str = setting("reflect", PAD_MODE)
    sample_rate: int = setting(22050, Accepts(1000, 384000))  # the mel filterbank's
    win_length: int = setting(1024, Accepts(2, 65536))
    hop_length: int = setting(256, Accepts(2, 16384))
    mel_dim: int = setting(80, Accepts(1, 1024))
    log_guard: float = setting(1.0, Accepts(0, 1e6))


@dataclass
class DecoderConfig:
    """HiFiGANDecoder hyper-parameters (NeMo's argument names)."""

    input_dim: int = setting(32, Accepts(1, 1024))
    up_sample_rates: Sequence[int] = setting((8, 8, 4, 2, 2), Accepts(1, 64, items=(1, 12)))
    base_channels: int = setting(1024, Accepts(1, 8192))
    in_kernel_size: int = setting(7, KERNEL)
    out_kernel_size: int = setting(3, KERNEL)
    resblock_kernel_sizes: Sequence[int] = setting((3, 7, 11), KERNELS)
    resblock_dilation_sizes: Sequence[int] = setting((1, 3, 5), DILATIONS)
    activation: str = setting("lrelu", ACTIVATION)
    output_activation: str = setting("tanh", Accepts(choices=tuple(OUTPUT_ACTIVATIONS)))
    pad_mode: str = setting("reflect", PAD_MODE)  # a causal decoder pads with zeros on the left whatever this says
    n_groups_equal_to_out_channels: bool = setting(False, FLAG)  # grouped transposed convs (NanoCodec)
    causal: bool = setting(False, FLAG)  # NeMo's CausalHiFiGANDecoder: no output sample depends on a later input


@dataclass
class QuantizerConfig:
    """GroupFiniteScalarQuantizer hyper-parameters."""

    num_groups: int = setting(8, Accepts(1, MAX_CODEBOOKS))
    # Levels fit the .lfsc header's bytes; one level would divide by zero in the FSQ's scale.
    num_levels_per_group: Sequence[int] = setting((8, 7, 6, 6), Accepts(2, 255, items=(1, MAX_DIMENSIONS)))
    eps: float = setting(1e-3, Accepts(0, 0.5))


@dataclass
class LFSCConfig:
    """Everything needed to build the generator; defaults are the released 22 kHz LFSC, other values describe its
    NeMo relatives (Audio Codec, NanoCodec). A part's `section` metadata is its name in NeMo's model_config.yaml."""

    sample_rate: int = setting(22050, Accepts(1000, 384000))
    samples_per_frame: int = setting(1024, Accepts(2, 16384))
    # the section's settings choose its class (codec.lfsc.schema): HiFi-GAN's, or the Mel Codec's
    encoder: EncoderConfig | MelEncoderConfig = field(default_factory=EncoderConfig, metadata={"section": "audio_encoder"})
    decoder: DecoderConfig = field(default_factory=DecoderConfig, metadata={"section": "audio_decoder"})
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig, metadata={"section": "vector_quantizer"})


class HiFiGANEncoder(nn.Module):
    """Audio [B, T] -> latent [B, encoded_dim, T / prod(down_sample_rates)] (HiFi-GAN decoder, inverted)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.down_sample_rates = list(cfg.down_sample_rates)
        self.pre_conv = conv1d_norm(False, 1, cfg.in_kernel_size, cfg.pad_mode, out_channels=cfg.base_channels)
        self.activations = nn.ModuleList()
        self.down_sample_conv_layers = nn.ModuleList()
        self.res_layers = nn.ModuleList()
        channels = cfg.base_channels
        for rate in self.down_sample_rates:
            self.res_layers.append(
                HiFiGANResLayer(channels, cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, cfg.activation, cfg.pad_mode)
            )
            self.activations.append(activation(cfg.activation, channels))
            self.down_sample_conv_layers.append(
                Conv1dNorm(channels, 2 * channels, 2 * rate, stride=rate, padding=(rate + 1) // 2, pad_mode=cfg.pad_mode)
            )
            channels *= 2
        self.post_activation = activation(cfg.activation, channels)
        self.post_conv = conv1d_norm(False, channels, cfg.out_kernel_size, cfg.pad_mode, out_channels=cfg.encoded_dim)

    def forward(self, audio: torch.Tensor, audio_len: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode; `audio_len=None` means every item fills the batch (no masking, same result)."""
        lengths = audio_len
        x = self.pre_conv(audio[:, None, :], lengths)
        for res_layer, act, down, rate in zip(
            self.res_layers, self.activations, self.down_sample_conv_layers, self.down_sample_rates
        ):
            x = act(res_layer(x, lengths))
            lengths = None if lengths is None else (lengths // rate).long()
            x = down(x, lengths)
        return self.post_conv(self.post_activation(x), lengths), lengths


class HiFiGANDecoder(nn.Module):
    """Latent [B, input_dim, N] -> audio [B, N * prod(up_sample_rates)] (HiFi-GAN V1 generator, weight-normed);
    with `cfg.causal`, NeMo's CausalHiFiGANDecoder (causal convs, right-trimmed transposed convs)."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.up_sample_rates = list(cfg.up_sample_rates)
        causal = cfg.causal
        self.pre_conv = conv1d_norm(causal, cfg.input_dim, cfg.in_kernel_size, cfg.pad_mode, out_channels=cfg.base_channels)
        up_conv = CausalConvTranspose1dNorm if causal else ConvTranspose1dNorm
        self.activations = nn.ModuleList()
        self.up_sample_conv_layers = nn.ModuleList()
        self.res_layers = nn.ModuleList()
        channels = cfg.base_channels
        for rate in self.up_sample_rates:
            self.activations.append(activation(cfg.activation, channels))
            groups = channels // 2 if cfg.n_groups_equal_to_out_channels else 1
            self.up_sample_conv_layers.append(up_conv(channels, channels // 2, 2 * rate, stride=rate, groups=groups))
            channels //= 2
            self.res_layers.append(HiFiGANResLayer(channels, cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes,
                                                   cfg.activation, cfg.pad_mode, causal))
        self.post_activation = activation(cfg.activation, channels)
        self.post_conv = conv1d_norm(causal, channels, cfg.out_kernel_size, cfg.pad_mode, out_channels=1)
        self.out_activation = OUTPUT_ACTIVATIONS[cfg.output_activation]()

    def forward(self, latent: torch.Tensor, latent_len: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode; `latent_len=None` means every item fills the batch (no masking, same result)."""
        lengths = latent_len
        x = self.pre_conv(latent, lengths)
        for act, up, res_layer, rate in zip(
            self.activations, self.up_sample_conv_layers, self.res_layers, self.up_sample_rates
        ):
            lengths = None if lengths is None else lengths * rate
            x = res_layer(up(act(x), lengths), lengths)
        x = self.post_conv(self.post_activation(x), lengths)
        return self.out_activation(x)[:, 0, :], lengths


class LFSCModel(nn.Module):
    """LFSC generator with NeMo's `AudioCodecModel` inference API (keyword arguments, same shapes and dtypes)."""

    def __init__(self, config: LFSCConfig | None = None):
        super().__init__()
        self.config = config or LFSCConfig()
        encoder = self.config.encoder
        if isinstance(encoder, MelEncoderConfig):
            if encoder.hop_length != self.config.samples_per_frame:
                raise ValueError("the mel encoder's hop_length must equal samples_per_frame")
            self.audio_encoder = MultiBandMelEncoder(encoder)
        else:
            if math.prod(encoder.down_sample_rates) != self.config.samples_per_frame:
                raise ValueError("the encoder's down-sampling rates must multiply to samples_per_frame")
            self.audio_encoder = HiFiGANEncoder(encoder)
        self.vector_quantizer = GroupFiniteScalarQuantizer(**vars(self.config.quantizer))
        self.audio_decoder = HiFiGANDecoder(self.config.decoder)

    # -- properties NeMo users read ---------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        """Audio sample rate in Hz (22050 for LFSC)."""
        return self.config.sample_rate

    @property
    def samples_per_frame(self) -> int:
        """Audio samples per token frame (1024 for LFSC)."""
        return self.config.samples_per_frame

    @property
    def num_codebooks(self) -> int:
        """Codebooks per frame (8 for LFSC)."""
        return self.vector_quantizer.num_groups

    @property
    def codebook_size(self) -> int:
        """Codes per codebook (2016 for LFSC)."""
        return self.vector_quantizer.codebook_size_per_group

    @property
    def min_samples(self) -> int:
        """Shortest input the model accepts: what pads to MIN_FRAMES frames (codec.lfsc.schema refuses configs whose
        reflect padding needs more)."""
        return (MIN_FRAMES - 1) * self.samples_per_frame + 1

    @property
    def device(self) -> torch.device:
        """Device the weights live on."""
        return next(self.parameters()).device

    # -- NeMo's API -------------------------------------------------------------------------------------------
    def pad_audio(self, audio: torch.Tensor, audio_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-pad every item to a whole number of frames (lengths rounded up to multiples of samples_per_frame)."""
        spf = self.samples_per_frame
        frames = torch.where(audio_len % spf == 0, audio_len / spf, torch.ceil(audio_len / spf))
        padded_len = spf * frames.int()
        audio = nn.functional.pad(audio, (0, int(padded_len.max().item()) - audio.shape[1]))
        return audio, padded_len

    @torch.inference_mode()
    def encode_audio(self, *, audio: torch.Tensor, audio_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio [B, T] at sample_rate -> continuous latent [B, 32, N] and frame counts [B]."""
        audio, audio_len = self.pad_audio(audio, audio_len)
        return self.audio_encoder(audio, audio_len)

    @torch.inference_mode()
    def quantize(self, *, encoded: torch.Tensor, encoded_len: torch.Tensor) -> torch.Tensor:
        """Latent [B, 32, N] -> int32 tokens [B, 8, N]."""
        return self.vector_quantizer(encoded, encoded_len)[1]

    @torch.inference_mode()
    def dequantize(self, *, tokens: torch.Tensor, tokens_len: torch.Tensor) -> torch.Tensor:
        """Tokens [B, 8, N] -> latent grid values [B, 32, N] in the model's dtype."""
        return self.vector_quantizer.decode(tokens, tokens_len).to(self._dtype())

    @torch.inference_mode()
    def encode(self, *, audio: torch.Tensor, audio_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio [B, T] -> tokens [B, 8, N] (int32) and frame counts [B]."""
        encoded, encoded_len = self.encode_audio(audio=audio, audio_len=audio_len)
        return self.quantize(encoded=encoded, encoded_len=encoded_len), encoded_len

    @torch.inference_mode()
    def decode_audio(self, *, inputs: torch.Tensor, input_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent [B, 32, N] -> audio [B, 1024 N] and sample counts [B]."""
        return self.audio_decoder(inputs, input_len)

    @torch.inference_mode()
    def decode(self, *, tokens: torch.Tensor, tokens_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens [B, 8, N] -> audio [B, 1024 N] and sample counts [B] (not trimmed, as in NeMo)."""
        latent = self.dequantize(tokens=tokens, tokens_len=tokens_len)
        return self.decode_audio(inputs=latent, input_len=tokens_len)

    def forward(self, audio: torch.Tensor, audio_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Differentiable round trip for training: (audio_out, audio_out_len, tokens); FSQ uses straight-through."""
        audio, audio_len = self.pad_audio(audio, audio_len)
        encoded, encoded_len = self.audio_encoder(audio, audio_len)
        codes, tokens = self.vector_quantizer(encoded, encoded_len)
        out, out_len = self.audio_decoder(codes.to(encoded.dtype), encoded_len)
        return out, out_len, tokens

    # -- convenience ------------------------------------------------------------------------------------------
    def roundtrip(self, waveform: np.ndarray | torch.Tensor, sample_rate: int) -> np.ndarray:
        """Resample mono audio to the model rate, encode, decode, resample back, trim to the input length."""
        from codec.audio import fit_length, resample

        x = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
        native = resample(x.astype(np.float32), sample_rate, self.sample_rate)
        audio = torch.from_numpy(native)[None].to(self.device)
        length = torch.tensor([audio.shape[1]], device=self.device)
        tokens, tokens_len = self.encode(audio=audio, audio_len=length)
        decoded, _ = self.decode(tokens=tokens, tokens_len=tokens_len)
        out = resample(decoded[0, : len(native)].float().cpu().numpy(), self.sample_rate, sample_rate)
        return fit_length(out, len(x))

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


# The generator on full-length batches: lengths=None skips the masks.
def encoder_full(model: torch.nn.Module, audio: torch.Tensor) -> torch.Tensor:
    """Audio [B, T] (T a multiple of samples_per_frame, all items full length) -> latent [B, 32, T / 1024]; `model`
    is an LFSCModel or its packed twin."""
    return model.audio_encoder(audio, None)[0]


def decoder_full(model: torch.nn.Module, latent: torch.Tensor) -> torch.Tensor:
    """Latent [B, 32, N] (all items full length) -> audio [B, 1024 N]."""
    return model.audio_decoder(latent, None)[0]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (weight-norm g and v counted, as NeMo counts them)."""
    return sum(p.numel() for p in module.parameters())
