"""The current clip: the original, every decoded version of it, the two compared, and what each measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from codec.interface import RoundTrip


@dataclass
class RoundTripInfo:
    """How the decoded signal was made and what it cost."""

    codec: str
    device: str
    nominal_bitrate: float
    result: RoundTrip
    notices: tuple[str, ...] = ()
    load_seconds: float = 0.0  # loading the codec's model for this round trip (its first use), else 0

    def summary(self) -> list[tuple[str, str]]:
        """(label, value) rows for the metrics panel."""
        r = self.result
        nominal = f"{self.nominal_bitrate / 1000:.2f} kbps" if self.nominal_bitrate else "none (no bitstream)"
        loading = [("model loading", f"{self.load_seconds:.1f} s (first use)")] if self.load_seconds else []
        return loading + [
            ("codec", self.codec),
            ("device", self.device),
            ("encode", f"{r.encode_seconds * 1000:.1f} ms"),
            ("decode", f"{r.decode_seconds * 1000:.1f} ms"),
            ("real-time factor", f"{r.rtf:.3f}"),
            ("measured bitrate", f"{r.measured_bitrate / 1000:.2f} kbps ({r.payload_bytes} B)"),
            ("nominal bitrate", nominal),
        ]


@dataclass
class Latency:
    """Where the time goes in a microphone round trip, in seconds."""

    input: float
    encode: float
    decode: float
    output: float
    stop_to_sound: float  # wall time from pressing stop to the first decoded sample handed to the device

    def summary(self) -> list[tuple[str, str]]:
        """(label, value) rows for the metrics panel."""
        return [
            ("input latency", f"{self.input * 1000:.1f} ms"),
            ("encode", f"{self.encode * 1000:.1f} ms"),
            ("decode", f"{self.decode * 1000:.1f} ms"),
            ("output latency", f"{self.output * 1000:.1f} ms"),
            ("stop to sound", f"{self.stop_to_sound * 1000:.1f} ms"),
            ("of which other (model loading, queueing)",
             f"{max(self.stop_to_sound - self.encode - self.decode, 0) * 1000:.1f} ms"),
        ]


@dataclass
class Clip:
    """One piece of audio the user is looking at, with what is known about it."""

    name: str
    samples: np.ndarray
    sample_rate: int
    transcript: str = ""
    lang: str = ""
    path: Path | None = None  # None for a take not saved anywhere
    notices: tuple[str, ...] = field(default=())


@dataclass
class Version:
    """One decoded version of the current clip: how it was made, what the user calls it and what it measured."""

    key: str  # stable name of the signal for the player and the panes; the label may change
    label: str
    samples: np.ndarray
    info: RoundTripInfo | None = None
    metrics: dict[str, float | str] = field(default_factory=dict)  # a float, or the reason it is missing

    @property
    def heard(self) -> np.ndarray | None:
        """What the codec heard when it is not the clip (a round trip under input conditions), else None."""
        heard = self.info.result.heard if self.info is not None else None
        return heard if heard is not None and len(heard) == len(self.samples) else None


ORIGINAL = "original"
DIFFERENCE = "difference"
HEARD = ":heard"  # suffix of a version's key that names what its codec heard


def heard_key(key: str) -> str:
    """Key of what the codec of version `key` heard."""
    return key + HEARD


class ClipModel(QObject):
    """State of the compare view: the clip, every decoded version of it and which two are compared (A and B, with
    the difference B - A); widgets observe its signals, workers fill it in."""

    clip_changed = Signal()
    decoded_changed = Signal()  # a version was added, removed or renamed, or another pair is compared
    metrics_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.clip: Clip | None = None
        self.versions: list[Version] = []
        self.pair: tuple[str, str] = (ORIGINAL, "")  # keys of A and B; "" = nothing
        self.latency: Latency | None = None
        self._made = 0  # versions made for this clip, so a key is never reused

    def set_clip(self, clip: Clip) -> None:
        """Make `clip` current; the versions and metrics of the previous clip are dropped."""
        self.clip = clip
        self.versions, self.pair, self.latency, self._made = [], (ORIGINAL, ""), None, 0
        self.clip_changed.emit()
        self.metrics_changed.emit()

    def add_version(self, decoded: np.ndarray, info: RoundTripInfo | None) -> Version:
        """Keep a decoded version (same rate and length as the original) and compare it as B."""
        if self.clip is None:
            raise ValueError("set a clip before its decoded signal")
        if len(decoded) != len(self.clip.samples):
            raise ValueError(f"decoded length {len(decoded)} differs from the original {len(self.clip.samples)}")
        self._made += 1
        name = info.codec if info is not None else "decoded"
        taken = {v.label for v in self.versions}
        label, n = name, 1
        while label in taken:  # a second LFSC run is "lfsc (2)", so the two can be told apart
            n += 1
            label = f"{name} ({n})"
        version = Version(f"v{self._made}", label, np.asarray(decoded, dtype=np.float32), info)
        self.versions.append(version)
        self.pair = (self.pair[0], version.key)
        self.decoded_changed.emit()
        self.metrics_changed.emit()
        return version

    def rename_version(self, key: str, label: str) -> None:
        """Give a version the user's name for it (blank keeps the old one)."""
        version = self.version(key)
        if version is not None and label.strip() and label.strip() != version.label:
            version.label = label.strip()
            self.decoded_changed.emit()
            self.metrics_changed.emit()

    def remove_version(self, key: str) -> None:
        """Forget a version; a compared one is replaced by the original (A) or the newest version left (B)."""
        self.versions = [v for v in self.versions if v.key != key]
        a, b, gone = *self.pair, (key, heard_key(key))
        newest = self.versions[-1].key if self.versions else ""
        self.pair = (ORIGINAL if a in gone else a, newest if b in gone else b)
        self.decoded_changed.emit()
        self.metrics_changed.emit()

    def set_pair(self, a: str, b: str) -> None:
        """Compare signal `a` with signal `b` (the original or version keys)."""
        if (a, b) != self.pair and all(k in self.signals() for k in (a, b)):
            self.pair = (a, b)
            self.decoded_changed.emit()
            self.metrics_changed.emit()

    def set_metrics(self, key: str, values: dict[str, float | str]) -> None:
        """Merge metric values (or reasons they are missing) of version `key` into the panel."""
        version = self.version(key)
        if version is not None:
            version.metrics.update(values)
            self.metrics_changed.emit()

    def set_latency(self, latency: Latency) -> None:
        """Show the latency breakdown of a microphone round trip."""
        self.latency = latency
        self.metrics_changed.emit()

    def version(self, key: str) -> Version | None:
        """The version called `key`, or None."""
        return next((v for v in self.versions if v.key == key), None)

    def label(self, key: str) -> str:
        """What the user calls signal `key`."""
        return next((label for k, label, _ in self.entries() if k == key), key)

    def entries(self) -> list[tuple[str, str, str]]:
        """(key, label, description) of every signal that can be played or compared: the original, and each
        version followed by what its codec heard when that was not the clip."""
        if self.clip is None:
            return []
        entries = [(ORIGINAL, ORIGINAL, "the clip as opened")]
        for v in self.versions:
            codec = v.info.codec if v.info is not None else "decoded"
            entries.append((v.key, v.label, codec))
            if v.heard is not None:
                entries.append((heard_key(v.key), f"heard by {v.label}",
                                f"what {codec} heard and coded: the clip under its input conditions"))
        return entries

    def signal(self, key: str) -> np.ndarray | None:
        """Samples of the original or of a version, by key (None when there is none)."""
        return self.signals().get(key)

    @property
    def compared(self) -> Version | None:
        """The version compared as B (None when B is the original or nothing)."""
        return self.version(self.pair[1])

    @property
    def decoded(self) -> np.ndarray | None:
        """The samples of the version compared as B."""
        return self.compared.samples if self.compared is not None else None

    @property
    def roundtrip(self) -> RoundTripInfo | None:
        """How the version compared as B was made."""
        return self.compared.info if self.compared is not None else None

    @property
    def metrics(self) -> dict[str, float | str]:
        """The metrics of the version compared as B."""
        return self.compared.metrics if self.compared is not None else {}

    @property
    def difference(self) -> np.ndarray | None:
        """B - A (with A the original: what the codec changed), or None while B is nothing. Made on demand only:
        the player and the panes compute it a block at a time."""
        a, b = self.pair
        if self.clip is None or not b:
            return None
        return self.signal(b) - self.signal(a)

    def signals(self) -> dict[str, np.ndarray]:
        """The signals that can be played or plotted, by key: the original, every version and what codecs heard."""
        if self.clip is None:
            return {}
        heard = {heard_key(v.key): v.heard for v in self.versions if v.heard is not None}
        return {ORIGINAL: self.clip.samples} | {v.key: v.samples for v in self.versions} | heard
