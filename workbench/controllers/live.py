"""Live mode: the microphone, under the chosen input condition, coded live to the output device, A/B against what
the codec heard, with the latency broken down and the session kept as aligned files that open in the compare view."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from codec.audio import save_audio
from codec.condition_streams import ConditionStream
from codec.errors import UserError
from codec.spec import CodecSpec
from workbench import audio_io
from workbench.clip_model import Clip
from workbench.controllers.clips import ClipController
from workbench.controllers.task_runner import METRICS
from workbench.controllers.playback import output_device
from workbench.controllers.prompts import Prompts
from workbench.live_audio import LiveSession, LiveStats, LiveTake
from workbench.roundtrip import built_codec, codec_device
from workbench.settings import Settings
from workbench.workers import Task


class LiveController(QObject):
    """Owns the live session: start and stop it, switch what is heard, report its figures every few ms."""

    stats_changed = Signal(object, str)  # LiveStats, and a warning for the user ('' when all is well)
    running_changed = Signal(bool)
    heard_changed = Signal(str)  # what is heard, in words

    def __init__(self, settings: Settings, clips: ClipController, prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.clips, self.prompts = settings, clips, prompts
        self.session: LiveSession | None = None
        self.codec_name = ""
        self.timer = QTimer(self, interval=250)
        self.timer.timeout.connect(self.report)

    @property
    def running(self) -> bool:
        """True while a session runs."""
        return self.session is not None

    def start(self, lookahead_frames: int | None = None) -> bool:
        """Code the microphone live through the chosen codec on the chosen device; whether it started (when not,
        the user is told why in one line). A model codec not loaded yet loads on a worker first (seconds, with the
        window live), and the session starts when it is ready."""
        if self.session is not None:
            return True
        try:
            spec, device = self._chosen()
            name = spec.base
            if device != "-" and not self.clips.codecs.cache.has(name, device):
                task = Task(built_codec, name, device, self.clips.codecs.cache)
                self.clips.tasks.start(METRICS, task, lambda _: self.start(lookahead_frames),
                                       f"Loading the {name} model for live mode")
                return False
            stream, conditions = self._streams(lookahead_frames)
            self.session = LiveSession(stream, (audio_io.device_index(self.settings.input_device, "input"),
                                                output_device(self.settings.output_device)), conditions=conditions)
            self.session.start()
        except UserError as exc:
            self.session = None
            self.prompts.show_error("Cannot go live", str(exc))
            return False
        self.timer.start()
        self.running_changed.emit(True)
        self.heard_changed.emit(self.heard())
        self.prompts.status(f"live through {self.codec_name}: L switches between it and {self._input()}")
        return True

    def toggle(self) -> None:
        """Switch between the codec's output and what the codec heard (aligned, so at the same instant of speech)."""
        if self.session is not None:
            self.session.coded = not self.session.coded
            self.heard_changed.emit(self.heard())

    def heard(self) -> str:
        """What the output device plays, in words."""
        if self.session is not None and self.session.coded:
            return f"the codec ({self.codec_name})"
        return self._input()

    def _input(self) -> str:
        """What the codec hears, in words."""
        conditions = self.session.conditions.conditions if self.session is not None else ()
        return f"what the codec hears ({self.session.conditions.description})" if conditions else "the dry microphone"

    def report(self) -> LiveStats | None:
        """Send the latency breakdown and counters, with a warning when the machine cannot keep up."""
        if self.session is None:
            return None
        stats = self.session.stats()
        warning = self.session.error
        if not warning and stats.cannot_keep_up:
            warning = (f"this machine cannot keep up with {self.codec_name} live ({stats.behind:.1f} s behind): "
                       "try lfsc-bf16, a GPU (device cuda) or a smaller lookahead")
        self.stats_changed.emit(stats, warning)
        return stats

    def finish(self, keep: bool) -> tuple[Path, Path] | None:
        """End the session; when `keep`, in a folder the user picks (the recordings folder when they cancel, so
        that a session asked to be kept is never lost)."""
        folder = (self.prompts.open_folder("Keep the live session in") or self.settings.recordings_dir / "live"
                  if keep and self.session is not None else None)
        return self.stop(folder)

    def stop(self, save_to: str | Path | None = None) -> tuple[Path, ...] | None:
        """End the session; with `save_to`, keep the dry audio, what the codec heard (under input conditions) and the
        coded audio there as aligned WAVs (never over an existing file) and open the dry and coded ones in the
        compare view; the paths written."""
        if self.session is None:
            return None
        self.report()
        self.timer.stop()
        session, self.session = self.session, None
        take = session.stop()
        self.running_changed.emit(False)
        if save_to is None or not len(take.dry):
            return None
        try:
            paths = save_session(Path(save_to), CodecSpec.parse(self.codec_name), take, session.sample_rate)
        except (UserError, OSError) as exc:
            self.prompts.show_error("The live session is not saved", str(exc))
            return None
        self.clips.show_clip(Clip(paths[0].stem, take.dry, session.sample_rate, path=paths[0]), take.coded)
        self.clips.model.rename_version(self.clips.model.compared.key, f"{self.codec_name} live")
        self.prompts.status(f"live session saved as {', '.join(map(str, paths))}", 8000)
        return paths

    def _chosen(self) -> tuple[CodecSpec, str]:
        """The chosen codec under the chosen input conditions, and the device it runs on ("-" for a codec without
        one); a UserError names what is wrong with a typed condition."""
        spec = CodecSpec.parse(self.clips.codecs.selected())
        return spec, codec_device(spec.base, self.clips.codecs.device())

    def _streams(self, lookahead_frames: int | None):
        """The codec's stream and the chosen input conditions' (a UserError names what is wrong with a typed one)."""
        spec, device = self._chosen()
        codec = self.clips.codecs.cache.get(spec.base, device)
        stream = codec.stream(lookahead_frames=lookahead_frames, sample_rate=self.settings.record_rate)
        self.codec_name = str(spec)
        return stream, ConditionStream(spec.conditions, self.settings.record_rate)



def save_session(folder: Path, codec: CodecSpec, take: LiveTake, sample_rate: int) -> tuple[Path, ...]:
    """Write a live session as aligned WAVs in `folder` under names no file there has: the dry microphone, what the
    codec heard when under input conditions (named `dry@<conditions>`), and the coded audio (named by the codec)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, n = f"live-{datetime.now():%Y%m%d-%H%M%S}", 1
    names = ["dry", *(["@".join(("dry", *codec.chain))] if codec.conditioned else []), str(codec)]
    signals = [take.dry, *([take.heard] if codec.conditioned else []), take.coded]
    safe = ["".join(c if c.isalnum() or c in "-_+.@" else "_" for c in name) for name in names]
    while True:
        suffix = f"-{n}" if n > 1 else ""
        paths = tuple(folder / f"{stem}{suffix}-{name}.wav" for name in safe)
        if not any(p.exists() for p in paths):
            break
        n += 1
    for path, samples in zip(paths, signals):
        save_audio(path, samples, sample_rate)
    return paths
