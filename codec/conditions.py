"""Input conditions for robustness sweeps: what a codec hears in use (noise at an SNR, a reverberant room, a telephone
band, a quiet or hot level), applied to the input before coding.

`get_codec("opus-6k@white10")` is Opus at 6 kbit/s fed its input with white noise at 10 dB SNR; conditions chain
left to right (`lfsc@reverb0.6@white10`: a room, then noise). Metrics still compare the decoded audio with the clean
input, so `identity@white10` (the condition alone) is the floor that shows how much a codec adds to the loss under
the condition. `lfsc-eval run --condition` adds those floors. Noise and room responses are seeded from the input's
samples: the same clip always gets the same noise, and every codec hears the same conditioned input.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from codec.blocks import join_blocks
from codec.dsp import active_level_db, band_filter
from codec.errors import UserError
from codec.interface import Codec, RoundTrip

VERSION = 4  # bump when a condition's output, or how eval aligns a conditioned codec's output, changes: a cache key
TELEPHONE_BAND = (300.0, 3400.0)  # Hz, the analogue telephone channel (ITU-T G.712)
FORMS = ("white<SNR dB>", "pink<SNR dB>", "reverb<RT60 s>", "level<dBFS>", "tel")
# (lowest, highest, unit, example) per kind. Below -50 dBFS eval would take the decoded audio for silence.
RANGES = {"white": (-20.0, 60.0, "dB SNR", "white10"), "pink": (-20.0, 60.0, "dB SNR", "pink10"),
          "reverb": (0.05, 5.0, "s of RT60", "reverb0.6"), "level": (-50.0, 0.0, "dBFS", "level-36")}
_SPEC = re.compile(r"(white|pink|reverb|level)(-?\d+(?:\.\d+)?)|tel")


@dataclass(frozen=True)
class Condition:
    """One input condition, named by its spec (such as 'white10', 'reverb0.6', 'level-36', 'tel')."""

    spec: str
    kind: str
    value: float | None = None

    @property
    def description(self) -> str:
        """The condition in words, for reports and the app."""
        if self.kind == "tel":
            return f"the telephone band ({TELEPHONE_BAND[0]:g}-{TELEPHONE_BAND[1]:g} Hz)"
        return {"white": "white noise at {:g} dB SNR", "pink": "pink noise at {:g} dB SNR",
                "reverb": "a room with an RT60 of {:g} s", "level": "speech at {:g} dBFS"}[self.kind].format(self.value)

    def apply(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The conditioned float32 signal, as long as `audio` and aligned with it (clipped to [-1, 1])."""
        audio = np.asarray(audio, dtype=np.float64)
        if not np.any(audio) and self.kind != "tel":
            return audio.astype(np.float32)  # silence has no SNR or level to set, and a room leaves it silent
        if self.kind in ("white", "pink"):
            speech_db = active_level_db(audio, sample_rate)
            out = audio + _noise_at_snr(audio, speech_db, self.value, self._rng(audio), pink=self.kind == "pink")
        elif self.kind == "reverb":
            out = _reverberate(audio, self.value, sample_rate, self._rng(audio))
        elif self.kind == "level":
            out = audio * 10 ** ((self.value - active_level_db(audio, sample_rate)) / 20)
        else:
            out = band_filter(audio, sample_rate, *TELEPHONE_BAND)
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    def _rng(self, audio: np.ndarray) -> np.random.Generator:
        """The generator of this condition's noise or room for `audio`: seeded by the samples and the spec."""
        return np.random.default_rng([zlib.crc32(audio.astype(np.float32).tobytes()), zlib.crc32(self.spec.encode())])


