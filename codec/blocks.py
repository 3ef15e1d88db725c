"""Streams of mono sample blocks, as long files are read, coded and written: fitting one to a length and joining
one into an array. numpy only, so that codec/lfsc/inference.py can use it where soundfile and soxr are missing."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np


def fit_blocks(blocks: Iterable[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """A stream of blocks trimmed or zero-padded at its end to exactly `length` samples (`fit_length`)."""
    done = 0
    for block in blocks:
        block = block[: length - done]
        if len(block):
            done += len(block)
            yield block
    if done < length:
        yield np.zeros(length - done, dtype=np.float32)


def join_blocks(blocks: Iterable[np.ndarray], length: int) -> np.ndarray:
    """The blocks, known to hold `length` samples in all, in one float32 array (filled in place: no second copy)."""
    joined = np.empty(length, dtype=np.float32)
    done = 0
    for block in blocks:
        if done + len(block) > length:
            raise ValueError(f"the blocks hold more than the {length} samples expected")
        joined[done : done + len(block)] = block
        done += len(block)
    if done != length:
        raise ValueError(f"the blocks hold {done} samples, not the {length} expected")
    return joined
