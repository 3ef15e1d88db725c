"""The app's Live mode for a minute on this CPU: does it keep up? The app's own `LiveSession` (callback, worker
thread, jitter buffer) codes bundled speech as the microphone through a full-size LFSC stream, its duplex callback
driven by a clock thread on a sound card's schedule (a block every blocksize/rate seconds, on absolute deadlines;
ALSA's null and file devices run unpaced, so they cannot stand in for a real-time card).

    .venv/bin/python benchmarks/live_session_bench.py [--seconds 60] [--precision bf16] [--lookahead 19]
        [--hop 8] [--threads 2] [--rate 48000] [--blocksize 1024] [--screenshot docs/screenshot-live.png]

Printed: underruns and overruns (late callbacks), how far the worker fell behind at worst, compute per push (mean,
worst), the jitter buffer the session settled at and the measured microphone-to-output delay. Speed does not depend
on the weights (a seeded random full-size LFSC is written when the default checkpoint is missing).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lfsc_bench import DEFAULT_CHECKPOINT, ensure_checkpoint  # noqa: E402

FINE = SimpleNamespace(input_overflow=False, output_underflow=False)


class PacedDuplex:
    """Stands for PortAudio's duplex stream: a thread calls the callback one block per block period, on absolute
    deadlines, feeding the microphone from `source`; a call that starts a whole period late counts as an overrun."""

    latency = (0.0, 0.0)
    source = np.zeros(0, np.float32)
    opened: list["PacedDuplex"] = []

    def __init__(self, samplerate, blocksize, callback, **_):
        self.rate, self.block, self.callback = samplerate, blocksize, callback
        self.late = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-duplex", daemon=True)
        PacedDuplex.opened.append(self)

    @property
    def running(self) -> bool:
        """Whether the clock still feeds the callback (it stops at the end of `source`)."""
        return self._thread.is_alive()

    def start(self):
        self._thread.start()

    def abort(self):
        self._stop.set()
        self._thread.join()

    def close(self):
        pass

    def _run(self):
        period, start, i = self.block / self.rate, time.perf_counter(), 0
        while not self._stop.is_set() and (i + 1) * self.block <= len(self.source):
            wait = start + i * period - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif -wait > period:
                self.late += 1
            out = np.zeros((self.block, 1), np.float32)
            status = SimpleNamespace(input_overflow=-wait > period, output_underflow=False)
            self.callback(self.source[i * self.block:(i + 1) * self.block, None], out, self.block, None, status)
            i += 1


def main() -> None:
    """Run one live session on the paced clock and print its figures."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--lookahead", type=int, default=19, help="frames (19 and more: exact for LFSC)")
    parser.add_argument("--hop", type=int, help="frames coded per step (default: the codec's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--blocksize", type=int, default=1024)
    parser.add_argument("--screenshot", type=Path, help="also save the app's Live panel showing the session as PNG")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from codec.lfsc_codec import LFSCCodec
    from eval.manifest import load_manifest
    from workbench import live_audio

    codec = LFSCCodec(ensure_checkpoint(args.checkpoint), device="cpu", precision=args.precision)
    clips = [load_audio(u.audio_path, args.rate).samples for u in load_manifest(default_manifest())]
    PacedDuplex.source = np.resize(np.concatenate(clips), int(args.seconds * args.rate)).astype(np.float32)
    def stream():
        return codec.stream(lookahead_frames=args.lookahead, sample_rate=args.rate, hop_frames=args.hop)

    warm = stream()  # the first steps of a stream allocate and tune its kernels: not what a minute of speech costs
    warm.push(PacedDuplex.source[: 3 * args.rate])
    warm.flush()
    live_audio.sounddevice_module = lambda: SimpleNamespace(Stream=PacedDuplex, PortAudioError=RuntimeError)
    session = live_audio.LiveSession(stream(), blocksize=args.blocksize)
    session.start()
    worst_behind = 0.0
    while PacedDuplex.opened[-1].running:
        worst_behind = max(worst_behind, session.stats().behind)
        time.sleep(0.1)
    stats = session.stats()
    if args.screenshot:
        live_panel(stats, f"the codec ({codec.name})", args.lookahead, args.screenshot)
    session.stop()
    print(f"live LFSC {args.precision}, lookahead {args.lookahead}, hop {args.hop or 'default'}, {args.threads} "
          f"threads, {args.seconds:.0f} s at {args.rate} Hz in blocks of {args.blocksize}")
    print(f"underruns {stats.underruns}, overruns {stats.overruns}, worst behind {worst_behind * 1000:.0f} ms")
    print(f"compute per push: mean {stats.compute_mean * 1000:.1f} ms, worst {stats.compute_worst * 1000:.0f} ms")
    print(f"lookahead {stats.lookahead * 1000:.0f} ms, jitter buffer settled at {stats.jitter_buffer * 1000:.0f} ms, "
          f"measured mic to output {stats.measured * 1000:.0f} ms")


def live_panel(stats, heard: str, lookahead: int, path: Path) -> None:
    """Save the app's Live panel (workbench.views.live_view) showing a running session's figures as PNG."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from workbench.views.live_view import LiveView

    app = QApplication.instance() or QApplication([])
    view = LiveView()
    view.lookahead.setValue(lookahead)
    view.show_running(True)
    view.show_heard(heard)
    view.show_stats(stats, "")
    view.resize(760, view.sizeHint().height())
    view.show()
    app.processEvents()
    view.grab().save(str(path))


if __name__ == "__main__":
    main()
