"""16-bit PCM conversion for the classical codecs, which all take and return int16 samples, and the removal of
their delay from what they decode."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from codec.errors import UserError


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16, clipped and rounded."""
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def from_int16(samples: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1)."""
    return (np.asarray(samples, dtype=np.float32) / 32768.0).astype(np.float32, copy=False)


def delay_compensated(blocks: Iterable[np.ndarray], delay: int, num_samples: int, name: str) -> Iterator[np.ndarray]:
    """A decoder's output blocks without the codec's `delay` leading samples, cut to exactly `num_samples`. Output
    that ends short means a damaged payload (UserError): a whole one always covers the length it was coded for."""
    skip, done = delay, 0
    for block in blocks:
        dropped = min(skip, len(block))
        skip -= dropped
        block = block[dropped : dropped + num_samples - done]
        if len(block):
            done += len(block)
            yield block
    if done < num_samples:
        raise UserError(f"the {name} payload is damaged: it decodes to {done} of the {num_samples} samples it should hold")
