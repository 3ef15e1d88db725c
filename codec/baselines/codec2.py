"""Codec2 (David Rowe's low-bitrate speech codec) through pycodec2, which bundles libcodec2. 8 kHz int16."""

from __future__ import annotations

import numpy as np

from codec.baselines.pcm import delay_compensated, from_int16, to_int16
from codec.registry import Codec

MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C")

# Encoder-to-decoder delay in samples at 8 kHz. Codec2 transmits no phase, so its waveform does not line up
# with the input at any lag (peak correlation < 0.5); these are the medians of the energy-envelope delay
# (codec.baselines.delay.measure_envelope_delay) over eight speech clips of codec2-examples; a single utterance
# can land tens of samples away (+-5 ms). The frame structure alone predicts 160 (a 40 ms analysis window centred
# 20 ms back, synthesis overlap-added 10 ms ahead); 700C's decoder adds its own spectral interpolation.
DELAY = {"3200": 144, "2400": 140, "1600": 144, "1400": 140, "1300": 144, "1200": 140, "700C": 216}


class Codec2(Codec):
    """One Codec2 mode. The payload packs each frame's bits back to back (libcodec2 pads every frame to whole
    bytes; 1300 and 700C would otherwise cost 1400 and 800 bit/s)."""

    sample_rate = 8000

    def __init__(self, mode: str):
        self.mode = mode
        self.name = f"codec2-{mode.lower()}"
        self.nominal_bitrate = float(mode.rstrip("C"))
        self.delay = DELAY[mode]

    def _state(self):
        import pycodec2

        # pycodec2 keys 700C by its integer 700; the other modes by their bitrate.
        return pycodec2.Codec2(int(self.mode.rstrip("C")))

    def encode(self, audio: np.ndarray) -> bytes:
        """Encode frame by frame (pycodec2 encodes exactly one frame per call) and pack the bits."""
        state = self._state()
        frame, bits = state.samples_per_frame(), state.bits_per_frame()
        # Extra input covers the codec's delay, so the last input samples come out of the decoder.
        pcm = to_int16(audio)
        pcm = np.pad(pcm, (0, -(len(pcm) + self.delay) % frame + self.delay))
        frames = [state.encode(pcm[i : i + frame]) for i in range(0, len(pcm), frame)]
        return pack_frames(frames, bits)

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """Unpack the bits into libcodec2's byte-padded frames and decode them one by one."""
        state = self._state()
        frames = unpack_frames(payload, state.bits_per_frame(), state.bytes_per_frame())
        decoded = np.concatenate([state.decode(frame) for frame in frames]) if frames else np.zeros(0, np.int16)
        return delay_compensated(from_int16(decoded), self.delay, num_samples)


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
