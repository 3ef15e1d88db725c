"""Training data: NeMo-style manifests (JSON lines with audio_filepath, optional duration), weighted, randomly cropped.

Every random choice is derived from (seed, epoch, position), so a resumed run sees exactly the batches an
uninterrupted run would have seen, whatever the number of loader workers.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import torch

from codec.audio import load_audio
from codec.errors import UserError

log = logging.getLogger("lfsc-train")


@dataclass(frozen=True)
class Clip:
    """One training utterance: its audio file and duration in seconds."""

    path: Path
    duration: float


@dataclass(frozen=True)
class ManifestSpec:
    """A manifest path and its sampling weight (`path` or `path:weight` on the command line)."""

    path: Path
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> ManifestSpec:
        """Parse `path` or `path:weight`."""
        head, sep, tail = text.rpartition(":")
        if sep and head:
            try:
                weight = float(tail)
            except ValueError:
                return cls(Path(text))
            if not (weight > 0 and math.isfinite(weight)):
                raise UserError(f"--manifest {text}: the weight must be a positive number")
            return cls(Path(head), weight)
        return cls(Path(text))


def read_manifest(path: Path, min_duration: float = 0.0) -> tuple[list[Clip], int, int]:
    """Clips of a manifest at least `min_duration` long, the number too short and the number unreadable."""
    if not path.exists():
        raise UserError(f"{path}: no such manifest")
    if not path.is_file():
        raise UserError(f"{path}: not a file; a manifest is a file of JSON lines with audio_filepath")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; a manifest is JSON lines with audio_filepath") from None
    clips, too_short, unreadable = [], 0, 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            audio = Path(entry["audio_filepath"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserError(f"{path}:{number}: not a manifest line (need JSON with 'audio_filepath')") from None
        audio = audio if audio.is_absolute() else path.parent / audio
        duration = entry.get("duration")
        if duration is None:
            try:
                duration = sf.info(str(audio)).duration
            except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                log.warning("skipping unreadable %s (%s)", audio, exc)
                unreadable += 1
                continue
        elif isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
            raise UserError(f"{path}:{number}: duration {duration!r} is not a number of seconds")
        if duration < min_duration:
            too_short += 1
            continue
        clips.append(Clip(audio, float(duration)))
    return clips, too_short, unreadable


class CropDataset(torch.utils.data.Dataset):
    """Item (epoch, index) -> a random `n_samples` crop of clip `index` at `sample_rate` (whole clip if shorter)."""

    def __init__(self, clips: list[Clip], sample_rate: int, n_samples: int, seed: int):
        self.clips, self.sample_rate, self.n_samples, self.seed = clips, sample_rate, n_samples, seed

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: tuple[int, int]) -> np.ndarray | str:
        """The crop, or the reason the file could not be read (the batch builder counts and drops it)."""
        epoch, index = key
        clip = self.clips[index]
        try:
            samples = load_audio(clip.path, self.sample_rate).samples
        except UserError as exc:
            return str(exc)
        if len(samples) > self.n_samples:
            rng = np.random.default_rng([self.seed, epoch, index])
            start = int(rng.integers(0, len(samples) - self.n_samples + 1))
            samples = samples[start : start + self.n_samples]
        return samples


@dataclass
class Batch:
    """Zero-padded audio [B, T], lengths [B], and how many items were dropped as unreadable."""

    audio: torch.Tensor
    audio_len: torch.Tensor
    skipped: list[str]


def collate(items: list[np.ndarray | str]) -> Batch:
    """Pad the readable crops into one batch; unreadable items are dropped and reported."""
    good = [x for x in items if not isinstance(x, str)]
    skipped = [x for x in items if isinstance(x, str)]
    length = max((len(x) for x in good), default=0)
    audio = torch.zeros(len(good), length)
    for i, x in enumerate(good):
        audio[i, : len(x)] = torch.from_numpy(x)
    return Batch(audio, torch.tensor([len(x) for x in good], dtype=torch.long), skipped)


class EpochSampler(torch.utils.data.Sampler):
    """Batches of (epoch, index) keys for one epoch: a seeded shuffle, or weighted draws across manifests.

    With per-clip weights or a set `epoch_items`, the epoch draws `epoch_items` clips with replacement (NeMo's
    weighted sampling); otherwise it is a permutation of all clips. Each DDP rank takes every world-th batch; `start_batch` skips
    batches already trained on (resume).
    """

    def __init__(self, clip_weights: np.ndarray | None, num_clips: int, batch_size: int, seed: int,
                 epoch: int, epoch_items: int | None = None, rank: int = 0, world: int = 1, start_batch: int = 0):
        self.clip_weights, self.num_clips, self.batch_size = clip_weights, num_clips, batch_size
        self.seed, self.epoch, self.rank, self.world, self.start_batch = seed, epoch, rank, world, start_batch
        self.epoch_items = epoch_items or num_clips

    def batches_per_epoch(self) -> int:
        """Batches each rank trains on in one epoch (incomplete batches are dropped)."""
        return self.epoch_items // (self.batch_size * self.world)

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.start_batch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.clip_weights is None and self.epoch_items == self.num_clips:
            order = torch.randperm(self.num_clips, generator=g)
        else:
            w = self.clip_weights if self.clip_weights is not None else np.ones(self.num_clips)
            order = torch.multinomial(torch.from_numpy(w), self.epoch_items, replacement=True, generator=g)
        per_step = self.batch_size * self.world
        for b in range(self.start_batch, self.batches_per_epoch()):
            chunk = order[b * per_step : (b + 1) * per_step]
            mine = chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
            yield [(self.epoch, int(i)) for i in mine]


def load_clips(specs: list[ManifestSpec], min_duration: float) -> tuple[list[Clip], np.ndarray | None]:
    """All clips of the manifests and per-clip sampling probabilities (None when every weight is 1)."""
    clips, weights = [], []
    for spec in specs:
        found, too_short, unreadable = read_manifest(spec.path, min_duration)
        log.info("%s: %d clips (%d shorter than %.2f s, %d unreadable skipped)", spec.path, len(found), too_short,
                 min_duration, unreadable)
        if not found:  # its weight would silently fall to the other manifests
            if not too_short + unreadable:
                raise UserError(f"{spec.path}: the manifest is empty; give JSON lines with audio_filepath")
            raise UserError(f"{spec.path}: no usable audio ({too_short} clips shorter than min_duration="
                            f"{min_duration} s, {unreadable} unreadable); fix the manifest or leave it out")
        clips += found
        weights += [spec.weight / len(found)] * len(found)
    if all(s.weight == 1.0 for s in specs):
        return clips, None
    w = np.asarray(weights, dtype=np.float64)
    return clips, w / w.sum()
