"""Render the main views offscreen to PNG files, so the look can be reviewed without a display."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from codec.errors import UserError


def _settle(app: QApplication, window=None) -> None:
    for _ in range(5):
        app.processEvents()
    deadline = time.monotonic() + 30.0
    while window is not None and window.drawing.drawing and time.monotonic() < deadline:  # panes drawn off-thread
        app.processEvents()
        time.sleep(0.01)


def save_screenshots(out_dir: str | Path, codecs: list[str] | None = None, clip: str | None = None) -> list[Path]:
    """Open a clip (the first bundled one by default), round-trip it through each of `codecs` (their versions side
    by side, the first compared with the original) and save each main view at the default window size.

    `codecs` defaults to the app's default codec: LFSC when a checkpoint is configured, else a reference codec.
    """
    from workbench import roundtrip
    from workbench.clip_model import ORIGINAL
    from workbench.controllers.clips import read_clip
    from workbench.main_window import MainWindow
    from workbench.settings import Settings
    from workbench.workers import Task

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance()
    with tempfile.TemporaryDirectory() as scratch:
        window = MainWindow(Settings(Path(scratch) / "screenshots.ini"))  # never touch the user's settings
        window.resize(1500, 900)
        window.clips.load_bundled()
        if clip is not None:
            window.clips.show_clip(Task(read_clip, clip).run_here())
        if window.model.clip is None:
            raise UserError("no clip to show: the bundled speech is missing; pass an audio file")
        codecs = codecs or [roundtrip.default_codec()]
        window.codec_bar.select_codec(codecs[0])
        versions = [_version(window, codec) for codec in codecs]
        window.model.set_pair(ORIGINAL, versions[0].key)
        codec = codecs[0]
        _show_small_report(window, Path(scratch) / "run", codec)
        window.show()
        window.playback.seek(window.model.clip.samples.size / window.model.clip.sample_rate * 0.4)
        window.playback.select_role("b")
        window.listen_bar.set_loop(True)
        _settle(app, window)
        saved = []
        for index, name in ((0, "compare"), (1, "blind-test"), (2, "reports")):
            window.tabs.setCurrentIndex(index)
            _settle(app, window)
            path = out / f"workbench-{name}.png"
            window.grab().save(str(path))
            saved.append(path)
        window.listen_bar.set_view_options(True, window.settings.db_range)
        window.tabs.setCurrentIndex(0)
        _settle(app, window)
        path = out / "workbench-compare-logfreq.png"
        window.grab().save(str(path))
        saved.append(path)
        saved.append(_mushra_trial(window, app, out / "workbench-mushra.png", codec))
        window.close()
    return saved


def _version(window, codec: str):
    """A version of the open clip through `codec`, with its fast metrics (synchronously: screenshots are a script,
    not an interactive session)."""
    from workbench import clip_metrics, roundtrip
    from workbench.workers import Task

    c = window.model.clip
    info = Task(roundtrip.run_roundtrip, codec, c.samples, c.sample_rate, "cpu", window.codecs.cache).run_here()
    version = window.model.add_version(info.result.audio, info)
    metrics = Task(clip_metrics.fast_metrics, c.samples, info.result.audio, c.sample_rate,
                   heard=info.result.heard).run_here()
    window.model.set_metrics(version.key, metrics)
    return version


def _mushra_trial(window, app: QApplication, path: Path, codec: str) -> Path:
    """The first trial of a MUSHRA test on the open clip, with the first stimuli played and rated."""
    from eval.listening import anchors_for
    from workbench import roundtrip
    from workbench.mushra import MushraTest
    from workbench.workers import Task

    c = window.model.clip
    session = MushraTest.plan([c.name], [codec, "codec2-1200"], seed=1, anchors=anchors_for(c.sample_rate))
    clips = {c.name: (c.samples, c.sample_rate)}
    stimuli = Task(roundtrip.render_stimuli, clips, session.conditions, "cpu", window.codecs.cache).run_here()
    window.tabs.setCurrentWidget(window.blind)
    window.blind.begin(session, stimuli, {c.name: c.sample_rate})
    window.blind.start_graded()
    for label, score in zip(("1", "2", "3"), (86, 34, 100)):
        session.heard(label)
        window.blind.sliders[label].setEnabled(True)
        window.blind.sliders[label].setValue(score)
    _settle(app)
    window.grab().save(str(path))
    window.blind.session = None  # demonstration ratings: closing the window must not ask to keep them
    return path


def _show_small_report(window, folder: Path, codec: str) -> None:
    """A small eval run (4 bundled clips, two codecs, fast metrics) so the report view has rows to show."""
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest
    from workbench.reports import run_eval

    if not default_manifest().exists():
        return
    utterances = load_manifest(default_manifest())[::20][:4]
    run_eval([codec, "codec2-1200"], folder, utterances=utterances, metrics=["pesq_wb", "stoi", "si_sdr"])
    window.evals.open_run_folder(str(folder))
