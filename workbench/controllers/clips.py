"""The current clip: the library, opening files and takes, saving signals, the round trip and its metrics."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PySide6.QtCore import QObject

from codec.audio import load_audio, open_audio, save_audio
from codec.blocks import join_blocks
from codec.errors import UserError
from workbench import clip_metrics, roundtrip
from workbench.clip_model import ORIGINAL, Clip, ClipModel, RoundTripInfo, Version
from workbench.controllers.codecs import CodecController
from workbench.controllers.prompts import Prompts
from workbench.controllers.task_runner import METRICS, OPENING, ROUND_TRIP, TaskRunner
from workbench.settings import Settings
from workbench.views.library_view import LibraryView
from workbench.workers import Task

AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff);;All files (*)"


class ClipController(QObject):
    """Opens clips into the model, round-trips them through the chosen codec and measures the result."""

    def __init__(self, settings: Settings, model: ClipModel, library: LibraryView, codecs: CodecController,
                 tasks: TaskRunner, prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.model, self.library = settings, model, library
        self.codecs, self.tasks, self.prompts = codecs, tasks, prompts
        library.utterance_activated.connect(self.open_utterance)
        library.file_activated.connect(self.open_file)

    # ---- opening ------------------------------------------------------------------------------------------
    def load_bundled(self) -> None:
        """List the bundled speech and open its first clip."""
        from workbench.library import library_rows

        try:
            rows = library_rows()
        except (UserError, ImportError) as exc:
            self.library.show_status(f"bundled speech unavailable: {exc}")
            return
        self.library.set_rows(rows)
        self.library.set_recent(self.settings.recent_files)
        if rows and self.model.clip is None:
            self.open_utterance(rows[0]["utterance"])

    def open_dialog(self) -> None:
        """Ask for an audio file and open it."""
        start = str(Path(self.settings.recent_files[0]).parent) if self.settings.recent_files else ""
        path = self.prompts.open_file("Open audio", start, AUDIO_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> Task | None:
        """Open an audio file as the current clip (its transcript from a sidecar .txt when present): it is read in
        the task runner, with progress, and shown once read; the clip open until then stays open meanwhile."""

        def opened(clip: Clip) -> None:
            self.show_clip(clip)
            self._remember(path)

        return self.tasks.start(OPENING, Task(read_clip, path), opened, f"Opening {Path(path).name}")

    def open_utterance(self, utterance) -> bool:
        """Open a clip of the bundled set (or of a report) with its transcript and language."""
        self.tasks.cancel(OPENING)  # a file still being read must not replace this clip when it lands
        try:
            audio = load_audio(utterance.audio_path)
        except UserError as exc:
            self.prompts.show_error("Cannot open the clip", str(exc))
            return False
        self.show_clip(Clip(utterance.id, audio.samples, audio.sample_rate, utterance.text, utterance.lang,
                            Path(utterance.audio_path), audio.notices))
        return True

    def show_clip(self, clip: Clip, decoded: np.ndarray | None = None, info: RoundTripInfo | None = None) -> None:
        """Make `clip` current, with a decoded signal already made (then measured) when given; the library
        highlights it when it is one of its clips, and nothing otherwise."""
        self.tasks.cancel(ROUND_TRIP, METRICS)  # work on the previous clip is no longer wanted
        self.model.set_clip(clip)
        self.library.select_id(clip.name)
        for notice in clip.notices:
            self.prompts.status(notice, 5000)
        if decoded is not None:
            self.compute_fast_metrics(self.model.add_version(decoded, info))

    def use_take(self, samples: np.ndarray, sample_rate: int) -> Path | None:
        """Make a recorded take the current clip; it is written to disk first so nothing can lose it. Where it
        cannot be written, it stays open as an unsaved clip (File > Save clip as...) and None is returned."""
        self.tasks.cancel(OPENING)  # a file still being read must not replace the take when it lands
        samples = np.asarray(samples, dtype=np.float32)
        path = new_take_path(self.settings.recordings_dir)
        try:
            save_audio(path, samples, sample_rate)
        except (UserError, OSError) as exc:
            self.show_clip(Clip(path.stem, samples, sample_rate))
            self.prompts.show_error("The take is not saved", f"{path} could not be written ({exc}). The take is open: "
                                    "save it with File > Save clip as..., or choose another recordings folder.")
            return None
        self.show_clip(Clip(path.stem, samples, sample_rate, "", "", path))
        self._remember(str(path))
        self.prompts.status(f"recording saved as {path}", 8000)
        return path

    def save_signal(self, which: str, path: str | None = None) -> Path | None:
        """Save the clip ('original') or the signal compared as B ('decoded') as an audio file at the clip's rate."""
        key = ORIGINAL if which == "original" else self.model.pair[1]  # B: a version, or what a codec heard
        signal = self.model.signal(key) if key else None
        if signal is None:
            self.prompts.show_error("Nothing to save",
                                    "Open a clip first." if which == "original" else "Run a round trip first.")
            return None
        if path is None:
            clip, label = self.model.clip, self.model.label(key) if which != "original" else ""
            name = Path(clip.name).stem + (f"-{label}" if label else "") + ".wav"
            path = self.prompts.save_file(f"Save {which} audio", name, "Audio (*.wav *.flac *.ogg)")
            if not path:
                return None
        try:
            save_audio(path, signal, self.model.clip.sample_rate)
        except (UserError, OSError) as exc:
            self.prompts.show_error("Cannot save the audio", str(exc))
            return None
        self.prompts.status(f"saved {path}", 5000)
        return Path(path)

    def _remember(self, path: str) -> None:
        self.settings.add_recent(path)
        self.library.set_recent(self.settings.recent_files)

    # ---- round trip and metrics ---------------------------------------------------------------------------
    def start_roundtrip(self, codec: str | None = None,
                        then: Callable[[RoundTripInfo], None] | None = None) -> Task | None:
        """Round-trip the current clip through `codec` (the selected one by default) on a worker thread; `then`
        gets the result once it is shown, before its metrics start."""
        clip = self.model.clip
        if clip is None:
            self.prompts.show_error("Nothing to round-trip", "Open, drop or record a clip first.")
            return None
        try:
            name = codec or self.codecs.selected()
        except UserError as exc:
            self.prompts.show_error("Unknown input condition", str(exc))
            return None
        task = Task(roundtrip.run_roundtrip, name, clip.samples, clip.sample_rate, self.codecs.device(),
                    self.codecs.cache)

        def finished(info: RoundTripInfo) -> None:
            if self.model.clip is not clip:
                return  # the user moved on to another clip meanwhile
            version = self.model.add_version(info.result.audio, info)
            if info.load_seconds:
                self.prompts.status(f"{name}: model loaded in {info.load_seconds:.1f} s (first use)", 10000)
            for notice in info.notices:
                self.prompts.show_error("Round trip ran on the CPU", notice)
            if then is not None:
                then(info)
            self.compute_fast_metrics(version)

        return self.tasks.start(ROUND_TRIP, task, finished, f"Round trip through {name}")

    def remove_version(self, key: str) -> None:
        """Drop a decoded version once the user confirms (its audio is not on disk unless saved)."""
        version = self.model.version(key)
        if version is not None and self.prompts.confirm(
                "Remove version", f"Remove {version.label}? Its audio and metrics are dropped; save it first with "
                "File > Save decoded as... (with it as B) to keep it."):
            self.model.remove_version(key)

    def compute_fast_metrics(self, version: Version | None = None) -> Task | None:
        """PESQ, STOI, SI-SDR, mel and STFT distance and DistillMOS of a version (B by default), on a worker
        thread."""
        clip, version = self.model.clip, version or self.model.compared
        if clip is None or version is None:
            return None
        heard = version.info.result.heard if version.info is not None else None
        task = Task(clip_metrics.fast_metrics, clip.samples, version.samples, clip.sample_rate, heard=heard)
        return self._run_metrics(task, "Metrics", version)

    def compute_cer(self) -> Task | None:
        """CER of the original and of version B through the bundled ASR (slow: loads Whisper on first use)."""
        clip, version = self.model.clip, self.model.compared
        if clip is None or version is None:
            return None
        task = Task(clip_metrics.asr_errors, clip.samples, version.samples, clip.sample_rate, clip.transcript,
                    clip.lang)
        return self._run_metrics(task, "CER", version)

    def compute_speaker_similarity(self) -> Task | None:
        """Speaker similarity of version B to the original (slow: loads the speaker model on first use)."""
        clip, version = self.model.clip, self.model.compared
        if clip is None or version is None:
            return None
        task = Task(clip_metrics.speaker_similarity, clip.samples, version.samples, clip.sample_rate)
        return self._run_metrics(task, "Speaker similarity", version)

    def _run_metrics(self, task: Task, busy_text: str, version: Version) -> Task:
        clip = self.model.clip

        def ready(values: dict) -> None:
            if self.model.clip is clip and self.model.version(version.key) is version:  # not of a removed one
                self.model.set_metrics(version.key, values)

        return self.tasks.start(METRICS, task, ready, f"{busy_text} of {version.label}")