def parse(spec: str) -> Condition:
    """The condition named `spec`; a UserError that lists the forms for anything else."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise UserError(f"unknown input condition {spec!r}: use {', '.join(FORMS)} (e.g. opus-6k@white10)")
    if not match.group(1):
        return Condition(spec, "tel")
    kind, value = match.group(1), float(match.group(2))
    low, high, unit, example = RANGES[kind]
    if not low <= value <= high:
        raise UserError(f"{spec}: {kind} takes {low:g} to {high:g} {unit}, such as {example}")
    if spec != f"{kind}{value:g}":  # one spelling per condition: one cache entry, one row name
        raise UserError(f"{spec}: write it as {kind}{value:g}")
    return Condition(spec, kind, value)


def apply_chain(conditions: Iterable[Condition], audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """`audio` through each condition in turn."""
    for condition in conditions:
        audio = condition.apply(audio, sample_rate)
    return audio


def describe_chain(conditions: Iterable[Condition]) -> str:
    """A chain of conditions in words ('the clean input' for none)."""
    return " then ".join(c.description for c in conditions) or "the clean input"


def _noise_at_snr(audio: np.ndarray, speech_db: float, snr_db: float, rng: np.random.Generator, pink: bool
                  ) -> np.ndarray:
    """Gaussian noise (white, or pink: power falling 3 dB per octave) `snr_db` below the speech's active level
    `speech_db` (dBFS), so that pauses in a clip do not make its noise quieter."""
    noise = rng.standard_normal(len(audio))
    if pink:
        spectrum = np.fft.rfft(noise)
        bins = np.arange(len(spectrum), dtype=np.float64)
        spectrum[1:] /= np.sqrt(bins[1:])
        spectrum[0] = 0.0
        noise = np.fft.irfft(spectrum, len(audio))
    return noise * np.sqrt(10 ** ((speech_db - snr_db) / 10) / np.mean(noise**2))


def room_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room's impulse response: a direct path plus a Gaussian tail decaying 60 dB in `rt60` seconds, as
    much energy in the tail as in the direct path (a talker a few metres away)."""
    length = max(2, int(1.5 * rt60 * sample_rate))
    t = np.arange(length) / sample_rate
    response = rng.standard_normal(length) * 10 ** (-3 * t / rt60)
    response[0] = 0.0
    response /= np.sqrt(np.sum(response**2))
    response[0] = 1.0
    return response


def _reverberate(audio: np.ndarray, rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The input in a synthetic room (`room_response`), scaled back to the input's power."""
    response = room_response(rt60, sample_rate, rng)
    length = len(response)
    nfft = 1 << int(np.ceil(np.log2(len(audio) + length)))
    wet = np.fft.irfft(np.fft.rfft(audio, nfft) * np.fft.rfft(response, nfft), nfft)[: len(audio)]
    return wet * np.sqrt(np.mean(audio**2) / np.mean(wet**2))


class Conditioned(Codec):
    """A codec fed its input through conditions, applied in order at the caller's rate: round trips only (`encode`
    refuses)."""

    def __init__(self, inner: Codec, conditions: tuple[Condition, ...]):
        self.inner = inner
        self.conditions = tuple(conditions)
        self.name = inner.name + "".join(f"@{c.spec}" for c in self.conditions)
        self.sample_rate = inner.sample_rate
        self.nominal_bitrate = inner.nominal_bitrate
        self.min_samples = inner.min_samples
        self.waveform_matching = inner.waveform_matching

    def condition(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """`audio` through every condition, in order: what the codec hears."""
        return apply_chain(self.conditions, audio, sample_rate)

    def for_rate(self, sample_rate: int) -> Codec:
        """The conditioned codec that codes audio of `sample_rate` (see `Codec.for_rate`)."""
        inner = self.inner.for_rate(sample_rate)
        return self if inner is self.inner else Conditioned(inner, self.conditions)

    def encode(self, audio: np.ndarray) -> bytes:
        """Refused: conditions apply to round trips, at the caller's rate (a payload would be conditioned at the
        codec's rate instead, with other noise)."""
        raise UserError(f"{self.name}: input conditions apply to round trips (lfsc-codec roundtrip, lfsc-eval, the "
                        f"app); to keep a payload, condition the audio with identity@... first, then encode it with "
                        f"{self.inner.name}")

    def decode(self, payload: bytes, num_samples: int) -> np.ndarray:
        """The inner codec's decode: conditions change the input only."""
        return self.inner.decode(payload, num_samples)

    def payload_problem(self, payload: bytes, num_samples: int) -> str:
        """The inner codec's: conditions change the input only."""
        return self.inner.payload_problem(payload, num_samples)

    def roundtrip(
        self, audio: np.ndarray, sample_rate: int, progress: Callable[[float], None] | None = None
    ) -> RoundTrip:
        """The inner codec's round trip of the conditioned input, which it carries as `heard`; its times are the
        codec's, not the conditions'."""
        heard = self.condition(audio, sample_rate)
        return dataclasses.replace(self.inner.roundtrip(heard, sample_rate, progress), heard=heard)

    def roundtrip_blocks(
        self, blocks: Iterable[np.ndarray], sample_rate: int, num_samples: int,
        progress: Callable[[float], None] | None = None,
    ) -> tuple[bytes, Iterator[np.ndarray]]:
        """The inner codec's round trip of the input conditioned at `sample_rate` (held whole: noise levels and room
        responses depend on all of it)."""
        conditioned = self.condition(join_blocks(blocks, num_samples), sample_rate)
        return self.inner.roundtrip_blocks([conditioned], sample_rate, num_samples, progress)
