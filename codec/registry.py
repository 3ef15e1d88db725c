"""One codec interface and the registry that maps names such as 'lfsc', 'codec2-2400', 'opus-6k' to codecs.

The GUI, the eval runner and the CLI all go through `get_codec`; nothing else builds codec classes directly.
"""

from __future__ import annotations

import inspect
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from codec.audio import resample_blocks, resampled_length, validate
from codec.blocks import fit_blocks, join_blocks
from codec.errors import UserError


@dataclass
class RoundTrip:
    """Decoded audio at the caller's rate, sample-aligned with and as long as the input, plus its cost."""

    audio: np.ndarray
    sample_rate: int
    payload_bytes: int
    duration: float
    encode_seconds: float
    decode_seconds: float

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


@dataclass
class CodecEntry:
    """A registered codec: how to build it and what to show in `lfsc-codec list`."""

    name: str
    factory: Callable[..., Codec]
    sample_rate: int
    nominal_bitrate: float
    description: str
    requires: tuple[str, ...] = field(default=())  # (module, pip package) pairs joined as "module:package"
    check: Callable[..., str] | None = None  # given the codec options: why it cannot run here, or ""

    def available(self, **options) -> tuple[bool, str]:
        """Whether the codec can run here, and if not, what to do about it."""
        import importlib.util

        for requirement in self.requires:
            module, _, package = requirement.partition(":")
            if importlib.util.find_spec(module) is None:
                return False, f"needs the Python package '{package or module}' (pip install {package or module})"
        if self.check is not None:
            why = self.check(**options)
            if why:
                return False, why
        return True, ""


_REGISTRY: dict[str, CodecEntry] = {}
_BUILTINS_LOADED = False


def register(entry: CodecEntry) -> None:
    """Add a codec to the registry (names are unique)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"codec {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry


def _load_builtin() -> None:
    # Importing these modules registers their codecs; they import their heavy dependencies lazily.
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        import codec.baselines  # noqa: F401
        import codec.lfsc_codec  # noqa: F401

        _BUILTINS_LOADED = True


def list_codecs() -> list[CodecEntry]:
    """All registered codecs, in registration order."""
    _load_builtin()
    return list(_REGISTRY.values())


def base_name(name: str) -> str:
    """The registered codec of a name that may carry input conditions ('opus-6k@white10' -> 'opus-6k')."""
    return name.split("@", 1)[0]


def takes_option(name: str, option: str) -> bool:
    """Whether the codec registered under `name` takes `option` (such as LFSC's checkpoint and device)."""
    _load_builtin()
    entry = _REGISTRY.get(base_name(name))
    return entry is not None and option in inspect.signature(entry.factory).parameters


def get_codec(name: str, **options) -> Codec:
    """Build the codec registered under `name`, fed through the input conditions the name carries after '@'
    (`codec.conditions`); unknown names and conditions and missing packages are UserErrors."""
    if "@" in name:
        from codec.conditions import Conditioned, parse_chain

        base, _, chain = name.partition("@")
        return Conditioned(get_codec(base, **options), parse_chain(chain))
    _load_builtin()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UserError(f"unknown codec {name!r}; known codecs: {', '.join(_REGISTRY)}")
    params = inspect.signature(entry.factory).parameters
    accepted = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())  # such a factory checks its own options
    unknown = [] if takes_any else sorted(set(options) - set(accepted))
    if unknown:
        raise UserError(f"codec {name!r} has no option {', '.join(unknown)}; it takes: {', '.join(accepted) or 'none'}")
    ok, why = entry.available(**options)
    if not ok:
        raise UserError(f"codec {name!r} is not available on this machine: {why}")
    return entry.factory(**options)
