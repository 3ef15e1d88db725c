"""The longest GUI-thread stall of the workbench window on a long clip: the bundled speech tiled to 10 minutes is
opened, round-tripped twice (two versions to compare), zoomed to 300-305 s, log frequency and the dB range are
toggled, and the two versions compared against each other. A 10 ms QTimer heartbeat on the GUI thread records the
longest gap between beats in each phase; a gap is how long the window could not repaint or react. Each row also
shows the peak resident memory so far (the kernel's ru_maxrss of the process, plus its largest child's if any).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/workbench_stall_bench.py [--minutes 10] [--codec A B]
                                                                                 [--metrics opus-6k]

Metrics of the versions are cancelled as each round trip lands: PESQ and DistillMOS of 10 minutes take minutes of
worker time. `--metrics CODEC` measures them instead: the clip is opened, round-tripped once through CODEC, and the
app's automatic metrics of that version run to the end (tens of minutes on a small CPU) as a phase of their own.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


class Heartbeat:
    """Beats every 10 ms on the GUI thread and keeps the longest gap between two beats."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self._beat)
        self.timer.start()

    def _beat(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def reset(self) -> None:
        """Start a new phase."""
        self.last, self.longest = time.perf_counter(), 0.0


def long_clip(folder: Path, minutes: float) -> Path:
    """The bundled speech, tiled to `minutes`, as one WAV file at 22.05 kHz."""
    from codec.audio import load_audio, save_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    speech = np.concatenate([load_audio(u.audio_path, sample_rate=22050).samples
                             for u in load_manifest(default_manifest())])
    n = int(minutes * 60 * 22050)
    path = folder / "ten-minutes.wav"
    save_audio(path, np.tile(speech, n // len(speech) + 1)[:n], 22050)
    return path


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, plus its largest child's (ru_maxrss is in KiB)."""
    return sum(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def run(app: QApplication, window, beat: Heartbeat, name: str, action, until) -> tuple[str, float, float]:
    """Do `action` from the event loop, then spin until `until()`; the phase's longest stall and wall time."""
    beat.reset()
    start = time.perf_counter()
    QTimer.singleShot(0, action)
    for _ in range(3):
        app.processEvents()
    while not until():
        app.processEvents()
        time.sleep(0.002)
    for _ in range(3):
        app.processEvents()
    return name, beat.longest, time.perf_counter() - start


def main() -> None:
    """Print the longest stall of each phase."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--codec", nargs=2, default=["identity", "identity@white10"],
                        help="the two codecs of the two versions")
    parser.add_argument("--metrics", metavar="CODEC",
                        help="round-trip once through CODEC and let its automatic metrics run to the end instead")
    args = parser.parse_args()
    from workbench.app import warm_up

    warm_up()  # as the app starts
    from workbench.controllers.task_runner import METRICS
    from workbench.main_window import MainWindow
    from workbench.settings import Settings

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as scratch:
        path = long_clip(Path(scratch), args.minutes)
        window = MainWindow(Settings(Path(scratch) / "bench.ini"))
        window.resize(1500, 900)
        window.show()
        beat = Heartbeat()
        idle = lambda: not window.drawing.drawing  # noqa: E731
        versions = lambda n: lambda: len(window.model.versions) == n and idle()  # noqa: E731
        first = window.compare.plots()[0]
        opening = ("open the file", lambda: window.clips.open_file(str(path)), lambda: window.model.clip and idle())
        if args.metrics:
            phases = [
                opening,
                (f"round trip {args.metrics}", lambda: window.clips.start_roundtrip(args.metrics), versions(1)),
                ("its automatic metrics", lambda: None, lambda: not window.tasks.running(METRICS) and idle()),
            ]
        else:
            window.tasks.started.connect(lambda _: window.tasks.cancel(METRICS))
            phases = [
                opening,
                (f"round trip {args.codec[0]}", lambda: window.clips.start_roundtrip(args.codec[0]), versions(1)),
                (f"round trip {args.codec[1]}", lambda: window.clips.start_roundtrip(args.codec[1]), versions(2)),
                ("zoom to 300-305 s", lambda: first.setXRange(300.0, 305.0, padding=0), idle),
                ("log frequency on", lambda: window.listen_bar.log_box.setChecked(True), idle),
                ("dB range 60", lambda: window.listen_bar.db_spin.setValue(60), idle),
                ("compare version 1 with version 2",
                 lambda: window.model.set_pair(*(v.key for v in window.model.versions)), idle),
                ("zoom out to 0-600 s", lambda: first.setXRange(0.0, args.minutes * 60, padding=0), idle),
                ("log frequency off", lambda: window.listen_bar.log_box.setChecked(False), idle),
            ]
        print(f"{args.minutes:g}-minute clip at 22.05 kHz, window 1500x900, {os.cpu_count()} CPUs")
        print(f"{'phase':36s} {'longest GUI stall':>18s} {'wall':>9s} {'peak RSS':>9s}  visible range")
        for name, action, until in phases:
            name, stall, wall = run(app, window, beat, name, action, until)
            (x0, x1), _ = first.viewRange()
            print(f"{name:36s} {stall * 1000:15.0f} ms {wall:8.2f} s {peak_rss_mb():6.0f} MB  {x0:.1f}-{x1:.1f} s",
                  flush=True)
        for label, value in window.model.metrics.items():
            print(f"  {label}: {value}")
        window.tasks.cancel_all()
        window.close()


if __name__ == "__main__":
    main()
