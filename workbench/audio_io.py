"""Playback and recording through PortAudio (sounddevice), with errors a user can act on.

Playback uses ONE output stream whose callback reads from whichever signal is selected, so switching between
original, decoded and difference happens at the same sample position with no gap. sounddevice is imported
lazily: importing it loads PortAudio, which scans the audio devices.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from codec.errors import UserError


def sounddevice_module():
    """The sounddevice module, imported on first use; a UserError when the PortAudio library is missing."""
    try:
        import sounddevice
    except OSError as exc:  # raised when the PortAudio shared library is missing
        raise UserError(
            f"audio is unavailable: the PortAudio library is missing ({exc}); install libportaudio2"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class Device:
    """An audio device as PortAudio lists it."""

    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float


def list_devices(kind: str) -> list[Device]:
    """The devices that can record (`kind="input"`) or play (`kind="output"`)."""
    sd = sounddevice_module()
    devices = [
        Device(i, d["name"], d["max_input_channels"], d["max_output_channels"], d["default_samplerate"])
        for i, d in enumerate(sd.query_devices())
    ]
    return [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]


def device_index(name: str | None, kind: str) -> int | None:
    """The index of the device called `name`, or None (the system default) when unset or no longer present."""
    if not name:
        return None
    return next((d.index for d in list_devices(kind) if d.name == name), None)


WHERE_TO_PICK = {"output": "in the Audio menu", "input": "in the record dialog"}


def audio_error(exc: Exception, kind: str) -> UserError:
    """Turn a PortAudio failure into a message that says what happened and what to do."""
    text = str(exc)
    where = WHERE_TO_PICK[kind]
    if not list_devices(kind):
        return UserError(f"no audio {kind} device was found: connect one, then pick it {where}")
    if "busy" in text.lower() or "unavailable" in text.lower() or "-9985" in text:
        return UserError(
            f"the audio {kind} device is busy ({text}): close the other program using it or pick another device {where}"
        )
    return UserError(f"the audio {kind} device could not be opened ({text}): pick another one {where}")


class Player:
    """Plays one of several equally long signals; `select` switches signal at the current position."""

    def __init__(self, device: int | None = None, blocksize: int = 512):
        self.device = device
        self.blocksize = blocksize
        self._lock = threading.Lock()
        self._sources: dict[str, np.ndarray] = {}
        self._rate = 0
        self._selected = ""
        self._position = 0  # next sample handed to PortAudio
        self._loop: tuple[int, int] | None = None
        self._played: dict[str, int] = {}  # samples of each signal handed to PortAudio since the signals were loaded
        self._stream = None

    @property
    def sample_rate(self) -> int:
        """Rate of the loaded signals (0 when none)."""
        return self._rate

    @property
    def duration(self) -> float:
        """Length of the loaded signals in seconds (0 when none)."""
        return self._length() / self._rate if self._rate else 0.0

    @property
    def selected(self) -> str:
        """Name of the signal being played."""
        return self._selected

    @property
    def position(self) -> float:
        """Play position in seconds."""
        return self._position / self._rate if self._rate else 0.0

    @property
    def playing(self) -> bool:
        """True while the output stream runs."""
        return self._stream is not None and self._stream.active

    @property
    def output_latency(self) -> float:
        """PortAudio's estimate of the output latency in seconds (0 before the first play)."""
        return float(self._stream.latency) if self._stream is not None else 0.0

    def set_sources(self, sources: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]], sample_rate: int) -> None:
        """Load the signals (a pair (x, y) plays x - y, made a block at a time rather than as a whole copy); the
        position, selection and loop are kept (within the new length) when the rate is unchanged."""
        if sample_rate != self._rate:
            self.close()
        with self._lock:
            if sample_rate != self._rate:
                self._loop = None  # a loop is held in samples: at another rate it would be another stretch
            self._sources = {k: tuple(np.ascontiguousarray(x, dtype=np.float32) for x in v) if isinstance(v, tuple)
                             else np.ascontiguousarray(v, dtype=np.float32) for k, v in sources.items()}
            self._played = {}
            self._rate = sample_rate
            if self._selected not in self._sources:
                self._selected = next(iter(self._sources), "")
            self._position = min(self._position, self._length())
            if self._loop is not None:
                a, b = self._loop[0], min(self._loop[1], self._length())
                self._loop = (a, b) if b > a else None

    def played_seconds(self, name: str) -> float:
        """How much of signal `name` has been played since the signals were loaded, in seconds."""
        with self._lock:
            return self._played.get(name, 0) / self._rate if self._rate else 0.0

    def select(self, name: str) -> None:
        """Switch to another signal at the same sample position (A/B)."""
        if name not in self._sources:
            raise UserError(f"there is no {name} signal yet: run a round trip first")
        with self._lock:
            self._selected = name

    def seek(self, seconds: float) -> None:
        """Move the play position, clamped to the signal."""
        with self._lock:
            self._position = int(np.clip(round(seconds * self._rate), 0, self._length()))

    def set_loop(self, start: float | None, end: float | None = None) -> None:
        """Loop between two times in seconds; `set_loop(None)` stops looping."""
        with self._lock:
            if start is None:
                self._loop = None
                return
            a, b = sorted((int(start * self._rate), int(end * self._rate)))
            a, b = max(a, 0), min(b, self._length())
            self._loop = (a, b) if b > a else None
            if self._loop and not a <= self._position < b:
                self._position = a

    def render(self, frames: int) -> tuple[np.ndarray, bool]:
        """The next `frames` samples of the selected signal and whether its end was reached (no loop)."""
        out = np.zeros(frames, dtype=np.float32)
        with self._lock:
            source = self._sources.get(self._selected)
            if source is None:
                return out, True
            filled, ended = 0, False
            while filled < frames:
                start, end = self._loop or (0, _length(source))
                if self._position >= end:
                    if self._loop is None:
                        ended = True
                        break
                    self._position = start
                take = min(frames - filled, end - self._position, _length(source) - self._position)
                if take <= 0:  # past this signal's end (the signals should be equally long; never crash the callback)
                    ended = True
                    break
                out[filled : filled + take] = _block(source, self._position, self._position + take)
                filled += take
                self._position += take
            self._played[self._selected] = self._played.get(self._selected, 0) + filled
        return out, ended

    def play(self) -> None:
        """Start or resume playback (from the start when the end was reached)."""
        if not self._sources:
            raise UserError("nothing to play: open or record a clip first")
        if self.playing:
            return
        with self._lock:
            if self._loop is None and self._position >= self._length():
                self._position = 0
        sd = sounddevice_module()
        if self._stream is None:
            try:
                self._stream = sd.OutputStream(
                    samplerate=self._rate,
                    channels=1,
                    dtype="float32",
                    blocksize=self.blocksize,
                    device=self.device,
                    callback=self._callback,
                )
            except (sd.PortAudioError, ValueError) as exc:
                raise audio_error(exc, "output") from None
        try:
            self._stream.stop()  # a stream ended by CallbackStop must be stopped before it can start again
            self._stream.start()
        except sd.PortAudioError as exc:
            raise audio_error(exc, "output") from None

    def pause(self) -> None:
        """Stop playback at once, keeping the position."""
        if self._stream is not None:
            self._stream.abort()

    def toggle(self) -> None:
        """Play when paused, pause when playing."""
        self.pause() if self.playing else self.play()

    def close(self) -> None:
        """Release the output device."""
        if self._stream is not None:
            self._stream.abort()
            self._stream.close()
            self._stream = None

    def _length(self) -> int:
        return min((_length(s) for s in self._sources.values()), default=0)

    def _callback(self, outdata, frames, time_info, status) -> None:
        block, ended = self.render(frames)
        outdata[:, 0] = block
        if ended:
            raise sounddevice_module().CallbackStop


