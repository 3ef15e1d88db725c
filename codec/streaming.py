"""Live coding: a stream takes audio in blocks of any size (an audio callback's 10-50 ms) and gives back the decoded
audio as it becomes final, at the caller's rate.

The contract (`CodecStream`): joined, the outputs of every `push` and the final `flush` are as long as the pushed
input and aligned with it sample for sample, as `Codec.roundtrip`'s output is; after any push, at most `latency`
input samples have not come back yet (the algorithmic latency: frame, lookahead and resampler delay; compute time
comes on top). Each push does the work of the frames it completes and no more, so its compute is bounded by the
block size. numpy only here; soxr is imported when a stream resamples.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import numpy as np

from codec.errors import UserError


class CodecStream(ABC):
    """Audio in blocks at `sample_rate` -> decoded audio at `sample_rate`, aligned with the input, `latency` behind."""

    sample_rate: int
    latency: int  # the most input samples (at `sample_rate`) that a push leaves without output

    def __init__(self) -> None:
        self.pushed = 0
        self.emitted = 0
        self.flushed = False

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Code mono float32 `samples` (any count, 0 too); the decoded samples that became final (maybe none)."""
        if self.flushed:
            raise UserError("this stream is flushed: start a new one to code more audio")
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1 or not np.all(np.isfinite(samples)):
            raise UserError("a stream takes mono (1-D) blocks of finite samples")
        self.pushed += len(samples)
        return self._count(self._take(samples))

    def flush(self) -> np.ndarray:
        """The end of the input: the rest of the decoded audio, so that all of it is as long as all the input."""
        if self.flushed:
            return np.zeros(0, dtype=np.float32)
        self.flushed = True
        rest = self._finish()[: self.pushed - self.emitted]
        rest = np.pad(rest, (0, self.pushed - self.emitted - len(rest)))
        return self._count(rest)

    def _count(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32)[: self.pushed - self.emitted]
        self.emitted += len(out)
        return out

    @abstractmethod
    def _take(self, samples: np.ndarray) -> np.ndarray:
        """The decoded samples that `samples` make final (beyond the input's length they are cut)."""

    @abstractmethod
    def _finish(self) -> np.ndarray:
        """The decoded samples left at the input's end (cut or zero-padded to the input's length)."""


class PassThrough(CodecStream):
    """The identity's stream: every sample comes back at once."""

    latency = 0

    def __init__(self, sample_rate: int):
        super().__init__()
        self.sample_rate = sample_rate

    def _take(self, samples: np.ndarray) -> np.ndarray:
        return samples

    def _finish(self) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)


class ResampledStream(CodecStream):
    """A codec's stream at its native rate, fed and read at the caller's `sample_rate` through soxr's streaming
    resampler (joined, exactly the whole-file `codec.audio.resample` both ways); its delay counts in `latency`."""

    def __init__(self, inner: CodecStream, sample_rate: int):
        import soxr

        super().__init__()
        self.inner, self.sample_rate = inner, sample_rate
        self._to_native = soxr.ResampleStream(sample_rate, inner.sample_rate, 1, dtype="float32", quality="VHQ")
        self._to_caller = soxr.ResampleStream(inner.sample_rate, sample_rate, 1, dtype="float32", quality="VHQ")
        into, out = resampler_holdback(sample_rate, inner.sample_rate), resampler_holdback(inner.sample_rate, sample_rate)
        self.latency = -(-(into + inner.latency) * sample_rate // inner.sample_rate) + out

    def _take(self, samples: np.ndarray) -> np.ndarray:
        return self._to_caller.resample_chunk(self.inner.push(self._to_native.resample_chunk(samples)))

    def _finish(self) -> np.ndarray:
        native = self.inner.push(self._to_native.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        native = np.concatenate([native, self.inner.flush()])
        return np.concatenate([self._to_caller.resample_chunk(native), self._to_caller.resample_chunk(
            np.zeros(0, dtype=np.float32), last=True)])


_HOLDBACK: dict[tuple[int, int], int] = {}


def resampler_holdback(sr_in: int, sr_out: int) -> int:
    """The most output samples soxr's streaming resampler (VHQ) owes for its input at any moment: its delay, found
    once per rate pair by feeding it one sample at a time (it works in blocks, so what it owes varies)."""
    if (sr_in, sr_out) not in _HOLDBACK:
        import soxr

        stream = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality="VHQ")
        one, owed, given = np.zeros(1, dtype=np.float32), 0, 0
        # Three of its blocks (which hold at most a few thousand output samples at VHQ) cover its worst moment.
        for fed in range(1, 3 * 8192 * max(1, sr_in // sr_out) + 1):
            given += len(stream.resample_chunk(one))
            owed = max(owed, int(fed * sr_out / sr_in + 0.5) - given)
        _HOLDBACK[(sr_in, sr_out)] = owed
    return _HOLDBACK[(sr_in, sr_out)]


def at_rate(inner: CodecStream, sample_rate: int) -> CodecStream:
    """`inner`, read and fed at `sample_rate`: itself when that is its rate, else through the streaming resampler."""
    return inner if inner.sample_rate == sample_rate else ResampledStream(inner, sample_rate)
