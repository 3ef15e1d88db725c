"""Codec2 (David Rowe's low-bitrate speech codec) through pycodec2, which bundles libcodec2. 8 kHz int16."""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from codec.baselines.pcm import FramedStream, delay_compensated, from_int16, to_int16
from codec.blocks import frames_of, reporting
from codec.interface import BlockCodec

MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C")

# Encoder-to-decoder delay in samples at 8 kHz. Codec2 transmits no phase, so its waveform does not line up
# with the input at any lag (peak correlation < 0.5); these are the medians of the energy-envelope delay
# (codec.baselines.delay.measure_envelope_delay) over eight speech clips of codec2-examples; a single utterance
# can land tens of samples away (+-5 ms). The frame structure alone predicts 160 (a 40 ms analysis window centred
# 20 ms back, synthesis overlap-added 10 ms ahead); 700C's decoder adds its own spectral interpolation.
DELAY = {"3200": 144, "2400": 140, "1600": 144, "1400": 140, "1300": 144, "1200": 140, "700C": 216}

# libcodec2 draws unvoiced phases from codec2_rand(), a C library LCG whose state is one process-wide
# `static unsigned long next = 1`. Without resetting it, decoding the same payload twice gives different audio.
GENERATOR_START = 1
_LCG_MULTIPLIER, _LCG_INCREMENT = 1103515245, 12345
# One decode at a time per process, so threads do not draw from each other's phases; re-entrant because the
# generator is found (with one draw of its own) under the same lock.
_decoding = threading.RLock()
DECODE_BATCH = 500  # frames decoded under that lock at a time (10 s at 3200 bit/s)


def _loaded_libcodec2() -> Path | None:
    """The libcodec2 file this process has mapped (pycodec2's bundled copy or the system's), from /proc/self/maps;
    None when there is not exactly one, or the file on disk is no longer the one mapped (replaced by an upgrade)."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return None
    # fields: address perms offset device inode path
    mapped = {(int(f[4]), f[5]) for f in (line.split(maxsplit=5) for line in maps) if len(f) == 6 and "libcodec2" in f[5]}
    if len(mapped) != 1:
        return None
    inode, path = mapped.pop()
    try:
        return Path(path) if os.stat(path).st_ino == inode else None
    except OSError:
        return None


def generator_state() -> ctypes.c_uint64 | None:
    """libcodec2's pseudo-random state, found through the library's symbol table and proven by one draw; None
    where it cannot be found (a stripped build, no pyelftools), in which case Codec2 decodes are not repeatable."""
    with _decoding:
        return _find_generator()


@functools.cache
def _find_generator() -> ctypes.c_uint64 | None:
    import pycodec2  # noqa: F401  (maps libcodec2 into the process)

    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
    except ImportError:
        return None
    path = _loaded_libcodec2()
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            symtab = ELFFile(handle).get_section_by_name(".symtab")
            found = [s for s in symtab.iter_symbols() if s.name in ("next", "codec2_rand")] if symtab else []
    except (OSError, ELFError):
        return None
    states = [s for s in found if s.name == "next"]
    draws = [s for s in found if s.name == "codec2_rand"]
    if len(states) != 1 or len(draws) != 1 or states[0]["st_size"] != 8 or states[0]["st_info"]["type"] != "STT_OBJECT":
        return None
    state_symbol, draw_symbol = states[0], draws[0]
    draw = ctypes.CDLL(str(path)).codec2_rand
    draw.restype = ctypes.c_int
    load_bias = ctypes.cast(draw, ctypes.c_void_p).value - draw_symbol["st_value"]
    state = ctypes.c_uint64.from_address(load_bias + state_symbol["st_value"])
    # Read before anything is written: one draw must step this very variable as the C library's LCG does.
    stepped = (state.value * _LCG_MULTIPLIER + _LCG_INCREMENT) % 2**64
    drawn = draw()
    return state if state.value == stepped and drawn == (stepped // 65536) % 32768 else None


class Codec2(BlockCodec):
    """One Codec2 mode. The payload packs each frame's bits back to back (libcodec2 pads every frame to whole
    bytes; 1300 and 700C would otherwise cost 1400 and 800 bit/s)."""

    sample_rate = 8000
    waveform_matching = False  # a vocoder: the decoder draws its own phases

    def __init__(self, mode: str):
        self.mode = mode
        self.name = f"codec2-{mode.lower()}"
        self.nominal_bitrate = float(mode.rstrip("C"))
        self.delay = DELAY[mode]

    def _state(self):
        import pycodec2

        # pycodec2 keys 700C by its integer 700; the other modes by their bitrate.
        return pycodec2.Codec2(int(self.mode.rstrip("C")))


    def encode_blocks(
        self, blocks: Iterable[np.ndarray], num_samples: int, progress: Callable[[float], None] | None = None
    ) -> bytes:
        """Frames encoded as the blocks arrive, one per pycodec2 call (holding less than a frame of the input), their
        bits packed."""
        state = self._state()
        # Extra input covers the codec's delay, so the last input samples come out of the decoder.
        pcm = map(to_int16, itertools.chain(reporting(blocks, num_samples, progress), [np.zeros(self.delay, np.float32)]))
        frames = [state.encode(frame) for frame in frames_of(pcm, state.samples_per_frame())]
        return pack_frames(frames, state.bits_per_frame())


    def decode_blocks(
        self, payload: bytes, num_samples: int, progress: Callable[[float], None] | None = None
    ) -> Iterator[np.ndarray]:
        """The bits unpacked into libcodec2's byte-padded frames, decoded DECODE_BATCH frames at a time as the audio
        is taken (the payload checked at once), from the phase generator's start state, so that a payload always
        decodes to the same audio."""
        self.check_payload(payload, num_samples)
        state = self._state()
        frames = unpack_frames(payload, state.bits_per_frame(), state.bytes_per_frame())
        return delay_compensated(self._decoded(state, frames, progress), self.delay, num_samples, self.name)

    @staticmethod
    def _decoded(state, frames: list[bytes], progress: Callable[[float], None] | None) -> Iterator[np.ndarray]:
        phase = GENERATOR_START
        for start in range(0, len(frames), DECODE_BATCH):
            # Each batch runs under the lock from where the previous one left the process-wide phase generator:
            # threads do not draw from each other's phases, and the audio is what one whole decode gives.
            with _decoding:
                generator = generator_state()
                if generator is not None:
                    generator.value = phase
                decoded = [state.decode(frame) for frame in frames[start : start + DECODE_BATCH]]
                phase = generator.value if generator is not None else phase
            yield from_int16(np.concatenate(decoded))
            if progress is not None:
                progress(min(start + DECODE_BATCH, len(frames)) / len(frames))

    def native_stream(self, lookahead_frames: int | None, hop_frames: int | None) -> Codec2Stream:
        """Frame by frame through libcodec2 (`Codec2Stream`); the frame and delay are fixed."""
        self._fixed_lookahead(lookahead_frames, hop_frames)
        return Codec2Stream(self)

    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """Another size than the frames that `encode` gives for `num_samples` (the input and the delay)."""
        state = self._state()
        frames = -(-(num_samples + self.delay) // state.samples_per_frame())
        expected = -(-frames * state.bits_per_frame() // 8)
        return "" if len(payload) == expected else f"it is {len(payload)} bytes, not the {expected} of {frames} frames"

    @property
    def settings(self) -> dict:
        """What identifies this codec's output beyond its mode: whether decoding is repeatable here."""
        return {"repeatable_decoder": generator_state() is not None}