def _length(source: np.ndarray | tuple[np.ndarray, np.ndarray]) -> int:
    return min(len(x) for x in source) if isinstance(source, tuple) else len(source)


def _block(source: np.ndarray | tuple[np.ndarray, np.ndarray], start: int, stop: int) -> np.ndarray:
    if isinstance(source, tuple):
        return source[0][start:stop] - source[1][start:stop]
    return source[start:stop]


class Recorder:
    """Records mono float32 from an input device, keeping a live level for the meter."""

    def __init__(self, device: int | None = None, sample_rate: int = 16000, blocksize: int = 1024):
        self.device = device
        self.sample_rate = sample_rate
        self.blocksize = blocksize  # one meter reading per block
        self._chunks: list[np.ndarray] = []
        self._frames = 0
        self._rms = 0.0
        self._peak = 0.0
        self._latency = 0.0
        self._stream = None

    @property
    def seconds(self) -> float:
        """Seconds recorded so far."""
        return self._frames / self.sample_rate

    @property
    def level_db(self) -> tuple[float, float]:
        """RMS and peak of the last block in dBFS (-120 for silence)."""
        return tuple(20.0 * np.log10(max(v, 1e-6)) for v in (self._rms, self._peak))

    @property
    def input_latency(self) -> float:
        """PortAudio's estimate of the input latency in seconds."""
        return self._latency

    @property
    def recording(self) -> bool:
        """True while the input stream runs."""
        return self._stream is not None and self._stream.active

    def start(self) -> None:
        """Open the input device and start recording (a previous take is discarded)."""
        sd = sounddevice_module()
        self._chunks, self._frames = [], 0
        try:
            self._stream = sd.InputStream(
                samplerate=self.sample_rate,
                channels=1,
                dtype="float32",
                blocksize=self.blocksize,
                device=self.device,
                callback=self._callback,
            )
            self._stream.start()
            self._latency = float(self._stream.latency)
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise audio_error(exc, "input") from None

    def stop(self) -> np.ndarray:
        """Stop and return the take as mono float32."""
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._chunks)

    def _callback(self, indata, frames, time_info, status) -> None:
        block = indata[:, 0].copy()
        self._chunks.append(block)
        self._frames += frames
        self._rms = float(np.sqrt(np.mean(block**2))) if frames else 0.0
        self._peak = float(np.abs(block).max(initial=0.0))
