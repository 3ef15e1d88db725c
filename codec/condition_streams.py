"""Input conditions live: `ConditionStream` puts a microphone's blocks through a chain of codec.conditions, block by
block, and gives back as many samples as it takes, `delay` samples behind.

The deterministic conditions are the whole-clip ones: the telephone band is the same zero-phase filter, cut at
TELEPHONE_LOOKAHEAD_S each side and run that far behind (to 1e-5: a third of a 16-bit step), and a room is the same
convolution (to 1e-6), by overlap-add with the tail carried, scaled by its response's energy instead of the clip's
measured power ratio (within a dB on speech). What a whole clip would set is estimated as the audio comes: the speech
level that noise and level conditions follow is the active level (`codec.dsp.active_level_db`, the whole-clip measure)
of everything heard so far, frames quieter than -50 dBFS left out, averaged (in dB) with the nominal -26 dBFS counted
as half a second of speech: before the talker speaks, noise is set against a typical voice, not the microphone's
hiss, and a quiet first syllable does not set the gain for the loud ones after it.
"""

from __future__ import annotations

import zlib
from typing import Iterable, Protocol

import numpy as np

from codec.conditions import TELEPHONE_BAND, Condition, describe_chain, room_response
from codec.dsp import ACTIVE_FRAME_S, ACTIVE_RANGE_DB, band_filter

NOMINAL_SPEECH_DB = -26.0  # ITU-T P.56's nominal active speech level: the estimate until speech comes
NOMINAL_WEIGHT_S = 0.5  # how much speech the nominal level counts as in the running estimate
SPEECH_FLOOR_DB = -50.0  # a frame quieter than this is not speech (eval takes anything quieter for silence)
# The telephone band's zero-phase response rings for long (a 15 Hz wide edge at 300 Hz). Cut at 0.5 s each side,
# the streamed band is the whole-clip one to 6e-6 on speech (0.75 s: 2e-6, 1 s: 1e-6), at the price of 0.5 s of
# lookahead. A causal band would need none, but it would not be the offline condition the live one is compared with.
TELEPHONE_LOOKAHEAD_S = 0.5
# Pink noise by filtering white noise: a 1/f power slope within 0.5 dB over three decades (J. O. Smith, "Spectral
# Audio Signal Processing", pinking filter), as the whole-clip pink noise's 1/f slope.
PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
PINK_A = (1.0, -2.494956002, 2.017265875, -0.522189400)


class _Stage(Protocol):
    delay: int

    def push(self, block: np.ndarray) -> np.ndarray: ...


class ConditionStream:
    """`conditions` applied in order to audio of `sample_rate` pushed block by block; each push gives back as many
    samples, `delay` behind the input (noise is seeded by the specs unless `rng` is given)."""

    def __init__(self, conditions: Iterable[Condition], sample_rate: int, rng: np.random.Generator | None = None):
        self.conditions = tuple(conditions)
        self.description = describe_chain(self.conditions)
        seed = zlib.crc32("@".join(c.spec for c in self.conditions).encode())
        rng = rng if rng is not None else np.random.default_rng(seed)
        self._stages = [_stage(c, sample_rate, rng) for c in self.conditions]
        self.delay = sum(stage.delay for stage in self._stages)

    def push(self, block: np.ndarray) -> np.ndarray:
        """The conditioned float32 samples (as many as `block`: the first `delay` of a stream are the filters' run-in,
        silence)."""
        out = np.asarray(block, dtype=np.float64)
        for stage in self._stages:
            out = np.clip(stage.push(out), -1.0, 1.0)  # as each whole-clip condition clips
        return out.astype(np.float32)


def _stage(condition: Condition, sample_rate: int, rng: np.random.Generator) -> _Stage:
    if condition.kind in ("white", "pink"):
        return _Noise(condition.value, sample_rate, rng, pink=condition.kind == "pink")
    if condition.kind == "level":
        return _Level(condition.value, sample_rate)
    if condition.kind == "reverb":
        response = room_response(condition.value, sample_rate, rng)
        return _Convolution(response / np.sqrt(np.sum(response**2)), delay=0)
    return _Convolution(telephone_response(sample_rate), delay=round(TELEPHONE_LOOKAHEAD_S * sample_rate))


