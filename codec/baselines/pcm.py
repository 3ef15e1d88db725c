"""16-bit PCM conversion for the classical codecs, which all take and return int16 samples, and the removal of
their delay from what they decode, whole-file and live (`FramedStream`)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Iterable, Iterator

import numpy as np

from codec.errors import UserError
from codec.streaming import CodecStream


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


class FramedStream(CodecStream):
    """A classical codec coded live as its whole-file round trip codes: the input as int16, cut into `frame`-sample
    frames as it arrives, each coded at once (`_code`); at the end `delay` zeros (what `encode_blocks` appends, so
    that the last input comes out) and the last frame zero-padded; the first `delay` decoded samples dropped
    (`delay_compensated`). Joined, the output is the round trip's at the native rate."""

    def __init__(self, sample_rate: int, frame: int, delay: int, latency: int):
        super().__init__()
        self.sample_rate, self.frame, self.latency = sample_rate, frame, latency
        self._skip, self._tail = delay, delay
        self._held = np.zeros(0, dtype=np.int16)

    def _take(self, samples: np.ndarray) -> np.ndarray:
        return self._framed(to_int16(samples), end=False)

    def _finish(self) -> np.ndarray:
        return self._framed(np.zeros(self._tail, dtype=np.int16), end=True)

    def _framed(self, pcm: np.ndarray, end: bool) -> np.ndarray:
        held = np.concatenate([self._held, pcm])
        if end:
            held = np.pad(held, (0, -len(held) % self.frame))
        whole = len(held) - len(held) % self.frame
        self._held = held[whole:]
        decoded = self._code([held[start : start + self.frame] for start in range(0, whole, self.frame)], end)
        dropped = min(self._skip, len(decoded))
        self._skip -= dropped
        return decoded[dropped:]

    @abstractmethod
    def _code(self, frames: list[np.ndarray], end: bool) -> np.ndarray:
        """The float32 samples that coding the int16 `frames` decodes to; `end`: none follow (flush the codec)."""
