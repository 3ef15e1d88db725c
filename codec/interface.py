"""The codec interface: audio at a codec's rate -> payload bytes -> audio, and the round trip that every tool runs."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from codec.audio import resample_blocks, resampled_length, validate
from codec.blocks import fit_blocks, join_blocks
from codec.errors import UserError
from codec.streaming import CodecStream, at_rate


@dataclass
class RoundTrip:
    """Decoded audio at the caller's rate, sample-aligned with and as long as the input, plus its cost."""

    audio: np.ndarray
    sample_rate: int
    payload_bytes: int
    duration: float
    encode_seconds: float
    decode_seconds: float
    # What the codec coded, at the caller's rate, when it is not the input (a codec under input conditions): eval
    # and the app align the output with it, so nothing re-applies the conditions.
    heard: np.ndarray | None = None

    @property
    def measured_bitrate(self) -> float:
        """Bits per second of the real payload."""
        return 8.0 * self.payload_bytes / self.duration

    @property
    def rtf(self) -> float:
        """Real-time factor of encode + decode, resampling to and from the codec's rate included (seconds of work
        per second of audio)."""
        return (self.encode_seconds + self.decode_seconds) / self.duration


class Codec(ABC):
    """A speech codec: audio at `sample_rate` -> payload bytes -> audio at `sample_rate`."""

    name: str
    sample_rate: int
    nominal_bitrate: float  # bits per second; 0 for codecs with no bitstream (identity, anchors)
    min_samples: int = 1  # shortest input (at the native rate) the codec takes without padding it
    # False for a parametric codec that sends no phase (Codec2): its output cannot match the input's waveform, so
    # waveform metrics (eval.metrics.WAVEFORM_METRICS) say nothing about its quality and reports flag them.
    waveform_matching: bool = True

    @abstractmethod
    def encode(self, audio: np.ndarray) -> bytes:
        """Encode mono float32 audio at the codec's native rate into a compact payload."""

    @abstractmethod
    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """Decode a payload into `num_samples` of mono float32 audio at the native rate, aligned with the input; a
        damaged payload raises UserError (`check_payload`), never gives audio."""

    @abstractmethod
    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """What makes `payload` unlike anything `encode` gives for `num_samples` samples ('' when nothing): its
        size, framing or values. Checked before decoding, so that nothing is sized by a damaged payload."""

    def check_payload(self, payload: bytes, num_samples: int, name: str = "") -> None:
        """Raise a UserError saying what is wrong with a damaged payload (`payload_problem`), from file `name`."""
        problem = self.payload_problem(payload, num_samples)
        if problem:
            raise UserError(f"{name + ': ' if name else ''}the {self.name} payload is damaged: {problem}")

    def for_rate(self, sample_rate: int) -> Codec:
        """The codec that codes audio of `sample_rate`: this one, or for a codec that works at any rate (identity,
        the anchors), one at that rate, so that nothing is resampled."""
        return self

    def stream(
        self, lookahead_frames: int | None = None, sample_rate: int | None = None, hop_frames: int | None = None
    ) -> CodecStream:
        """A live stream of this codec (codec.streaming) fed and read at `sample_rate` (default: the native rate).
        `lookahead_frames`: for a non-causal codec, the frames of future it may wait for (None: all it can use,
        so the output equals `roundtrip`'s); `hop_frames`: frames coded per step (None: the codec's choice)."""
        rate = sample_rate or self.sample_rate
        return at_rate(self.for_rate(rate).native_stream(lookahead_frames, hop_frames), rate)

    def native_stream(self, lookahead_frames: int | None, hop_frames: int | None) -> CodecStream:
        """The stream at the native rate (`stream`); a UserError for a codec that cannot code live."""
        raise UserError(f"{self.name} cannot code live: it has no stream")

    def _fixed_lookahead(self, lookahead_frames: int | None, hop_frames: int | None) -> None:
        """Refuse a lookahead or hop for a codec whose frame and lookahead are fixed (a classical codec)."""
        if lookahead_frames is not None or hop_frames is not None:
            raise UserError(f"{self.name} has a fixed frame and lookahead: stream it without lookahead_frames or "
                            "hop_frames")

    def encode_blocks(
        self, blocks: Iterable[np.ndarray], num_samples: int, progress: Callable[[float], None] | None = None
    ) -> bytes:
        """`encode` of audio at the native rate that arrives in blocks, `num_samples` in all; `progress` hears the
        fraction done (after every chunk, for a codec that codes in chunks and so holds only what it needs)."""
        payload = self.encode(join_blocks(blocks, num_samples))
        if progress is not None:
            progress(1.0)
        return payload

    def decode_blocks(
        self, payload: bytes, num_samples: int, progress: Callable[[float], None] | None = None
    ) -> Iterator[np.ndarray]:
        """`decode`, as blocks decoded as they are taken; `progress` hears the fraction done."""
        decoded = self.decode(payload, num_samples)
        if progress is not None:
            progress(1.0)
        yield decoded

    def roundtrip_blocks(
        self, blocks: Iterable[np.ndarray], sample_rate: int, num_samples: int,
        progress: Callable[[float], None] | None = None,
    ) -> tuple[bytes, Iterator[np.ndarray]]:
        """The round trip of mono audio at `sample_rate` that arrives in blocks, `num_samples` in all: the payload
        (encoded at once), and the decoded audio at `sample_rate`, as long as the input, as blocks decoded as
        they are taken. `progress` hears the fraction of the whole done, and may raise to stop it."""
        report = progress or (lambda fraction: None)
        codec = self.for_rate(sample_rate)
        native_samples = resampled_length(num_samples, sample_rate, codec.sample_rate)
        native = resample_blocks(blocks, sample_rate, codec.sample_rate)
        payload = codec.encode_blocks(native, native_samples, lambda fraction: report(fraction / 2))
        return payload, codec.decoded_at(payload, native_samples, sample_rate, num_samples,
                                         lambda fraction: report(0.5 + fraction / 2))

    def decoded_at(
        self, payload: bytes, native_samples: int, sample_rate: int, num_samples: int,
        progress: Callable[[float], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """The decoded payload (`native_samples` at the codec's rate) resampled to `sample_rate` and fitted to
        `num_samples`, as blocks decoded as they are taken."""
        decoded = self.decode_blocks(payload, native_samples, progress)
        return fit_blocks(resample_blocks(decoded, self.sample_rate, sample_rate), num_samples)

    def roundtrip(
        self, audio: np.ndarray, sample_rate: int, progress: Callable[[float], None] | None = None
    ) -> RoundTrip:
        """Resample to the native rate, encode, decode, resample back; output aligned and trimmed to the input
        (`roundtrip_blocks` on one block). The times include the resampling, which is part of coding at this rate."""
        audio = validate(audio)
        t0 = time.perf_counter()
        payload, decoded = self.roundtrip_blocks([audio], sample_rate, len(audio), progress)
        t1 = time.perf_counter()
        out = join_blocks(decoded, len(audio))
        t2 = time.perf_counter()
        return RoundTrip(
            audio=out,
            sample_rate=sample_rate,
            payload_bytes=len(payload),
            duration=len(audio) / sample_rate,
            encode_seconds=t1 - t0,
            decode_seconds=t2 - t1,
        )


class BlockCodec(Codec):
    """A codec that codes streams of blocks natively: its whole-array `encode` and `decode` are one block in and the
    blocks joined."""

    @abstractmethod
    def encode_blocks(
        self, blocks: Iterable[np.ndarray], num_samples: int, progress: Callable[[float], None] | None = None
    ) -> bytes:
        """Encode mono float32 audio at the native rate that arrives in blocks, `num_samples` in all, holding less
        than a frame of it; `progress` hears the fraction done."""

    @abstractmethod
    def decode_blocks(
        self, payload: bytes, num_samples: int, progress: Callable[[float], None] | None = None
    ) -> Iterator[np.ndarray]:
        """`num_samples` of decoded audio at the native rate, as blocks decoded as they are taken (the payload
        checked at once, `check_payload`); `progress` hears the fraction done."""

    def encode(self, audio: np.ndarray) -> bytes:
        """`encode_blocks` of one block."""
        return self.encode_blocks([audio], len(audio))

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """`decode_blocks`, joined."""
        return join_blocks(self.decode_blocks(payload, num_samples), num_samples)
