"""LFSC behind the common codec interface (the registry's 'lfsc' and 'lfsc-bf16'), loading the checkpoint once per
process."""

from __future__ import annotations

import copy
import functools
import os
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from codec import entropy as entropy_coding
from codec.bitstream import Layout, frame_bits, pack_frames, unpack_frames
from codec.config import how_to_set, resolve_checkpoint
from codec.devices import resolve_device
from codec.errors import UserError
from codec.hashing import file_sha256
from codec.lfsc import incremental, packed
from codec.lfsc.checkpoint import load_lfsc
from codec.lfsc.inference import DEFAULT_CHUNK_SECONDS, LFSCInference, LFSCStream
from codec.lfsc.model import LFSCModel
from codec.interface import Codec
from codec.streaming import CodecStream

# Frames coded per live step: each step reruns the windows' past and future context, so fewer frames a step cost
# more compute per second (see benchmarks/streaming_bench.py) and more frames add latency.
DEFAULT_HOP_FRAMES = 4


@functools.lru_cache(maxsize=2)
def _cached_model(path: str, mtime: float, device: str, trust: bool) -> LFSCModel:
    return load_lfsc(path, device=device, trust=trust)


def load_model(checkpoint: str | os.PathLike | None = None, device: str | None = None, trust: bool = False) -> LFSCModel:
    """The configured LFSC model, loaded once per (file, device) and shared by the GUI, eval and CLI."""
    path = resolve_checkpoint(checkpoint)
    if path is None:
        raise UserError(f"no LFSC checkpoint configured: {how_to_set()}")
    if not path.exists():  # a folder or a device is load_lfsc's to name
        raise UserError(f"LFSC checkpoint {path} does not exist: {how_to_set()}")
    return _cached_model(str(path.resolve()), path.stat().st_mtime, resolve_device(device or "auto"), trust)


