"""Streams of mono sample blocks, as long files are read, coded and written: fitting one to a length, joining one
into an array, cutting one into a codec's frames. numpy only, so that codec/lfsc/inference.py can use it where
soundfile and soxr are missing."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

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


def frames_of(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The stream cut into consecutive frames of `size` samples as the blocks arrive (holding less than a frame
    between them), the last zero-padded to a whole frame."""
    held = None
    for block in blocks:
        held = block if held is None else np.concatenate([held, block])
        whole = len(held) - len(held) % size
        yield from (held[start : start + size] for start in range(0, whole, size))
        held = held[whole:]
    if held is not None and len(held):
        yield np.concatenate([held, np.zeros(size - len(held), dtype=held.dtype)])


def reporting(
    blocks: Iterable[np.ndarray], length: int, progress: Callable[[float], None] | None
) -> Iterator[np.ndarray]:
    """The blocks, telling `progress` (when given) the fraction of `length` samples taken after each."""
    done = 0
    for block in blocks:
        yield block
        done += len(block)
        if progress is not None:
            progress(min(done / max(length, 1), 1.0))
