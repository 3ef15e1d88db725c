"""Recording takes, and the mic round trip: record, encode, decode and play back with the latency broken down."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject

from codec.errors import UserError
from workbench.clip_model import ClipModel, Latency, RoundTripInfo
from workbench.controllers.clips import ClipController
from workbench.controllers.playback import PlaybackController
from workbench.controllers.prompts import Prompts
from workbench.controllers.task_runner import METRICS
from workbench.settings import Settings
from workbench.views.record_dialog import RecordDialog
from workbench.workers import Task


class RecordingController(QObject):
    """Runs the record dialog; the take becomes the current clip (saved at once under the recordings folder)."""

    def __init__(self, settings: Settings, model: ClipModel, clips: ClipController, playback: PlaybackController,
                 prompts: Prompts) -> None:
        super().__init__()
        self.settings, self.model, self.clips, self.playback, self.prompts = settings, model, clips, playback, prompts

    def record(self, then_roundtrip: bool = False) -> bool:
        """Record a take with the record dialog; with `then_roundtrip`, round-trip it and play the decoded take."""
        dialog = RecordDialog(self.settings.input_device, self.settings.record_rate,
                              "Mic round trip: record, then stop" if then_roundtrip else "Record", self.prompts.widget)
        try:
            if then_roundtrip:
                if not dialog.start():
                    return False
                self.preload()  # while the user speaks, so that stop-to-sound is coding, not model loading
            if not dialog.exec() or dialog.take is None:
                return False
            self.settings.input_device = dialog.device_name
            self.settings.record_rate = dialog.sample_rate
            self.clips.use_take(dialog.take, dialog.sample_rate)
            if then_roundtrip:
                input_latency, stopped_at = dialog.recorder.input_latency, dialog.stopped_at
                self.clips.start_roundtrip(then=lambda info: self._play_back(info, input_latency, stopped_at))
            return True
        finally:
            dialog.deleteLater()  # with its recorder's buffers, once control is back in the event loop

    def preload(self) -> Task | None:
        """Build the selected codec on a worker (a model codec loads its checkpoint once, which takes seconds)."""
        try:
            name = self.clips.codecs.selected()
        except UserError:
            return None  # the round trip says what is wrong with the condition
        task = Task(preload, name, self.clips.codecs.device(), self.clips.codecs.cache)
        return self.clips.tasks.start(METRICS, task, lambda _: None, f"Loading {name}")

    def mic_roundtrip(self) -> None:
        """Record, encode, decode and play back the decoded take in one action, with the latency broken down."""
        self.record(then_roundtrip=True)

    def _play_back(self, info: RoundTripInfo, input_latency: float, stopped_at: float) -> None:
        self.playback.play_decoded()
        r = info.result
        self.model.set_latency(Latency(input_latency, r.encode_seconds, r.decode_seconds,
                                       self.playback.player.output_latency,
                                       time.perf_counter() - (stopped_at or time.perf_counter())))


def preload(name: str, device_choice: str, cache, task=None) -> bool:
    """Build codec `name` into `cache`; whether it could be built (when not, the round trip says why)."""
    from workbench.roundtrip import codec_device

    try:  # the device as the round trip resolves it, so that it finds this build in the cache
        cache.get(name, codec_device(name, device_choice))
    except Exception:  # noqa: BLE001 (any failure is the round trip's to report, once, in its own words)
        return False
    return True
