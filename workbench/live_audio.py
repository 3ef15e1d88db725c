"""Live coding: microphone -> input conditions -> codec stream -> output device, with what the codec heard one
toggle away.

One duplex PortAudio stream (one clock for input and output): its callback queues each input block for a worker
thread and plays from a buffer of (heard, coded) pairs. The worker puts the blocks through the input conditions (none:
the dry microphone is what the codec hears) and the codec stream, and pairs every decoded sample with the heard sample
it codes, so the heard signal leaves exactly as late as the coded one (time-aligned: switching is an A/B at the same
instant of speech) and the recordings are aligned too.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from codec.condition_streams import ConditionStream
from codec.streaming import CodecStream
from workbench.audio_io import sounddevice_module, audio_error

BEHIND_SECONDS = 0.5  # input waiting for the worker beyond this: the machine cannot keep up
# A codec stream gives its output in bursts (LFSC: a hop of frames, 186 ms, per step) whose compute time varies; the
# decoded audio gathered before output starts (at least the largest output of one push and two blocks) doubles after each underrun,
# up to this, so a session settles at the smallest buffer that rides over its own jitter instead of stuttering on.
MAX_JITTER_BUFFER_SECONDS = 1.0


@dataclass(frozen=True)
class LiveStats:
    """What a live session measured so far (seconds, counts)."""

    input_latency: float  # PortAudio's input buffer
    condition: float  # the input conditions' lookahead (the telephone band's)
    lookahead: float  # the codec stream's algorithmic latency
    compute_worst: float  # the slowest push
    compute_mean: float
    output_latency: float  # PortAudio's output buffer
    buffered: float  # decoded audio waiting in the output buffer plus input waiting for the worker
    measured: float  # the measured delay from microphone to output (device times, conditions, what is buffered)
    underruns: int
    overruns: int
    behind: float  # input waiting for the worker
    jitter_buffer: float  # decoded audio gathered before output (re)starts: grows after underruns

    @property
    def cannot_keep_up(self) -> bool:
        """True when the worker falls behind the microphone."""
        return self.behind > BEHIND_SECONDS


@dataclass(frozen=True)
class LiveTake:
    """A live session's recordings, aligned sample for sample and equally long."""

    dry: np.ndarray  # the microphone (delayed by the conditions' lookahead)
    heard: np.ndarray  # what the codec heard: the microphone under the input conditions
    coded: np.ndarray


