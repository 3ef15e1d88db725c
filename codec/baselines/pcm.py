"""16-bit PCM conversion for the classical codecs, which all take and return int16 samples."""

from __future__ import annotations

import numpy as np

from codec.audio import fit_length


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16, clipped and rounded."""
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def from_int16(samples: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1)."""
    return (np.asarray(samples, dtype=np.float32) / 32768.0).astype(np.float32, copy=False)


def delay_compensated(decoded: np.ndarray, delay: int, num_samples: int) -> np.ndarray:
    """Drop a codec's `delay` leading samples and fit the rest to `num_samples` (zero-padded if short)."""
    return fit_length(decoded[delay:], num_samples)
