"""Validation: the fixed clips a run is checked on, and the reconstruction losses and audio of the generator on them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from codec.audio import load_audio
from codec.errors import UserError
from train.config import TrainConfig
from train.data import Clip, ManifestSpec, load_clips
from train.step import TrainStep

log = logging.getLogger("lfsc-train")


def validation_set(c: TrainConfig, training_clips: list[Clip], min_samples: int) -> list[np.ndarray]:
    """The first val_count readable clips of val_manifest (else of the training clips), cut to val_max_seconds."""
    if c.val_manifest:
        clips, _ = load_clips([ManifestSpec(Path(c.val_manifest))], 0.0)
    else:
        clips = training_clips
    sr = c.generator.sample_rate
    audio = []
    for clip in clips[: c.val_count]:
        try:
            samples = load_audio(clip.path, sr).samples[: int(c.val_max_seconds * sr)]
        except UserError as exc:
            log.warning("validation: skipping %s", exc)
            continue
        if len(samples) >= min_samples:
            audio.append(samples)
    return audio


@torch.no_grad()
def validate(step: TrainStep, val_audio: list[np.ndarray]) -> tuple[dict[str, float], list[np.ndarray]]:
    """Reconstruction losses on the fixed validation clips (mean over clips) and their decoded audio."""
    generator, device = step.models.generator, step.device
    generator.eval()
    sums, decoded = {"val_mel_l1": 0.0, "val_stft": 0.0, "val_time_l1": 0.0}, []
    for samples in val_audio:
        audio = torch.from_numpy(samples)[None].to(device)
        length = torch.tensor([audio.shape[1]], device=device)
        with step.autocast():
            gen, _, _ = generator(audio, length)
        audio, length = generator.pad_audio(audio, length)
        gen = gen.float()
        sums["val_mel_l1"] += step.mel_loss(audio, gen, length).item()
        sums["val_stft"] += step.stft_loss(audio, gen, length).item()
        sums["val_time_l1"] += (gen - audio).abs().mean().item()
        decoded.append(gen[0, : len(samples)].cpu().numpy())
    generator.train()
    if not val_audio:
        return {}, []
    out = {k: v / len(val_audio) for k, v in sums.items()}
    out["val_loss"] = out["val_mel_l1"] + out["val_stft"] + out["val_time_l1"]  # NeMo's val_loss
    return out, decoded
