"""The rest of issue #23 in the app: files open without freezing the window, what a codec heard can be heard and
seen, Play becomes Pause, metric values are shown whole, the first LFSC use says it loads the model."""

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np  # noqa: E402
from PySide6.QtCore import QThreadPool  # noqa: E402

from workbench.clip_model import ORIGINAL, heard_key  # noqa: E402
from workbench.controllers.task_runner import OPENING  # noqa: E402
from workbench.views.listen_bar import PAUSE, PLAY  # noqa: E402
from workbench.views.metrics_panel import VALUE_CHARS  # noqa: E402
from workbench_waits import WAIT_MS, open_clip, round_trip  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LFSC_FIXTURE = ROOT / "tests" / "fixtures" / "nemo" / "lfsc_small.nemo"


def version(qtbot, win, codec):
    """Round-trip through `codec`; the version it adds."""
    round_trip(qtbot, win, codec)
    return win.model.compared


# ---- 1. opening a file does not hold the window -----------------------------------------------------------------
def test_a_file_is_read_in_the_task_runner_with_progress_and_the_open_clip_stays_until_it_is_read(
        qtbot, window, bundled):
    open_clip(qtbot, window, bundled[0].audio_path)
    first = window.model.clip
    reports = []
    window.tasks.progress.connect(lambda done, total, text: reports.append((done, total, text)))
    task = window.clips.open_file(str(bundled[1].audio_path))
    assert task is not None and window.tasks.running(OPENING)
    assert window.model.clip is first  # the window shows the previous clip while the file is read
    with qtbot.waitSignal(window.model.clip_changed, timeout=WAIT_MS):
        pass
    assert window.model.clip.name == Path(bundled[1].audio_path).name
    name = Path(bundled[1].audio_path).name
    assert reports and reports[-1] == (1000, 1000, f"reading {name}")
    assert str(bundled[1].audio_path) in window.settings.recent_files[0]


def test_a_file_that_cannot_be_read_says_so_in_one_message_and_keeps_the_open_clip(qtbot, window, bundled, tmp_path):
    open_clip(qtbot, window, bundled[0].audio_path)
    first = window.model.clip
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    window.clips.open_file(str(broken))
    qtbot.waitUntil(lambda: not window.tasks.running(OPENING), timeout=WAIT_MS)
    qtbot.wait(50)
    assert window.model.clip is first
    assert len(window.prompts.messages) == 1
    assert "broken.wav" in window.prompts.messages[0] and "Pick a WAV, FLAC or OGG" in window.prompts.messages[0]


def test_a_clip_chosen_while_a_file_is_read_is_not_replaced_when_the_file_lands(qtbot, window, bundled):
    window.clips.open_file(str(bundled[0].audio_path))
    window.clips.open_utterance(bundled[1])
    qtbot.waitUntil(lambda: not window.tasks.running(OPENING), timeout=WAIT_MS)
    QThreadPool.globalInstance().waitForDone(WAIT_MS)
    qtbot.wait(50)  # anything the reader queued is delivered
    assert window.model.clip.name == bundled[1].id and window.prompts.messages == []


# ---- 2. what the codec heard --------------------------------------------------------------------------------------
def test_what_the_codec_heard_under_a_condition_can_be_compared_and_played(qtbot, window, bundled):
    open_clip(qtbot, window, bundled[0].audio_path)
    clean = version(qtbot, window, "identity")
    noisy = version(qtbot, window, "identity@white10")
    heard = heard_key(noisy.key)
    labels = {key: label for key, label, _ in window.model.entries()}
    assert labels[heard] == "heard by identity@white10" and heard_key(clean.key) not in labels  # clean: the clip
    pickers = [window.versions.b_combo.itemText(i) for i in range(window.versions.b_combo.count())]
    assert "heard by identity@white10" in pickers and "heard by identity@white10" in window.versions.labels()
    metrics_before = dict(noisy.metrics)
    window.model.set_pair(ORIGINAL, heard)
    assert window.model.pair == (ORIGINAL, heard)
    assert "heard by identity@white10" in window.compare.titles[window.compare.waveforms["b"].plot]
    window.playback.select_role("b")
    assert window.playback.player.selected == heard
    played, _ = window.playback.player.render(4096)
    np.testing.assert_array_equal(played, noisy.info.result.heard[:4096])
    assert not np.array_equal(played, window.model.clip.samples[:4096])  # the noise the codec heard, not the clip
    assert noisy.metrics == metrics_before and window.model.compared is None  # no metrics of what was heard


