"""Data-dependent initialisation of the generator's weight-normed convs (Salimans & Kingma 2016, section 3).

NeMo's random initialisation is degenerate for LFSC: every conv has a bias and no normalisation follows it, so
through the encoder's dozens of convs the time-varying part of the signal shrinks while the bias-driven constant
grows. The latent then varies by ~1e-4 around a constant, every frame rounds to the same FSQ code, the decoder sees
one input and outputs a constant. With weight norm and Adam no gain can grow the ~1000x needed within a few hundred
steps. The paper's remedy: run one batch through the network and, layer by layer in forward order, set each
weight-norm gain g and bias b so that the layer's output has zero mean and a chosen standard deviation per channel.
"""

from __future__ import annotations

import torch

from codec.lfsc.model import LFSCModel
from codec.lfsc.nn import Conv1dNorm, ConvTranspose1dNorm

LATENT_STD = 1.0  # FSQ bounds the latent with tanh: std 1 spreads it over all levels of each dimension
HIDDEN_STD = 1.0  # every other conv: unit-variance pre-activations, as in the paper


def _valid_mean_std(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of [B, C, T] over each item's first `lengths` steps."""
    mask = (torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None]).to(x.dtype)[:, None, :]
    count = mask.sum()
    mean = (x * mask).sum(dim=(0, 2)) / count
    var = (((x - mean[None, :, None]) * mask) ** 2).sum(dim=(0, 2)) / count
    return mean, var.sqrt()


def _normalise(module: Conv1dNorm | ConvTranspose1dNorm, mean: torch.Tensor, std: torch.Tensor, target: float) -> None:
    """Scale the layer so its output becomes target * (output - mean) / std."""
    conv = module.conv
    gain = conv.parametrizations.weight.original0
    if isinstance(module, ConvTranspose1dNorm):
        # Weight norm on a transposed conv normalises per input channel: one scale for all outputs.
        scale = target / std.pow(2).mean().sqrt().clamp_min(torch.finfo(std.dtype).tiny)
        gain.mul_(scale)
    else:
        scale = torch.where(std > 0, target / std.clamp_min(torch.finfo(std.dtype).tiny), torch.ones_like(std))
        gain.mul_(scale.view(-1, 1, 1))
    # y = W x + b with mean m: scaling W by s and setting b' = s (b - m) gives s (y - m).
    conv.bias.copy_(scale * (conv.bias - mean))


def _frame_stats(model: LFSCModel, audio: torch.Tensor, audio_len: torch.Tensor) -> tuple[float, int]:
    """(mean per-channel std of the latent over valid frames, number of distinct token vectors) of one batch."""
    encoded, encoded_len = model.audio_encoder(audio, audio_len)
    _, tokens = model.vector_quantizer(encoded, encoded_len)
    valid = [tokens[b, :, : int(n)].T for b, n in enumerate(encoded_len)]
    distinct = len(torch.unique(torch.cat(valid), dim=0))
    return _valid_mean_std(encoded, encoded_len)[1].mean().item(), distinct


@torch.no_grad()
def data_dependent_init(model: LFSCModel, audio: torch.Tensor, audio_len: torch.Tensor) -> dict[str, float]:
    """Set every weight-normed conv's gain and bias from one batch so its output has zero mean and a target std.

    Targets: LATENT_STD for the encoder's post_conv (the latent spans the FSQ levels), the batch's own audio std for
    the decoder's post_conv (the output starts at the level of the data, inside tanh's linear range), HIDDEN_STD for
    every other conv. Returns the latent std and distinct token vectors of the batch before and after.
    """
    audio, audio_len = model.pad_audio(audio.float(), audio_len)
    audio_std = _valid_mean_std(audio[:, None, :], audio_len)[1].item()
    targets = {m: HIDDEN_STD for m in model.modules() if isinstance(m, (Conv1dNorm, ConvTranspose1dNorm))}
    targets[model.audio_encoder.post_conv] = LATENT_STD
    targets[model.audio_decoder.post_conv] = audio_std

    def hook(module, inputs, output):
        x, lengths = inputs
        _normalise(module, *_valid_mean_std(output, lengths), targets[module])
        return module.forward(x, lengths)  # the layer's new output feeds the layers after it

    latent_before, tokens_before = _frame_stats(model, audio, audio_len)
    handles = [m.register_forward_hook(hook) for m in targets]
    try:
        model(audio, audio_len)
    finally:
        for h in handles:
            h.remove()
    latent_after, tokens_after = _frame_stats(model, audio, audio_len)
    out, out_len = model(audio, audio_len)[:2]
    return {
        "layers": len(targets),
        "frames": int(sum(audio_len) // model.samples_per_frame),
        "latent_std_before": latent_before,
        "latent_std": latent_after,
        "distinct_tokens_before": tokens_before,
        "distinct_tokens": tokens_after,
        "audio_std": audio_std,
        "output_std": _valid_mean_std(out[:, None, :], out_len)[1].item(),
    }
