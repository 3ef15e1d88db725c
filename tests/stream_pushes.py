"""Pushing audio through a codec stream in given block sizes, for the streaming tests."""

from __future__ import annotations

import numpy as np


def push_all(stream, audio: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, int]:
    """The stream's whole output for `audio` pushed in blocks of `sizes` (cycled), and the most it held back."""
    out, at, held, i = [], 0, 0, 0
    while at < len(audio):
        size = sizes[i % len(sizes)]
        out.append(stream.push(audio[at : at + size]))
        at, i = at + size, i + 1
        held = max(held, stream.pushed - stream.emitted)
    out.append(stream.flush())
    return np.concatenate(out), held