class Codec2Stream(FramedStream):
    """Codec2 coded live: each frame encoded as it completes and decoded (the payload's bit packing loses nothing,
    tests/test_baselines.py, so the frames go across as they are), under the decoding lock from where this stream
    left the phase generator (its start state at first), as `Codec2.decode_blocks` does batch by batch; so the output
    is `roundtrip`'s at 8 kHz whatever the push sizes and whatever else decodes meanwhile. Latency: a frame less a
    sample, and the codec's delay."""

    def __init__(self, codec: Codec2):
        # An encoder and a decoder of their own, as a whole-file encode and decode have.
        self._encoder, self._decoder = codec._state(), codec._state()
        frame = self._encoder.samples_per_frame()
        super().__init__(codec.sample_rate, frame, codec.delay, frame - 1 + codec.delay)
        self._phase = GENERATOR_START

    def _code(self, frames: list[np.ndarray], end: bool) -> np.ndarray:
        sent = [self._encoder.encode(pcm) for pcm in frames]
        with _decoding:
            generator = generator_state()
            if generator is not None:
                generator.value = self._phase
            decoded = [self._decoder.decode(frame) for frame in sent]
            self._phase = generator.value if generator is not None else self._phase
        return from_int16(np.concatenate([np.zeros(0, dtype=np.int16), *decoded]))


def pack_frames(frames: list[bytes], bits: int) -> bytes:
    """Concatenate the first `bits` bits of each byte-padded frame."""
    padded = np.frombuffer(b"".join(frames), dtype=np.uint8).reshape(len(frames), -1)
    return np.packbits(np.unpackbits(padded, axis=1)[:, :bits].reshape(-1)).tobytes()


def unpack_frames(payload: bytes, bits: int, frame_bytes: int) -> list[bytes]:
    """Split a packed payload back into libcodec2's byte-padded frames."""
    stream = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    count = len(stream) // bits  # the last byte's padding is shorter than any frame
    padded = np.zeros((count, 8 * frame_bytes), dtype=np.uint8)
    padded[:, :bits] = stream[: count * bits].reshape(count, bits)
    return [row.tobytes() for row in np.packbits(padded, axis=1)]