class LiveSession:
    """Codes the microphone live through `conditions` (none by default) and `stream`; `coded` picks what is heard
    (True: the codec, False: what the codec heard, delayed to align)."""

    def __init__(self, stream: CodecStream, device: tuple[int | None, int | None] = (None, None),
                 blocksize: int = 512, prefill_blocks: int = 2, conditions: ConditionStream | None = None):
        self.stream, self.device, self.blocksize = stream, device, blocksize
        self.sample_rate = stream.sample_rate
        self.conditions = conditions or ConditionStream((), self.sample_rate)
        self.coded = True
        self._prefill = self._margin = prefill_blocks * blocksize  # decoded samples buffered before output (re)starts
        self._max_prefill = max(self._prefill, int(MAX_JITTER_BUFFER_SECONDS * self.sample_rate))
        self._inbox: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._out: list[np.ndarray] = []  # (2, n) blocks of (dry, coded) waiting to be played
        self._out_samples, self._playing = 0, False
        self._pending_heard = np.zeros(0, np.float32)  # conditioned input not decoded yet
        self._dry: list[np.ndarray] = []
        self._heard: list[np.ndarray] = []
        self._coded: list[np.ndarray] = []
        self._received = self._played = 0
        self.underruns = self.overruns = 0
        self._pushes, self._compute_total, self._compute_worst = 0, 0.0, 0.0  # seconds spent in push
        self.error = ""  # the first failure of the codec, for the user
        self._device_delay = 0.0  # DAC time minus ADC time of the last callback (PortAudio's measured figure)
        self._worker: threading.Thread | None = None
        self._audio = None

    def start(self) -> None:
        """Open the devices and start coding (a UserError says which device failed and what to do)."""
        sd = sounddevice_module()
        self._worker = threading.Thread(target=self._work, name="live-codec", daemon=True)
        self._worker.start()
        try:
            self._audio = sd.Stream(samplerate=self.sample_rate, blocksize=self.blocksize, channels=1,
                                    dtype="float32", device=self.device, callback=self.callback)
            self._audio.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._audio = None
            self._inbox.put(None)
            self._worker.join()
            raise audio_error(exc, "input" if "input" in str(exc).lower() else "output") from None

    def stop(self) -> LiveTake:
        """Close the devices and finish the stream; the recordings, aligned."""
        if self._audio is not None:
            self._audio.abort()
            self._audio.close()
            self._audio = None
        if self._worker is not None:
            self._inbox.put(None)
            self._worker.join()
            self._worker = None
        self._coded.append(self.stream.flush())
        dry, heard, coded = (np.concatenate([np.zeros(0, np.float32), *recorded])
                             for recorded in (self._dry, self._heard, self._coded))
        delayed = np.concatenate([np.zeros(self.conditions.delay, np.float32), dry])[: len(heard)]
        return LiveTake(delayed, heard, coded)

    def callback(self, indata, outdata, frames, time_info, status) -> None:
        """PortAudio's duplex callback: queue the input block, play the next block of the chosen signal."""
        if status.input_overflow:
            self.overruns += 1
        if status.output_underflow:
            self.underruns += 1
        self._inbox.put(np.array(indata[:, 0], dtype=np.float32))
        self._received += frames
        outdata[:, 0] = self._take(frames)
        if time_info is not None:
            self._device_delay = max(0.0, time_info.outputBufferDacTime - time_info.inputBufferAdcTime)

    def stats(self) -> LiveStats:
        """The latency breakdown and counters so far."""
        latency = self._audio.latency if self._audio is not None else (0.0, 0.0)
        behind = self._inbox.qsize() * self.blocksize / self.sample_rate
        buffered = (self._received - self._played) / self.sample_rate
        condition = self.conditions.delay / self.sample_rate
        return LiveStats(float(latency[0]), condition, self.stream.latency / self.sample_rate, self._compute_worst,
                         self._compute_total / max(self._pushes, 1), float(latency[1]), buffered,
                         self._device_delay + condition + buffered, self.underruns, self.overruns, behind,
                         self._prefill / self.sample_rate)

    def _take(self, frames: int) -> np.ndarray:
        out = np.zeros(frames, np.float32)
        with self._lock:
            if not self._playing and self._out_samples >= self._prefill:
                self._playing = True
            if not self._playing:
                return out
            if self._out_samples < frames:  # starved: play what there is, then wait for a larger prefill
                self.underruns += 1
                self._playing = False
                self._prefill = min(2 * self._prefill, self._max_prefill)
            row, filled = 1 if self.coded else 0, 0
            while filled < frames and self._out:
                block = self._out[0]
                n = min(frames - filled, block.shape[1])
                out[filled : filled + n] = block[row, :n]
                self._out[0] = block[:, n:]
                if not self._out[0].shape[1]:
                    self._out.pop(0)
                filled += n
            self._out_samples -= filled
            self._played += filled
        return out

    def _work(self) -> None:
        while (block := self._inbox.get()) is not None:
            started = time.perf_counter()
            heard = self.conditions.push(block)
            try:
                coded = self.stream.push(heard)
            except Exception as exc:  # noqa: BLE001 (the audio goes on; the controller shows the error once)
                self.error = self.error or f"the codec failed live: {exc}"
                coded = np.zeros(len(block), np.float32)
            spent = time.perf_counter() - started
            self._pushes, self._compute_total = self._pushes + 1, self._compute_total + spent
            self._compute_worst = max(self._compute_worst, spent)
            self._dry.append(block)
            self._heard.append(heard)
            self._coded.append(coded)
            self._pending_heard = np.concatenate([self._pending_heard, heard])
            pair = np.stack([self._pending_heard[: len(coded)], coded])
            self._pending_heard = self._pending_heard[len(coded):]
            with self._lock:
                # A push's output comes at once, and the next only with a later push: the buffer holds at least the
                # largest such burst (LFSC: a hop of frames) and its first margin, so it bridges the gap to the next.
                self._prefill = min(max(self._prefill, len(coded) + self._margin), self._max_prefill)
                self._out.append(pair)
                self._out_samples += len(coded)
            self._inbox.task_done()

    def wait_coded(self) -> None:
        """Block until every input block queued so far is coded (for a caller that feeds the callback itself)."""
        self._inbox.join()