def test_removing_a_version_removes_what_its_codec_heard(qtbot, window, bundled):
    open_clip(qtbot, window, bundled[0].audio_path)
    noisy = version(qtbot, window, "identity@white10")
    window.model.set_pair(heard_key(noisy.key), noisy.key)
    window.clips.remove_version(noisy.key)
    assert window.model.pair == (ORIGINAL, "") and [k for k, _, _ in window.model.entries()] == [ORIGINAL]


# ---- 3. Play becomes Pause ----------------------------------------------------------------------------------------
def test_play_shows_pause_while_playing_and_play_again_when_stopped(qtbot, window, bundled):
    open_clip(qtbot, window, bundled[0].audio_path)
    bar = window.listen_bar
    assert bar.play_button.text() == PLAY
    window.playback.player.set_loop(0.0, 1.0)  # sounds until paused, however fast the test's null device plays
    window.playback.toggle_play()
    assert window.playback.player.playing and bar.play_button.text() == PAUSE
    window.playback.toggle_play()
    assert not window.playback.player.playing and bar.play_button.text() == PLAY
    window.playback.player.set_loop(None)
    window.playback.seek(window.playback.player.duration - 0.05)  # the end of the clip stops the sound by itself
    window.playback.toggle_play()
    qtbot.waitUntil(lambda: bar.play_button.text() == PLAY, timeout=5000)
    assert not window.playback.player.playing


# ---- 4. metric values whole ---------------------------------------------------------------------------------------
def test_metric_values_of_two_versions_show_whole_at_the_default_window_size(qtbot, window, bundled):
    assert (window.width(), window.height()) == (1500, 900)
    open_clip(qtbot, window, bundled[0].audio_path)
    for codec in ("codec2-3200@white10", "opus-6k"):
        added = version(qtbot, window, codec)
        window.model.set_metrics(added.key, {"PESQ-WB": 3.14159, "DistillMOS (original)": 3.9})
    qtbot.wait(50)
    tree = window.metrics.tree
    columns = range(1, tree.columnCount())
    assert sum(tree.columnWidth(c) for c in range(tree.columnCount())) <= tree.viewport().width()
    shown = 0
    for i in range(tree.topLevelItemCount()):
        section = tree.topLevelItem(i)
        for j in range(section.childCount()):
            item = section.child(j)
            assert item.toolTip(0) == item.text(0)
            for c in columns:
                assert item.toolTip(c) == item.text(c)
                if len(item.text(c)) <= VALUE_CHARS:  # a value, not a sentence such as why a metric is missing
                    assert tree.fontMetrics().horizontalAdvance(item.text(c)) <= tree.columnWidth(c), item.text(c)
                    shown += bool(item.text(c))
    assert shown >= 2 * 8
    assert [tree.headerItem().toolTip(c) for c in columns] == [
        "codec2-3200@white10 (codec2-3200@white10)", "opus-6k (opus-6k)"]


# ---- 5. the first LFSC use ----------------------------------------------------------------------------------------
class Reports:
    """Stands in for a Task: keeps what the work reports."""

    def __init__(self) -> None:
        self.texts: list[tuple[int, int, str]] = []

    def report(self, done: int, total: int = 0, text: str = "") -> None:
        """Keep a report."""
        self.texts.append((done, total, text))


def test_the_first_lfsc_round_trip_says_it_loads_the_model_and_how_long_it_took(monkeypatch):
    from workbench.roundtrip import CodecCache, run_roundtrip

    monkeypatch.setenv("LFSC_CHECKPOINT", str(LFSC_FIXTURE))
    speech = (0.1 * np.random.default_rng(0).standard_normal(22050)).astype(np.float32)
    cache, first, again = CodecCache(), Reports(), Reports()
    info = run_roundtrip("lfsc", speech, 22050, "cpu", cache, task=first)
    assert (0, 0, "loading the lfsc model (first use)") in first.texts  # total 0: a busy bar while it loads
    assert info.load_seconds > 0 and ("model loading", f"{info.load_seconds:.1f} s (first use)") in info.summary()
    info = run_roundtrip("lfsc", speech, 22050, "cpu", cache, task=again)
    assert not any("loading" in text for _, _, text in again.texts) and info.load_seconds == 0
    assert all(label != "model loading" for label, _ in info.summary())
    info = run_roundtrip("opus-6k", speech, 22050, "cpu", cache, task=again)
    assert info.load_seconds == 0  # no model to load
