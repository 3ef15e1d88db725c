"""Audio I/O and resampling shared by every part of the project (one loader, one resampler)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from codec.errors import UserError

RESAMPLER = "soxr VHQ"  # recorded in every report so numbers can be reproduced


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1] and their sample rate, plus what loading had to change."""

    samples: np.ndarray
    sample_rate: int
    notices: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample mono float audio with soxr (very high quality); identity when the rates match."""
    samples = np.asarray(samples, dtype=np.float32)
    if sr_in == sr_out:
        return samples
    return soxr.resample(samples, sr_in, sr_out, quality="VHQ").astype(np.float32, copy=False)


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the end of `samples` to exactly `length` samples."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def validate(samples: np.ndarray, what: str = "audio") -> np.ndarray:
    """Check that audio is a non-empty, finite 1-D float signal; raise UserError otherwise."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise UserError(f"{what} must be mono (1-D), got shape {samples.shape}")
    if samples.size == 0:
        raise UserError(f"{what} is empty: it holds no samples")
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise UserError(f"{what} holds {bad} NaN or infinite samples: repair or re-export the file")
    return samples


def load_audio(path: str | Path, sample_rate: int | None = None) -> Audio:
    """Read any file soundfile reads as validated mono float32, downmixing and resampling when asked."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not an audio file")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise UserError(f"{path}: not a readable audio file ({exc})") from None
    notices = []
    if data.shape[1] > 1:
        notices.append(f"{path.name}: {data.shape[1]} channels downmixed to mono")
        data = data.mean(axis=1, keepdims=True)
    samples = validate(data[:, 0], what=str(path))
    if sample_rate is not None and sr != sample_rate:
        notices.append(f"{path.name}: resampled {sr} Hz -> {sample_rate} Hz ({RESAMPLER})")
        samples = resample(samples, sr, sample_rate)
        sr = sample_rate
    return Audio(samples=samples, sample_rate=int(sr), notices=tuple(notices))


def save_audio(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono audio; the format follows the file extension (16-bit PCM for WAV)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "PCM_16" if path.suffix.lower() == ".wav" else None
    sf.write(str(path), np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0), sample_rate, subtype=subtype)
