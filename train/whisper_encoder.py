"""The Whisper encoder in PyTorch (differentiable), with weights read from a CTranslate2 Whisper model.bin.

Used as the frozen speech model of the SLM discriminator when no WavLM is at hand: the project bundles the
multilingual Whisper-base model for ASR (codec.whisper_model), so its encoder is available offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from codec.errors import UserError
from train.ct2_reader import read_ct2

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80


def whisper_mel_filters() -> np.ndarray:
    """Whisper's 80-band mel filterbank at 16 kHz (librosa's Slaney scale with area normalisation)."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)


class WhisperFrontend(nn.Module):
    """16 kHz audio [B, T] -> Whisper's log-mel features [B, 80, T // 160], differentiable."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("filters", torch.from_numpy(whisper_mel_filters()), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio.float(), N_FFT, HOP, window=self.window, return_complex=True)
        power = spec[..., :-1].abs() ** 2  # Whisper drops the last frame
        log_spec = torch.clamp(self.filters @ power, min=1e-10).log10()
        floor = log_spec.amax(dim=(1, 2), keepdim=True) - 8.0
        return (torch.maximum(log_spec, floor) + 4.0) / 4.0


class EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer block: self-attention then a GELU MLP, each added to the residual stream."""

    def __init__(self, dim: int, heads: int, ffn_dim: int):
        super().__init__()
        self.heads = heads
        self.attn_ln = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.mlp_ln = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_ln(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.out(attn.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.mlp_ln(x))))


class WhisperEncoder(nn.Module):
    """Log-mel [B, 80, F] -> hidden states at 50 frames/s; `forward` returns the final (layer-normed) output."""

    def __init__(self, dim: int = 512, heads: int = 8, layers: int = 6, ffn_dim: int = 2048, max_frames: int = 1500):
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(max_frames, dim))
        self.blocks = nn.ModuleList([EncoderBlock(dim, heads, ffn_dim) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(dim)

    @property
    def dim(self) -> int:
        """Width of every hidden state."""
        return self.ln_post.normalized_shape[0]

    def hidden_states(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """The input to the first block and every block's output ([B, F/2, dim] each; the last one layer-normed)."""
        x = nn.functional.gelu(self.conv1(mel))
        x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)
        if x.shape[1] > self.positions.shape[0]:
            raise ValueError(f"input of {x.shape[1]} frames is longer than Whisper's {self.positions.shape[0]}")
        x = x + self.positions[: x.shape[1]].to(x.dtype)
        states = [x]
        for block in self.blocks:
            states.append(block(states[-1]))
        states[-1] = self.ln_post(states[-1])
        return states

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(mel)[-1]


def load_whisper_encoder(model_dir: str | Path | None = None) -> WhisperEncoder:
    """Build the encoder and load its weights from `model_dir`/model.bin (default: the bundled Whisper-base), fp32."""
    if model_dir is None:
        from codec.whisper_model import bundled_model_dir

        model_dir = bundled_model_dir()
    path = Path(model_dir) / "model.bin"
    if not path.is_file():
        raise UserError(f"{path}: no CTranslate2 Whisper model here; run `make setup` or name a model folder")
    v = {k: torch.from_numpy(a.astype(np.float32)) for k, a in read_ct2(path, prefix="encoder/").items()}
    try:
        layers = 1 + max(int(k.split("/")[1][len("layer_"):]) for k in v if k.startswith("encoder/layer_") and k.count("/") > 2)
        positions = v["encoder/position_encodings/encodings"]
        encoder = WhisperEncoder(
            dim=positions.shape[1],
            heads=int(v["encoder/num_heads"]),
            layers=layers,
            ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
            max_frames=positions.shape[0],
        )
        state = {
            "conv1.weight": v["encoder/conv1/weight"], "conv1.bias": v["encoder/conv1/bias"],
            "conv2.weight": v["encoder/conv2/weight"], "conv2.bias": v["encoder/conv2/bias"],
            "positions": positions,
            "ln_post.weight": v["encoder/layer_norm/gamma"], "ln_post.bias": v["encoder/layer_norm/beta"],
        }
        names = {
            "attn_ln.weight": "self_attention/layer_norm/gamma", "attn_ln.bias": "self_attention/layer_norm/beta",
            "qkv.weight": "self_attention/linear_0/weight", "qkv.bias": "self_attention/linear_0/bias",
            "out.weight": "self_attention/linear_1/weight", "out.bias": "self_attention/linear_1/bias",
            "mlp_ln.weight": "ffn/layer_norm/gamma", "mlp_ln.bias": "ffn/layer_norm/beta",
            "fc1.weight": "ffn/linear_0/weight", "fc1.bias": "ffn/linear_0/bias",
            "fc2.weight": "ffn/linear_1/weight", "fc2.bias": "ffn/linear_1/bias",
        }
        for i in range(layers):
            state.update({f"blocks.{i}.{ours}": v[f"encoder/layer_{i}/{theirs}"] for ours, theirs in names.items()})
        encoder.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError) as exc:
        raise UserError(f"{path}: not a Whisper encoder this code understands ({exc})") from None
    return encoder.eval()
