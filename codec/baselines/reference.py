"""The identity "codec" and the MUSHRA low-pass anchors (ITU-R BS.1534): calibration references, no bitstream.

They work at the caller's sample rate (no resampling, so identity is bit-exact at any rate). Their payload is the
float32 PCM of the output, so a measured bitrate is 32 x the rate; their nominal bitrate is 0, meaning "not a
bitstream codec".
"""

from __future__ import annotations

import numpy as np

from codec.dsp import band_filter
from codec.interface import Codec
from codec.streaming import PassThrough

# Direct encode()/decode() calls need a rate; BS.1534 listening tests use 48 kHz material.
DEFAULT_RATE = 48000


class _AnyRateCodec(Codec):
    """A codec that works at whatever rate its input has."""

    nominal_bitrate = 0.0

    def __init__(self, sample_rate: int = DEFAULT_RATE):
        self.sample_rate = int(sample_rate)

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """The payload is the output's float32 PCM."""
        self.check_payload(payload, num_samples)
        return np.frombuffer(payload, dtype=np.float32).copy()

    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """Another size than `num_samples` float32 samples, or NaN or infinite ones (written, they would become
        full-scale noise)."""
        if len(payload) != 4 * num_samples:
            return f"it is {len(payload)} bytes, not the {4 * num_samples} of {num_samples} float32 samples"
        bad = np.count_nonzero(~np.isfinite(np.frombuffer(payload, dtype=np.float32)))
        return f"it holds {bad} NaN or infinite samples" if bad else ""


class Identity(_AnyRateCodec):
    """Returns its input bit-exactly: every metric must read perfect on it."""

    name = "identity"

    def for_rate(self, sample_rate: int) -> "Identity":
        """Identity at the caller's rate."""
        return Identity(sample_rate)

    def native_stream(self, lookahead_frames: int | None, hop_frames: int | None) -> PassThrough:
        """Every sample back at once: no frame, no lookahead."""
        self._fixed_lookahead(lookahead_frames, hop_frames)
        return PassThrough(self.sample_rate)

    def encode(self, audio: np.ndarray) -> bytes:
        """The float32 samples themselves."""
        return np.asarray(audio, dtype=np.float32).tobytes()


class LowpassAnchor(_AnyRateCodec):
    """Zero-phase low-pass anchor: flat to `cutoff`, a raised-cosine transition, nothing above `stop`.

    Filtering is a multiplication in one zero-padded FFT of the whole signal: zero phase (no delay) and an
    attenuation above `stop` limited only by float32 rounding. The transition (5 % of the cut-off) keeps the
    ringing of the impulse response within a few milliseconds.
    """

    TRANSITION = 0.05  # transition width as a fraction of the cut-off

    def __init__(self, cutoff: float, sample_rate: int = DEFAULT_RATE):
        super().__init__(sample_rate)
        self.cutoff = float(cutoff)
        self.stop = self.cutoff * (1.0 + self.TRANSITION)
        self.name = f"lowpass-{self.cutoff / 1000:g}k"

    def for_rate(self, sample_rate: int) -> "LowpassAnchor":
        """The anchor at the caller's rate."""
        return LowpassAnchor(self.cutoff, sample_rate)

    def encode(self, audio: np.ndarray) -> bytes:
        """The float32 PCM of the low-passed input."""
        return self.filter(audio).tobytes()

    def filter(self, audio: np.ndarray) -> np.ndarray:
        """Low-pass `audio` (at this codec's rate) without delay; as long as the input."""
        return band_filter(audio, self.sample_rate, 0.0, self.cutoff, self.TRANSITION).astype(np.float32)
