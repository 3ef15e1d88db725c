"""The compare view with several decoded versions of one clip: A/B of any two, gapless switching among all of
them, their metrics side by side, the zoom kept, the panes drawn at screen resolution, the library's highlight."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from workbench import display  # noqa: E402
from workbench.views.compare_view import MAX_COLUMNS  # noqa: E402
from workbench_waits import WAIT_MS, drawn, open_clip, round_trip  # noqa: E402



def test_every_round_trip_is_kept_and_any_two_versions_are_compared(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    round_trip(qtbot, window, "codec2-3200")
    round_trip(qtbot, window, "opus-6k")
    round_trip(qtbot, window, "opus-6k")
    model = window.model
    assert window.versions.labels() == ["original", "codec2-3200", "opus-6k", "opus-6k (2)"]
    codec2, opus = model.versions[0].key, model.versions[1].key
    window.versions.rename_requested.emit(opus, "Opus 6k")  # as an edit in the list does
    model.set_pair(codec2, opus)  # codec against codec
    drawn(qtbot, window)
    np.testing.assert_allclose(model.difference, model.versions[1].samples - model.versions[0].samples)
    assert window.compare.waveforms["b"].plot.titleLabel.text.startswith("B: Opus 6k")
    drawn_difference = window.compare.waveforms["difference"].curve.getData()[1]  # min and max per column
    assert drawn_difference.max() == pytest.approx(model.difference.max())
    assert drawn_difference.min() == pytest.approx(model.difference.min())
    qtbot.waitUntil(lambda: all("PESQ-NB" in v.metrics for v in model.versions), timeout=3 * WAIT_MS)  # 3 versions
    panel = window.metrics
    assert [panel.tree.headerItem().text(c) for c in range(1, 4)] == ["codec2-3200", "Opus 6k", "opus-6k (2)"]
    assert panel.value("codec", "codec2-3200") == "codec2-3200" and panel.value("codec", "Opus 6k") == "opus-6k"
    assert float(panel.value("PESQ-NB", "Opus 6k")) == pytest.approx(model.versions[1].metrics["PESQ-NB"], abs=1e-3)
    window.clips.remove_version(model.versions[2].key)
    assert window.versions.labels() == ["original", "codec2-3200", "Opus 6k"] and model.pair == (codec2, opus)
    window.clips.remove_version(opus)  # B goes: the newest version left takes its place
    assert model.pair == (codec2, codec2) and window.versions.labels() == ["original", "codec2-3200"]


def test_switching_among_all_versions_keeps_the_play_position(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    round_trip(qtbot, window, "codec2-3200")
    round_trip(qtbot, window, "opus-6k")
    model, player = window.model, window.playback.player
    sr = model.clip.sample_rate
    window.playback.seek(1.0)
    first, _ = player.render(512)
    heard = [first]
    for version in [*model.versions, None]:  # every version, then the original again, from the versions list
        item = next(window.versions.list.item(i) for i in range(window.versions.list.count())
                    if window.versions.list.item(i).text() == (version.label if version else "original"))
        window.versions.list.itemClicked.emit(item)
        assert window.versions.heard() == (version.key if version else "original")
        block, _ = player.render(512)
        heard.append(block)
    expected = [model.clip.samples, model.versions[0].samples, model.versions[1].samples, model.clip.samples]
    for i, (block, source) in enumerate(zip(heard, expected)):  # each block continues where the last one ended
        start = sr + 512 * i
        np.testing.assert_array_equal(block, source[start:start + 512])
    window.playback.select_role("difference")  # D: B - A at the same position
    block, _ = player.render(512)
    np.testing.assert_array_equal(block, (model.versions[1].samples - model.clip.samples)[sr + 2048:sr + 2560])


def test_the_zoom_is_kept_across_a_round_trip_and_display_options(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    drawn(qtbot, window)
    first = window.compare.plots()[0]
    first.setXRange(1.0, 1.5, padding=0)
    drawn(qtbot, window)
    round_trip(qtbot, window, "codec2-3200")
    window.listen_bar.log_box.setChecked(True)
    drawn(qtbot, window)
    window.listen_bar.db_spin.setValue(60)
    drawn(qtbot, window)
    for plot in window.compare.plots():
        np.testing.assert_allclose(plot.viewRange()[0], [1.0, 1.5], atol=1e-6)
    spec = window.compare.spectrograms["b"].spectrogram
    assert spec.log_frequency and spec.start < 1.0 + 0.05 and spec.start + spec.duration > 1.5 - 0.05
    assert spec.levels.min() == pytest.approx(-60.0, abs=1e-3)  # the floor of the new range
    open_clip(qtbot, window, str(bundled[1].audio_path))  # another clip is shown whole
    drawn(qtbot, window)
    clip = window.model.clip
    np.testing.assert_allclose(first.viewRange()[0], [0.0, len(clip.samples) / clip.sample_rate])


def test_a_zoomed_drawing_resolves_the_visible_stretch_of_a_long_clip(qtbot, window):
    from workbench.clip_model import Clip

    sr = 22050
    t = np.arange(600 * sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t) * (np.abs(t - 302.0) < 0.01)).astype(np.float32)  # a 20 ms burst
    window.clips.show_clip(Clip("ten minutes", tone, sr))
    drawn(qtbot, window)
    pane = window.compare.waveforms["a"]
    assert pane.point_count() <= 2 * MAX_COLUMNS  # not 13 million points
    window.compare.plots()[0].setXRange(300.0, 305.0, padding=0)
    drawn(qtbot, window)
    times, values = pane.curve.getData()
    assert times[0] >= 300.0 - 0.01 and times[-1] <= 305.0 + 0.01
    assert values.max() == pytest.approx(0.5, abs=1e-3)  # the burst's peak is not lost between columns
    spec = window.compare.spectrograms["a"]
    assert spec.frame_count() <= MAX_COLUMNS + 2


def test_the_library_highlights_the_clip_shown_and_nothing_for_another_file(qtbot, window, bundled):
    window.clips.load_bundled()
    selected = lambda: [window.library.model.rows[window.library.proxy.mapToSource(i).row()]["id"]  # noqa: E731
                        for i in window.library.table.selectionModel().selectedRows()]
    assert selected() == [window.model.clip.name]
    open_clip(qtbot, window, str(bundled[5].audio_path))
    assert selected() == []
    window.clips.open_utterance(bundled[2])
    assert selected() == [bundled[2].id]


def test_a_long_clip_name_does_not_push_the_panes_off_screen(qtbot, window, bundled, tmp_path):
    import shutil

    window.resize(1500, 900)
    path = tmp_path / ("a_really_long_file_name_" * 8 + ".wav")
    shutil.copy(bundled[0].audio_path, path)
    open_clip(qtbot, window, str(path))
    round_trip(qtbot, window, "identity")
    graphics = window.compare.graphics
    qtbot.waitUntil(lambda: graphics.ci.geometry().width() <= graphics.viewport().width() + 1)
    strip = window.compare.strip_plot
    assert strip.sceneBoundingRect().right() <= graphics.viewport().width() + 1
    assert "Distance heat strip" in strip.titleLabel.text


def test_display_drawings_are_bounded_by_the_columns():
    sr = 16000
    x = np.random.default_rng(0).standard_normal(sr * 60).astype(np.float32)
    drawing = display.draw({"a": x, "b": None}, sr, (0.0, 60.0), 500, False, 80.0)
    assert drawing.rows["b"] is None and drawing.rows["difference"] is None and drawing.distance is None
    drawing = display.draw({"a": x, "b": x * 0.5}, sr, (0.0, 60.0), 500, False, 80.0)
    assert len(drawing.rows["a"].times) <= 1000 and drawing.rows["a"].spectrogram.levels.shape[0] <= 502
    distance, times = drawing.distance
    assert len(distance) == drawing.rows["b"].spectrogram.levels.shape[0] and times[-1] >= 60.0 - 0.2
    times, values = display.envelope(x, sr, 100, 600, 500)  # few samples: drawn as they are
    np.testing.assert_array_equal(values, x[100:600])
