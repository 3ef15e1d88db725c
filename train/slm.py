"""The SLM discriminator: a frozen speech model's hidden states, stacked, judged by a small 1-D conv head.

The speech model ("backbone") is pluggable: WavLM from a local folder through `transformers` (the original
recipe), or the multilingual Whisper-base encoder rebuilt from the bundled CTranslate2 weights (works offline).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from codec.errors import UserError

LRELU_SLOPE = 0.1


class SincResampler(nn.Module):
    """Band-limited resampling by a rational factor with a Hann-windowed sinc kernel (torchaudio's default method).

    Width 6 zero crossings, roll-off 0.99, as torchaudio.transforms.Resample (torchaudio has no build for this
    torch). Differentiable, so the generator gets gradients through the SLM discriminator.
    """

    def __init__(self, orig_freq: int, new_freq: int, zero_crossings: int = 6, rolloff: float = 0.99):
        super().__init__()
        g = math.gcd(orig_freq, new_freq)
        self.orig, self.new = orig_freq // g, new_freq // g
        cutoff = min(self.orig, self.new) * rolloff
        self.width = math.ceil(zero_crossings * self.orig / cutoff)
        taps = torch.arange(-self.width, self.width + self.orig, dtype=torch.float64) / self.orig
        phases = -torch.arange(self.new, dtype=torch.float64)[:, None] / self.new
        t = ((phases + taps[None, :]) * cutoff).clamp(-zero_crossings, zero_crossings)
        window = torch.cos(t * math.pi / zero_crossings / 2) ** 2
        t = t * math.pi
        sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
        kernel = sinc * window * cutoff / self.orig
        self.register_buffer("kernel", kernel[:, None, :].float(), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, T] at orig_freq -> [B, ceil(T * new / orig)] at new_freq."""
        if self.orig == self.new:
            return audio
        length = audio.shape[-1]
        x = nn.functional.pad(audio[:, None, :], (self.width, self.width + self.orig))
        y = nn.functional.conv1d(x, self.kernel.to(x.dtype), stride=self.orig)  # [B, new, frames]
        y = y.transpose(1, 2).reshape(audio.shape[0], -1)
        return y[:, : math.ceil(self.new * length / self.orig)]


class WhisperBackbone(nn.Module):
    """Whisper encoder (CTranslate2 weights) as a frozen speech model: 16 kHz audio -> 7 hidden states of 512."""

    sample_rate = 16000

    def __init__(self, model_dir: str | Path | None = None):
        super().__init__()
        from train.whisper_encoder import WhisperFrontend, load_whisper_encoder

        self.frontend = WhisperFrontend()
        self.encoder = load_whisper_encoder(model_dir)
        self.num_states = len(self.encoder.blocks) + 1
        self.hidden_size = self.encoder.dim

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states, each [B, frames, hidden_size] at 50 frames/s."""
        return self.encoder.hidden_states(self.frontend(audio))


class WavLMBackbone(nn.Module):
    """A WavLM (any `transformers` WavLMModel) as a frozen speech model: raw 16 kHz audio in, every hidden state out."""

    sample_rate = 16000

    def __init__(self, model_dir: str | Path | None = None, config=None):
        super().__init__()
        try:
            from transformers import WavLMConfig, WavLMModel
        except ImportError:
            raise UserError(
                "the WavLM backbone needs the 'transformers' package: pip install torch==2.13.0 transformers"
            ) from None
        if config is not None:
            self.model = WavLMModel(config if isinstance(config, WavLMConfig) else WavLMConfig(**config))
        else:
            if model_dir is None or not Path(model_dir).is_dir():
                raise UserError(f"slm_model_dir={model_dir}: not a folder; point it at a local WavLM (config.json + weights)")
            self.model = WavLMModel.from_pretrained(str(model_dir))
        self.num_states = self.model.config.num_hidden_layers + 1
        self.hidden_size = self.model.config.hidden_size

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states, each [B, frames, hidden_size] at 50 frames/s (no input normalisation, as in NeMo)."""
        return list(self.model(input_values=audio, output_hidden_states=True).hidden_states)


def freeze(module: nn.Module) -> nn.Module:
    """No gradients for the module's weights, eval mode (gradients still flow through it to its input)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class SLMDiscriminator(nn.Module):
    """Stacked hidden states [B, layers x hidden, frames] -> pre 1x1 conv -> 3 convs (feature maps) -> score [B, 1, frames]."""

    def __init__(self, backbone: nn.Module, input_sr: int = 22050, initial_channel: int = 64):
        super().__init__()
        self.resample = SincResampler(input_sr, backbone.sample_rate)
        self.slm_model = freeze(backbone)
        c = initial_channel
        self.pre = weight_norm(nn.Conv1d(backbone.hidden_size * backbone.num_states, c, 1))
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv1d(c, 2 * c, 5, padding=2)),
            weight_norm(nn.Conv1d(2 * c, 4 * c, 5, padding=2)),
            weight_norm(nn.Conv1d(4 * c, 4 * c, 5, padding=2)),
        ])
        self.conv_post = weight_norm(nn.Conv1d(4 * c, 1, 3, padding=1))

    def train(self, mode: bool = True) -> SLMDiscriminator:
        super().train(mode)
        self.slm_model.eval()  # the frozen speech model always runs deterministically (no dropout, no layer drop)
        return self

    def forward(self, audio: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        states = self.slm_model(self.resample(audio))
        x = torch.stack(states, dim=1).transpose(-1, -2).flatten(1, 2)  # [B, layers * hidden, frames]
        x = self.pre(x)
        fmap = []
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x[..., None])
        return [self.conv_post(x)], [fmap]


def build_backbone(name: str, model_dir: str | None) -> nn.Module:
    """The speech model named by the config: 'whisper' (bundled Whisper-base, or a CT2 Whisper folder) or 'wavlm'."""
    if name == "whisper":
        return WhisperBackbone(model_dir)
    if name == "wavlm":
        return WavLMBackbone(model_dir)
    raise UserError(f"slm_backbone={name!r}: use 'whisper', 'wavlm' or 'none'")
