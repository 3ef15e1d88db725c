"""The current clip: original, decoded and difference signals, where they came from, and what was measured."""

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

    def summary(self) -> list[tuple[str, str]]:
        """(label, value) rows for the metrics panel."""
        r = self.result
        nominal = f"{self.nominal_bitrate / 1000:.2f} kbps" if self.nominal_bitrate else "none (no bitstream)"
        return [
            ("codec", self.codec),
            ("device", self.device),
            ("encode", f"{r.encode_seconds * 1000:.1f} ms"),
            ("decode", f"{r.decode_seconds * 1000:.1f} ms"),
            ("real-time factor", f"{r.rtf:.3f}"),
            ("measured bitrate", f"{r.measured_bitrate / 1000:.2f} kbps ({r.payload_bytes} bytes)"),
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


class ClipModel(QObject):
    """State of the compare view; widgets observe its signals, workers fill it in."""

    clip_changed = Signal()
    decoded_changed = Signal()
    metrics_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.clip: Clip | None = None
        self.decoded: np.ndarray | None = None
        self.roundtrip: RoundTripInfo | None = None
        self.latency: Latency | None = None
        self.metrics: dict[str, float | str] = {}  # a float, or the reason the metric is missing

    def set_clip(self, clip: Clip) -> None:
        """Make `clip` current; the decoded signal and metrics of the previous clip are dropped."""
        self.clip = clip
        self.decoded = None
        self.roundtrip = None
        self.latency = None
        self.metrics = {}
        self.clip_changed.emit()
        self.metrics_changed.emit()

    def set_decoded(self, decoded: np.ndarray, info: RoundTripInfo | None) -> None:
        """Attach the decoded signal (same rate and length as the original) and how it was made."""
        if self.clip is None:
            raise ValueError("set a clip before its decoded signal")
        if len(decoded) != len(self.clip.samples):
            raise ValueError(f"decoded length {len(decoded)} differs from the original {len(self.clip.samples)}")
        self.decoded = np.asarray(decoded, dtype=np.float32)
        self.roundtrip = info
        self.metrics = {}
        self.decoded_changed.emit()
        self.metrics_changed.emit()

    def set_metrics(self, values: dict[str, float | str]) -> None:
        """Merge metric values (or reasons they are missing) into the panel."""
        self.metrics.update(values)
        self.metrics_changed.emit()

    def set_latency(self, latency: Latency) -> None:
        """Show the latency breakdown of a microphone round trip."""
        self.latency = latency
        self.metrics_changed.emit()

    @property
    def difference(self) -> np.ndarray | None:
        """Decoded minus original (what the codec changed), or None before a round trip."""
        if self.clip is None or self.decoded is None:
            return None
        return self.decoded - self.clip.samples

    def signals(self) -> dict[str, np.ndarray]:
        """The signals that can be played or plotted, by name."""
        if self.clip is None:
            return {}
        out = {"original": self.clip.samples}
        if self.decoded is not None:
            out["decoded"] = self.decoded
            out["difference"] = self.difference
        return out