def telephone_response(sample_rate: int) -> np.ndarray:
    """The whole-clip telephone band's zero-phase impulse response, TELEPHONE_LOOKAHEAD_S each side of its centre."""
    half = round(TELEPHONE_LOOKAHEAD_S * sample_rate)
    impulse = np.zeros(2 * half + 1)
    impulse[half] = 1.0
    return band_filter(impulse, sample_rate, *TELEPHONE_BAND)


class _Convolution:
    """A fixed response, convolved by overlap-add: each block's convolution tail is carried into the next."""

    def __init__(self, response: np.ndarray, delay: int):
        self.response, self.delay = response, delay
        self._tail = np.zeros(len(response) - 1)

    def push(self, block: np.ndarray) -> np.ndarray:
        if not len(block):
            return block
        from scipy.signal import oaconvolve  # scipy loads when a room is streamed, not with the app

        full = oaconvolve(block, self.response)
        full[: len(self._tail)] += self._tail
        self._tail = full[len(block):]
        return full[: len(block)]


class _SpeechLevel:
    """The speech level (dBFS) heard so far: the whole-clip active level of the complete frames louder than
    SPEECH_FLOOR_DB, averaged with the nominal level counted as NOMINAL_WEIGHT_S of frames."""

    def __init__(self, sample_rate: int):
        self.frame = max(1, round(ACTIVE_FRAME_S * sample_rate))
        self.nominal_frames = NOMINAL_WEIGHT_S / ACTIVE_FRAME_S
        self._partial = np.zeros(0)
        self._powers = np.zeros(0)

    def push(self, block: np.ndarray) -> float:
        joined = np.concatenate([self._partial, block])
        whole = len(joined) // self.frame * self.frame
        powers = np.mean(joined[:whole].reshape(-1, self.frame) ** 2, axis=1)
        self._powers = np.concatenate([self._powers, powers[powers >= 10 ** (SPEECH_FLOOR_DB / 10)]])
        self._partial = joined[whole:]
        if not len(self._powers):
            return NOMINAL_SPEECH_DB
        active = self._powers[self._powers >= self._powers.max() * 10 ** (-ACTIVE_RANGE_DB / 10)]
        heard_db = 10 * np.log10(active.mean())
        weight = self.nominal_frames + len(active)
        return float((self.nominal_frames * NOMINAL_SPEECH_DB + len(active) * heard_db) / weight)


class _Noise:
    """Gaussian noise (white or pink) `snr_db` below the speech level heard so far, added block by block."""

    delay = 0

    def __init__(self, snr_db: float, sample_rate: int, rng: np.random.Generator, pink: bool):
        self.snr_db, self.rng, self.pink = snr_db, rng, pink
        self.level = _SpeechLevel(sample_rate)
        self._state = np.zeros(len(PINK_A) - 1)
        from scipy.signal import lfilter  # scipy loads when noise is streamed, not with the app

        impulse = np.zeros(1 << 16)
        impulse[0] = 1.0
        self._pink_power = float(np.sum(lfilter(PINK_B, PINK_A, impulse) ** 2))  # white of unit power, pinked

    def push(self, block: np.ndarray) -> np.ndarray:
        noise = self.rng.standard_normal(len(block))
        if self.pink:
            from scipy.signal import lfilter

            noise, self._state = lfilter(PINK_B, PINK_A, noise, zi=self._state)
            noise /= np.sqrt(self._pink_power)
        speech_db = self.level.push(block)
        return block + noise * 10 ** ((speech_db - self.snr_db) / 20)


class _Level:
    """The gain that brings the speech level heard so far to `target_db`, changing smoothly across each block."""

    delay = 0

    def __init__(self, target_db: float, sample_rate: int):
        self.target_db = target_db
        self.level = _SpeechLevel(sample_rate)
        self._gain: float | None = None

    def push(self, block: np.ndarray) -> np.ndarray:
        gain = 10 ** ((self.target_db - self.level.push(block)) / 20)
        start = gain if self._gain is None else self._gain
        self._gain = gain
        return block * np.linspace(start, gain, len(block) + 1)[1:]  # no step in the gain, so no click