def read_clip(path: str, task=None) -> Clip:
    """The audio file at `path` as a clip, read block by block (reporting how much is read), with its transcript
    from a sidecar .txt when present; a UserError says what is wrong with the file."""
    try:
        source = open_audio(path)
        samples = join_blocks(_reported(source.blocks(), source.num_samples, Path(path).name, task),
                              source.num_samples)
    except UserError as exc:
        raise UserError(f"{exc}. Pick a WAV, FLAC or OGG file with speech in it.") from None
    sidecar = Path(path).with_suffix(".txt")
    notices, text = source.notices, ""
    try:
        text = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else ""
    except (UnicodeDecodeError, OSError) as exc:
        notices += (f"transcript {sidecar.name} not read ({exc.__class__.__name__}): save it as UTF-8 text",)
    return Clip(Path(path).name, samples, source.sample_rate, text, "", Path(path), notices)


def _reported(blocks, total: int, name: str, task) -> Iterator[np.ndarray]:
    """The blocks, reporting to `task` the share read so far (and stopping there once it is cancelled)."""
    done = 0
    for block in blocks:
        done += len(block)
        if task is not None:
            task.report(round(1000 * done / max(total, 1)), 1000, f"reading {name}")
        yield block


def new_take_path(folder: Path) -> Path:
    """A file name for a take that no earlier take has (two takes can end within one second)."""
    stem = f"take-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}.wav", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.wav"
    return path