class LFSCCodec(Codec):
    """NVIDIA's Low Frame-rate Speech Codec: 22.05 kHz, 8 FSQ codebooks x 2016 codes at 21.5 frames/s.

    `precision` is 'fp32' (exact, the default), 'bf16' or 'fp16' (faster, measured deviation; run packed on CUDA
    and, bf16, on x86 CPUs with native bf16, otherwise under autocast; see docs/performance.md). Inputs longer than
    `chunk_seconds` are coded in overlapping chunks (same result as whole-file coding, bounded memory).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        device: str | None = None,
        trust: bool = False,
        precision: str = "fp32",
        chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
        entropy: str = "none",
    ):
        # The name carries a reduced precision and entropy coding, so eval rows, caches and the app tell them apart.
        self.entropy = entropy_coding.model_named(entropy)
        self.name = ("lfsc" if precision == "fp32" else f"lfsc-{precision}") + ("+ac" if self.entropy else "")
        self.model = load_model(checkpoint, device, trust)
        self.inference = LFSCInference(self.model, precision=precision, chunk_seconds=chunk_seconds)
        path = resolve_checkpoint(checkpoint)
        self.model_sha256 = file_sha256(path)  # the model a version 3 .lfsc file names (as nemo:PATH)
        # What identifies this codec's output, for eval's cache and run manifests: a retrained checkpoint, another
        # precision or other kernels (packed bf16 is not autocast bf16) must never reuse cached numbers.
        self.settings = {"checkpoint": str(path), "checkpoint_sha256": self.model_sha256, "precision": precision}
        if self.inference.packed:
            self.settings["kernels"] = packed.kernels(self.model.device)
        if self.entropy is not None:
            self.settings["entropy"] = entropy_coding.describe_model(self.entropy)
        self.sample_rate = self.model.sample_rate
        self.min_samples = self.model.min_samples
        self.nominal_bitrate = (
            self.model.num_codebooks * np.log2(self.model.codebook_size) * self.sample_rate / self.model.samples_per_frame
        )

    def layout(self, num_samples: int, source_rate: int, source_samples: int) -> Layout:
        """The bitstream layout of a clip of `num_samples` at the codec's rate, made from `source_samples` at
        `source_rate`."""
        levels = tuple(self.model.vector_quantizer.fsqs[0].num_levels.flatten().tolist())
        return Layout(self.sample_rate, num_samples, self.model.samples_per_frame, self.inference.frames_for(num_samples),
                      levels, self.model.num_codebooks, source_rate, source_samples)

    def tokens(self, audio: np.ndarray) -> np.ndarray:
        """Token frames [num_codebooks, num_frames] of mono audio at 22.05 kHz (short clips are zero-padded)."""
        return self.inference.encode(audio)

    def synthesize(self, tokens: np.ndarray, num_samples: int) -> np.ndarray:
        """Audio of `num_samples` at 22.05 kHz decoded from token frames [num_codebooks, num_frames]."""
        return self.inference.decode(tokens, num_samples)

    def encode(self, audio: np.ndarray) -> bytes:
        """Packed token frames (88 bits a frame for LFSC), or their entropy-coded payload."""
        return self._pack(self.tokens(audio))

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """Audio from packed token frames."""
        return self.synthesize(self._unpack(payload, num_samples), num_samples)

    def encode_many(self, clips: Sequence[np.ndarray], batch_size: int) -> list[bytes]:
        """`encode` of each clip (mono, 22.05 kHz), up to `batch_size` clips of equal frame count through the encoder
        at once: the payloads `encode` gives one by one (LFSCInference.encode_many's buckets)."""
        batched = copy.copy(self.inference)  # the same model and kernels, another batch size
        batched.batch_size = max(1, batch_size)
        return [self._pack(tokens) for tokens in batched.encode_many(clips)]

    def encode_blocks(
        self, blocks: Iterable[np.ndarray], num_samples: int, progress: Callable[[float], None] | None = None
    ) -> bytes:
        """`encode` chunk by chunk as the blocks arrive, holding about one window; `progress` hears each chunk."""
        report = _fractions(progress, self.inference.frames_for(num_samples))
        return self._pack(self.inference.encode_blocks(blocks, num_samples, report))

    def decode_blocks(
        self, payload: bytes, num_samples: int, progress: Callable[[float], None] | None = None
    ) -> Iterator[np.ndarray]:
        """`decode`, one chunk core at a time as they are taken (the payload unpacked, and so checked, at once);
        `progress` hears each chunk."""
        report = _fractions(progress, self.inference.frames_for(num_samples))
        return self.inference.decode_blocks(self._unpack(payload, num_samples), num_samples, report)

    def native_stream(self, lookahead_frames: int | None, hop_frames: int | None,
                      sent: Callable[[np.ndarray], None] | None = None) -> CodecStream:
        """LFSC coded live at 22.05 kHz, `hop_frames` a step (default DEFAULT_HOP_FRAMES); `sent` hears each block
        of committed tokens. With the whole receptive field as lookahead (None, or as many frames) the layers run
        incrementally (codec.lfsc.incremental), else in windows with the lookahead given (LFSCStream). Its own
        inference, so that packed kernels are blocked for the stream's steps."""
        hop = DEFAULT_HOP_FRAMES if hop_frames is None else hop_frames
        if hop < 1:
            raise UserError(f"hop_frames must be 1 or more, got {hop}")
        precision, pack = self.inference.precision, self.inference.packed
        full = self.inference.encoder_context + self.inference.decoder_context
        if (lookahead_frames is None or lookahead_frames >= full) and incremental.streamable(self.model):
            blocked = pack and self.model.device.type == "cpu"  # oneDNN kernels, blocked for the steps' sizes
            sizes = incremental.step_sizes(self.model, hop) if blocked else None
            return incremental.IncrementalLFSCStream(LFSCInference(self.model, precision, pack=pack, conv_sizes=sizes),
                                                     hop, sent)
        inference = LFSCInference(self.model, precision, hop * self.model.samples_per_frame / self.sample_rate,
                                  pack=pack)
        return LFSCStream(inference, lookahead_frames, hop, sent)

    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """Another size than the packed frames for `num_samples`, or an entropy-coded payload's damaged header or
        other frames (a frame holding an impossible value, or a body that fails its checksum, is found as it is
        unpacked)."""
        frames = self.inference.frames_for(num_samples)
        if self.entropy is not None:
            return entropy_coding.payload_problem(payload, frames, self.model.num_codebooks, self.model.codebook_size)
        expected = (frames * frame_bits(self.model.codebook_size, self.model.num_codebooks) + 7) // 8
        return "" if len(payload) == expected else f"it is {len(payload)} bytes, not the {expected} of {frames} frames"

    def _pack(self, tokens: np.ndarray) -> bytes:
        if self.entropy is None:
            return pack_frames(tokens, self.model.codebook_size)
        return entropy_coding.pack(tokens.T, self.model.codebook_size, self.entropy)

    def _unpack(self, payload: bytes, num_samples: int) -> np.ndarray:
        self.check_payload(payload, num_samples)
        if self.entropy is not None:
            prior = None if isinstance(self.entropy, str) else self.entropy
            return np.ascontiguousarray(entropy_coding.unpack(payload, prior).T)
        frames = self.inference.frames_for(num_samples)
        return unpack_frames(payload, frames, self.model.num_codebooks, self.model.codebook_size)


def entropy_coded(
    entropy: str = "adaptive",
    checkpoint: str | os.PathLike | None = None,
    device: str | None = None,
    trust: bool = False,
    precision: str = "fp32",
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
) -> LFSCCodec:
    """LFSC with its tokens entropy-coded ('adaptive' needs no prior; 'prior:FILE' or 'context:FILE' a fitted one)."""
    if entropy == "none":
        raise UserError("lfsc+ac codes its tokens with an entropy coder: give adaptive, prior:FILE or context:FILE, or "
                        "use the codec lfsc for fixed-size frames")
    return LFSCCodec(checkpoint, device, trust, precision, chunk_seconds, entropy)


def nemo_codec(
    checkpoint: str,
    device: str | None = None,
    trust: bool = False,
    precision: str = "fp32",
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
) -> LFSCCodec:
    """The registry's 'nemo:PATH': any .nemo of LFSC's family (Audio Codec, NanoCodec, Mel Codec) at its own rate,
    frame size and codebooks, named by its path so eval rows and caches tell checkpoints apart."""
    if not checkpoint:
        raise UserError("give the checkpoint after the prefix: nemo:PATH/TO/MODEL.nemo")
    codec = LFSCCodec(checkpoint, device, trust, precision, chunk_seconds)
    codec.name = f"nemo:{checkpoint}"  # its precision is in codec.settings
    return codec


def _fractions(progress: Callable[[float], None] | None, total_frames: int) -> Callable[[int], None] | None:
    """The inference's frames-per-step callback, turned into fractions of `total_frames` for `progress`."""
    if progress is None:
        return None
    done = 0

    def step(frames: int) -> None:
        nonlocal done
        done += frames
        progress(done / total_frames)

    return step
