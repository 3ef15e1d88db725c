"""The workbench GUI, headless (Qt offscreen): open, round trip, linked panes, A/B, blind tests, reports, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QThreadPool, Qt  # noqa: E402

from codec.audio import load_audio  # noqa: E402
from codec.errors import UserError  # noqa: E402
from workbench.blind_test import BlindTest, write_results  # noqa: E402
from workbench.controllers.task_runner import DISPLAY, EVAL_RUN, METRICS, ROUND_TRIP  # noqa: E402
from workbench.main_window import MainWindow  # noqa: E402
from workbench.settings import Settings  # noqa: E402
from workbench.display import ROWS  # noqa: E402
from workbench.views.compare_view import MAX_COLUMNS  # noqa: E402
from workbench_waits import WAIT_MS, drawn, open_clip, round_trip  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LFSC_FIXTURE = ROOT / "tests" / "fixtures" / "nemo" / "lfsc_small.nemo"  # reduced-width LFSC (the codec core's)


def test_open_round_trip_plots_every_sample_in_linked_panes(qtbot, window, bundled):
    path = bundled[0].audio_path
    open_clip(qtbot, window, str(path))
    n = len(load_audio(path).samples)
    round_trip(qtbot, window, "codec2-3200")
    drawn(qtbot, window)
    compare, duration = window.compare, n / window.model.clip.sample_rate
    for row in ROWS:  # the whole clip, at most two points per pixel column, not every sample
        np.testing.assert_allclose(compare.waveforms[row].drawn_span(), [0.0, duration], atol=2 * duration / 64)
        assert 0 < compare.waveforms[row].point_count() <= 2 * MAX_COLUMNS < n
    frames = {compare.spectrograms[s].frame_count() for s in ROWS} | {compare.distance_frames()}
    assert len(frames) == 1 and frames.pop() > 0
    np.testing.assert_allclose(window.model.difference, window.model.decoded - window.model.clip.samples)
    plots = compare.plots()
    assert all(p.vb.linkedView(p.vb.XAxis) is plots[0].vb for p in plots[1:])
    compare.spectrograms["b"].plot.setXRange(0.5, 1.0, padding=0)  # zoom the decoded spectrogram ...
    for plot in plots:  # ... and every pane follows
        np.testing.assert_allclose(plot.viewRange()[0], [0.5, 1.0], atol=1e-6)
    assert window.metrics.value("measured bitrate").startswith("3.")
    qtbot.waitUntil(lambda: window.metrics.value("PESQ-NB") != "", timeout=WAIT_MS)
    assert 1.0 < float(window.metrics.value("PESQ-NB")) < 4.6
    qtbot.waitUntil(lambda: window.metrics.value("DistillMOS (original)") != "", timeout=WAIT_MS)
    assert float(window.metrics.value("DistillMOS (original)")) > float(window.metrics.value("DistillMOS (decoded)")) + 0.5


def test_panes_without_a_signal_share_the_originals_axes(qtbot, window, bundled):
    plot_ranges = lambda pane: pane.plot.viewRange()[1]  # noqa: E731
    compare = window.compare
    assert np.allclose(plot_ranges(compare.spectrograms["b"]), [0.0, 11025.0])  # before any clip ...
    assert all(np.allclose(p.viewRange()[0], [0.0, 1.0]) for p in compare.plots())  # ... and from 0 s
    assert not any(b.isEnabled() for b in window.listen_bar.signal_buttons.values())  # nothing to listen to yet
    open_clip(qtbot, window, str(bundled[0].audio_path))
    drawn(qtbot, window)
    original, decoded = compare.spectrograms["a"], compare.spectrograms["b"]
    assert decoded.frame_count() == 0 and original.frame_count() > 0
    np.testing.assert_allclose(plot_ranges(decoded), plot_ranges(original))
    np.testing.assert_allclose(plot_ranges(decoded), [0.0, original.spectrogram.f_high])
    np.testing.assert_allclose(plot_ranges(compare.waveforms["difference"]), plot_ranges(compare.waveforms["a"]))
    assert not decoded.plot.getAxis("left").autoSIPrefix  # the axis reads "Hz", not "Hz (x0.001)"


def test_ab_keys_switch_signal_at_the_same_position(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    round_trip(qtbot, window, "identity")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    sr = window.model.clip.sample_rate
    window.playback.seek(1.0)
    qtbot.keyClick(window.compare, Qt.Key.Key_B)
    assert window.playback.player.selected == window.model.pair[1] and window.playback.player.position == 1.0
    qtbot.keyClick(window.compare, Qt.Key.Key_Right)
    qtbot.keyClick(window.compare, Qt.Key.Key_D)
    assert window.playback.player.selected == "difference" and window.playback.player.position == 2.0
    qtbot.keyClick(window.compare, Qt.Key.Key_A)
    block, _ = window.playback.player.render(100)
    np.testing.assert_array_equal(block, window.model.clip.samples[2 * sr: 2 * sr + 100])
    buttons = window.listen_bar.signal_buttons
    assert buttons["a"].isChecked() and not buttons["b"].isChecked()


def test_blind_abx_session_hides_codecs_and_writes_a_valid_results_file(qtbot, window, bundled, tmp_path):
    window.clips.load_bundled()  # one row selected (the open clip): the test takes the first clips shown
    with qtbot.waitSignal(window.blind.stage_changed, timeout=WAIT_MS):
        window.blind_tests.start("abx", ["reference", "codec2-1200"], 11, 1, 2)
    session = window.blind.session
    assert len(session.trials) == 2 and session.seed == 11
    while not session.finished:
        assert "codec2" not in window.blind.trial_label.text() and "reference" not in window.blind.trial_label.text()
        assert window.blind.play_buttons["X"].isVisibleTo(window.blind)
        qtbot.mouseClick(window.blind.answer_buttons["A"], Qt.MouseButton.LeftButton)
    assert window.blind.stage == "results"
    assert "codec2-1200" in window.blind.summary.toPlainText()
    [autosaved] = window.settings.blind_results_dir.glob("blind-abx-11-*.json")  # saved at the last answer
    assert str(autosaved) in window.blind.summary.toPlainText()
    assert json.loads(autosaved.read_text())["summary"]["seed"] == 11
    saved = window.blind_tests.save_results(str(tmp_path / "abx.json"))
    data = json.loads(saved.read_text())
    assert data["summary"]["seed"] == 11 and data["summary"]["trials"] == 2
    for trial in data["trials"]:
        assert trial["answer"] == "A" and trial["x_is"] in "AB" and trial["seconds"] >= 0
        assert {trial["codec_a"], trial["codec_b"]} == {"reference", "codec2-1200"}
        assert trial["correct"] == (trial["x_is"] == "A")


def test_report_row_opens_in_the_compare_view_ready_for_ab(qtbot, window, bundled, tmp_path):
    with qtbot.waitSignal(window.report.model.modelReset, timeout=WAIT_MS):
        window.evals.start_eval_run(str(tmp_path / "run"), ["identity", "codec2-3200"], ["si_sdr"],
                                    utterances=bundled[:2])
    assert window.report.progress.maximum() == 4 and window.report.progress.value() == 4
    table = window.report.table
    assert window.report.proxy.rowCount() == 4
    si_sdr_column = [key for key, _ in window.report.model.columns].index("si_sdr")
    table.sortByColumn(si_sdr_column, Qt.SortOrder.AscendingOrder)  # worst first
    worst = window.report.model.rows[window.report.proxy.mapToSource(window.report.proxy.index(0, 0)).row()]
    assert worst["codec"] == "codec2-3200"
    rect = table.visualRect(window.report.proxy.index(0, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # QTest's double click
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # needs a press first
    assert window.tabs.currentWidget() is window.compare, window.prompts.messages
    assert window.model.clip.name == worst["utt_id"]
    assert window.model.decoded is not None and len(window.model.decoded) == len(window.model.clip.samples)
    assert set(window.model.signals()) == {"original", window.model.pair[1]}
    window.playback.select_role("b")
    assert window.playback.player.selected == window.model.pair[1]
    assert window.model.roundtrip.codec == "codec2-3200"  # the panel says how the decoded audio was made
    qtbot.waitUntil(lambda: "SI-SDR (dB)" in window.model.metrics, timeout=WAIT_MS)
    # the panel's number is the report's: the same function on the run's lossless (float32) kept audio
    assert window.model.metrics["SI-SDR (dB)"] == pytest.approx(worst["si_sdr"], rel=1e-9)


def test_cancel_drops_the_round_trip_and_frees_the_window(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    window.clips.start_roundtrip("codec2-3200")
    assert window.codec_bar.cancel_button.isEnabled()
    window.tasks.cancel_toolbar()
    QThreadPool.globalInstance().waitForDone(WAIT_MS)
    qtbot.wait(50)  # deliver anything the worker queued
    assert window.model.decoded is None and not window.tasks.running(ROUND_TRIP)
    assert not window.codec_bar.cancel_button.isEnabled()


def test_a_take_survives_a_failed_round_trip_and_the_error_says_what_to_do(qtbot, window, tmp_path, monkeypatch):
    take = (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    saved = window.clips.use_take(take, 16000)
    import tarfile

    junk = tmp_path / "model_config.yaml"
    junk.write_text("this is not an LFSC model")
    bogus = tmp_path / "not-a-model.nemo"  # an archive, as a .nemo is, holding no model
    with tarfile.open(bogus, "w") as archive:
        archive.add(junk, arcname="model_config.yaml")
    monkeypatch.setenv("LFSC_CHECKPOINT", str(bogus))  # not chosen in the app, which refuses it on choosing
    window.codecs.refresh()
    window.codec_bar.select_codec("lfsc")
    assert window.codec_bar.codec() == "lfsc"
    task = window.clips.start_roundtrip()
    qtbot.waitUntil(lambda: task not in window.tasks.running(), timeout=WAIT_MS)
    assert window.prompts.messages and "Round trip through lfsc failed" in window.prompts.messages[-1]
    assert "not-a-model.nemo" in window.prompts.messages[-1]  # the codec's own message names the file and what to do
    assert window.model.clip is not None and np.array_equal(window.model.clip.samples, take)
    np.testing.assert_allclose(load_audio(saved).samples, take, atol=1 / 32768)


@pytest.mark.slow
def test_cer_and_speaker_similarity_on_demand_read_perfect_on_the_identity_codec(qtbot, window, bundled):
    utterance = next(u for u in bundled if u.lang == "es")
    window.clips.open_utterance(utterance)
    round_trip(qtbot, window, "identity")
    qtbot.mouseClick(window.metrics.cer_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.metrics.speaker_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(window.metrics.value("dCER") and window.metrics.value("Speaker similarity")),
                    timeout=4 * WAIT_MS)
    assert float(window.metrics.value("dCER")) == 0.0
    assert float(window.metrics.value("CER original")) < 0.2  # Whisper hears the Spanish prompt
    assert float(window.metrics.value("Speaker similarity")) == pytest.approx(1.0, abs=1e-3)


def test_default_codec_is_lfsc_only_when_a_checkpoint_is_configured(monkeypatch, tmp_path):
    from workbench.roundtrip import default_codec

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("LFSC_CHECKPOINT", raising=False)
    assert default_codec() == "opus-6k"
    assert default_codec(last="codec2-1200") == "codec2-1200"
    monkeypatch.setenv("LFSC_CHECKPOINT", str(LFSC_FIXTURE))
    assert default_codec() == "lfsc"


@pytest.mark.slow
def test_pointing_at_a_checkpoint_selects_lfsc_and_round_trips_through_it(qtbot, window, bundled):
    window.clips.open_utterance(bundled[0])
    window.codecs.choose_checkpoint(str(LFSC_FIXTURE))  # what the one-click button does after its file dialog
    assert window.codec_bar.codec() == "lfsc" and window.settings.checkpoint == str(LFSC_FIXTURE)
    from codec.config import resolve_checkpoint

    assert resolve_checkpoint() == LFSC_FIXTURE  # written to the user config, so the CLIs see it too
    window.codec_bar.set_device("cpu")
    round_trip(qtbot, window, None)
    assert window.model.roundtrip.codec == "lfsc" and window.model.roundtrip.device == "cpu"
    assert 1.8 < window.model.roundtrip.result.measured_bitrate / 1000 < 2.0  # 88-bit frames at 21.5 frames/s
    assert window.model.decoded is not None and len(window.model.decoded) == len(window.model.clip.samples)


def test_settings_persist_across_windows(qtbot, tmp_path):
    settings = Settings(tmp_path / "s.ini")
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.codec_bar.select_codec("opus-12k")
    first.listen_bar.set_view_options(True, 60)
    first.close()
    second = MainWindow(Settings(tmp_path / "s.ini"))
    qtbot.addWidget(second)
    assert second.codec_bar.codec() == "opus-12k"
    assert second.listen_bar.view_options() == (True, 60)
    assert second.compare.log_frequency and second.compare.db_range == 60


def test_without_a_display_the_app_says_how_to_run_and_exits_2():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "workbench.app"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "--screenshots" in lines[0]


def test_the_app_imports_torch_off_the_gui_thread_while_its_window_is_built():
    """torch's libraries load under the GIL (up to a second): imported at the first metric, they froze the window."""
    code = ("import sys, workbench.app as a; before = 'torch' in sys.modules; t = a.warm_up(); "
            "print(before, t.name != 'MainThread'); t.join(); print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "True", "True"]


def test_screenshots_command_saves_pngs_of_the_main_views(tmp_path, bundled):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "workbench.app", "--screenshots", str(tmp_path / "shots")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    pngs = sorted((tmp_path / "shots").glob("*.png"))
    assert [p.name for p in pngs] == [
        "workbench-blind-test.png", "workbench-compare-logfreq.png", "workbench-compare.png", "workbench-mushra.png",
        "workbench-reports.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 10000 for p in pngs)


def test_screenshots_refuse_a_bad_request_in_one_line_with_exit_2(tmp_path):
    """A clip that cannot be opened, or a folder below a file: one line (no Qt plugin noise before it), exit 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    (tmp_path / "file").write_text("")
    for args in ([str(tmp_path / "shots"), str(tmp_path / "missing.wav")], [str(tmp_path / "file" / "shots")]):
        proc = subprocess.run([sys.executable, "-m", "workbench.app", "--screenshots", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("lfsc-workbench: error: ") and not proc.stdout


def test_an_lfsc_round_trip_shows_chunk_progress_and_cancel_stops_it_between_chunks(qtbot, monkeypatch):
    """The app's round trip task reports a fraction after every LFSC chunk; cancelling after the first one stops
    the codec there (Task.report raises inside it) instead of letting it run on to the end unseen."""
    from workbench.roundtrip import CodecCache, run_roundtrip
    from workbench.workers import Cancelled, Task

    monkeypatch.setenv("LFSC_CHECKPOINT", str(LFSC_FIXTURE))
    speech = (0.1 * np.random.default_rng(0).standard_normal(22050 * 12)).astype(np.float32)  # 3 chunks each way
    cache = CodecCache()
    done = Task(run_roundtrip, "lfsc", speech, 22050, "cpu", cache)
    seen = []
    done.progress.connect(lambda d, total, text: seen.append((d, total)))
    info = done.run_here()
    fractions = [d for d, total in seen if total == 1000]
    assert len(fractions) == 6 and fractions == sorted(fractions) and fractions[-1] == 1000
    assert len(info.result.audio) == len(speech)

    stopped = Task(run_roundtrip, "lfsc", speech, 22050, "cpu", cache)
    seen.clear()

    def cancel_after_first_chunk(d, total, text):
        seen.append((d, total))
        if total == 1000:
            stopped.cancel()

    stopped.progress.connect(cancel_after_first_chunk)
    with pytest.raises(Cancelled):
        stopped.run_here()
    assert [d for d, total in seen if total == 1000] == [fractions[0]]


def test_mushra_sliders_unlock_by_listening_and_the_results_rank_metrics_against_the_ratings(qtbot, window, bundled):
    from scipy.stats import spearmanr

    window.clips.load_bundled()
    blind = window.blind
    blind.kind.setCurrentIndex(blind.kind.findData("mushra"))
    assert "anchors" in blind.kind_note.text()
    [codec2] = blind.codecs.findItems("codec2-1200", Qt.MatchFlag.MatchExactly)
    codec2.setCheckState(Qt.CheckState.Checked)
    blind.seed.setText("21")
    blind.clip_count.setValue(2)
    blind.listener.setText("ann")
    with qtbot.waitSignal(blind.stage_changed, timeout=2 * WAIT_MS):
        qtbot.mouseClick(blind.start_button, Qt.MouseButton.LeftButton)
    session = blind.session
    assert blind.stage == "training" and len(session.trials) == 2 and window.prompts.messages == []  # training first
    clip = session.trials[0].clip
    assert set(blind.training_buttons) == {(c, lab) for c in {t.clip for t in session.trials}
                                           for lab in ("Reference", "A", "B")}
    qtbot.mouseClick(blind.training_buttons[(clip, "B")], Qt.MouseButton.LeftButton)
    assert window.playback.blind_player.selected == "B" and not session.has_answers  # heard, nothing rated
    window.playback.blind_player.pause()
    window.playback.blind_player.seek(0.0)
    block, _ = window.playback.blind_player.render(400)
    np.testing.assert_array_equal(block, blind.stimuli[(clip, session.training()[clip][1])][:400])
    qtbot.mouseClick(blind.graded_button, Qt.MouseButton.LeftButton)
    assert blind.stage == "graded"
    score = {"reference": 100, "lowpass-7k": 75, "lowpass-3.5k": 40, "codec2-1200": 25}
    while not session.finished:
        assert not any(condition in blind.mushra_label.text() for condition in score)
        assert list(blind.sliders) == ["1", "2", "3"]  # 16 kHz clips: the 7 kHz anchor would remove nothing
        assert not any(s.isEnabled() for s in blind.sliders.values()) and not blind.next_button.isEnabled()
        for label, slider in blind.sliders.items():
            qtbot.mouseClick(blind.stimulus_buttons[label], Qt.MouseButton.LeftButton)
            # pressing Play is not listening
            assert window.playback.blind_player.selected == label and not slider.isEnabled()
            qtbot.waitUntil(slider.isEnabled, timeout=10000)  # unlocked once a second of it has played
            assert window.playback.blind_player.played_seconds(label) >= 1.0
            assert not blind.next_button.isEnabled()
            slider.setValue(score[session.codec_for(label)])
        assert blind.in_progress and blind.next_button.isEnabled()  # rated, not yet submitted: quitting asks
        qtbot.mouseClick(blind.next_button, Qt.MouseButton.LeftButton)
        if not session.finished:  # the submitted trial is saved at once
            [unfinished] = window.settings.blind_results_dir.glob("unfinished-blind-mushra-21-*.json")
            assert len(json.loads(unfinished.read_text())["trials"]) == 3
    assert blind.stage == "results"
    assert not unfinished.exists()
    [autosaved] = window.settings.blind_results_dir.glob("blind-mushra-21-*.json")
    data = json.loads(autosaved.read_text())
    assert data["summary"]["listener"] == "ann" and {r["listener"] for r in data["trials"]} == {"ann"}
    assert data["summary"]["scores"]["codec2-1200"]["value"] == 25
    assert data["summary"]["post_screening"]["excluded"] is False
    rows = [r for r in data["trials"] if r["condition"] != "reference"]
    assert len(rows) == 4 and all(r["PESQ-WB"] is not None for r in rows)
    expected = spearmanr([r["score"] for r in rows], [r["PESQ-WB"] for r in rows])[0]
    assert data["summary"]["agreement"]["PESQ-WB"]["value"] == pytest.approx(expected)
    assert data["summary"]["agreement"]["PESQ-WB"]["n"] == 4
    assert data["summary"]["anchors"] == ["lowpass-3.5k"]
    assert "Spearman" in blind.summary.toPlainText() and "passes" in blind.summary.toPlainText()
    assert window.prompts.messages == []


def test_a_mushra_stimulus_that_cannot_play_stays_unrated_and_says_why(qtbot, window, bundled):
    window.clips.load_bundled()
    with qtbot.waitSignal(window.blind.stage_changed, timeout=2 * WAIT_MS):
        window.blind_tests.start("mushra", ["codec2-1200"], 22, 1, 1)
    window.blind.start_graded()
    window.playback.blind_player.close()
    window.playback.blind_player.device = 99  # no such output device
    qtbot.mouseClick(window.blind.stimulus_buttons["1"], Qt.MouseButton.LeftButton)
    assert window.prompts.messages and window.prompts.messages[-1].startswith("Cannot play")
    assert not window.blind.sliders["1"].isEnabled()
    with pytest.raises(UserError, match="listen to stimulus 1"):
        window.blind.session.rate("1", 50)
    assert not window.blind.in_progress  # nothing rated: a new test or quitting loses nothing


def test_the_mushra_loop_repeats_the_same_stretch_of_every_stimulus(qtbot, window, bundled):
    window.clips.load_bundled()
    with qtbot.waitSignal(window.blind.stage_changed, timeout=2 * WAIT_MS):
        window.blind_tests.start("mushra", ["codec2-1200"], 23, 1, 1)
    window.blind.start_graded()
    blind, player = window.blind, window.playback.blind_player
    sr = player.sample_rate
    assert blind.loop_end.value() == pytest.approx(len(blind.stimuli[(blind.session.trials[0].clip, "reference")]) / sr,
                                                  abs=0.01)
    blind.loop_start.setValue(0.5)
    blind.loop_end.setValue(0.6)
    blind.loop_box.setChecked(True)
    for label in ("2", "reference"):  # switching keeps the stretch
        player.select(label)
        player.seek(0.55)
        block, ended = player.render(int(0.1 * sr))  # 0.55 s to 0.6 s, then again from 0.5 s
        expected = blind.stimuli[(blind.session.trials[0].clip, blind.session.codec_for(label))]
        np.testing.assert_array_equal(block[: int(0.05 * sr)], expected[int(0.55 * sr): int(0.6 * sr)])
        np.testing.assert_array_equal(block[int(0.05 * sr):], expected[int(0.5 * sr): int(0.55 * sr)])
        assert not ended
    blind.loop_box.setChecked(False)
    player.seek(0.55)
    block, _ = player.render(int(0.1 * sr))
    np.testing.assert_array_equal(block, expected[int(0.55 * sr): int(0.65 * sr)])


def test_the_blind_test_and_the_compare_view_play_their_own_signals(qtbot, window, bundled):
    """Stimuli never replace the compare view's signals, nor the other way round; opening a clip while the test
    is prepared does not cancel it; only the tab on screen may sound."""
    window.clips.load_bundled()
    round_trip(qtbot, window, "identity")
    with qtbot.waitSignal(window.blind.stage_changed, timeout=WAIT_MS):
        window.blind_tests.start("ab", ["reference", "codec2-1200"], 5, 1, 1)
        open_clip(qtbot, window, str(bundled[3].audio_path))  # while the stimuli are being rendered
    assert window.blind.session is not None and window.prompts.messages == []
    window.playback.blind_player.select("B")
    window.playback.select_signal("original")
    assert window.playback.player.selected == "original"
    with pytest.raises(UserError):
        window.playback.player.select("A")
    round_trip(qtbot, window, "identity")  # a round trip finishing during a trial leaves the stimuli alone
    window.playback.blind_player.select("A")
    assert window.playback.blind_player.selected == "A" and window.model.clip.name == bundled[3].audio_path.name


def test_metrics_of_a_replaced_decoded_signal_are_dropped(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    round_trip(qtbot, window, "codec2-3200")  # its metrics task is running now
    assert window.tasks.running()
    window.model.add_version(np.zeros_like(window.model.clip.samples), None)  # as a second round trip would
    qtbot.waitUntil(lambda: not window.tasks.running(), timeout=WAIT_MS)
    assert window.model.metrics == {}  # codec2's PESQ must not show under the new signal


def test_takes_get_names_of_their_own_and_an_unwritable_folder_keeps_the_take_open(qtbot, window, tmp_path):
    take = (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    first, second = window.clips.use_take(take, 16000), window.clips.use_take(2 * take, 16000)
    assert first != second and np.allclose(load_audio(first).samples, take, atol=1e-4)
    (tmp_path / "blocked").write_text("a file where the folder should be")
    window.settings.recordings_dir = tmp_path / "blocked" / "recordings"
    assert window.clips.use_take(take, 16000) is None
    assert "The take is not saved" in window.prompts.messages[-1] and "Save clip as" in window.prompts.messages[-1]
    assert window.model.clip.path is None and np.array_equal(window.model.clip.samples, take)
    saved = window.clips.save_signal("original", str(tmp_path / "rescued.flac"))
    assert np.allclose(load_audio(saved).samples, take, atol=1e-4)


def test_a_transcript_that_is_not_utf8_does_not_stop_the_clip_opening(qtbot, window, tmp_path):
    save_audio_file = tmp_path / "latin.wav"
    import soundfile as sf

    sf.write(save_audio_file, np.full(16000, 0.1, np.float32), 16000)
    (tmp_path / "latin.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    open_clip(qtbot, window, str(save_audio_file))
    assert window.model.clip.transcript == "" and "UTF-8" in " ".join(window.model.clip.notices)


def test_cancelling_an_eval_run_keeps_the_report_busy_until_the_run_has_stopped(qtbot, window, bundled, tmp_path):
    task = window.evals.start_eval_run(str(tmp_path / "run"), ["codec2-3200"], ["si_sdr"], utterances=bundled[:3])
    window.evals.cancel_eval_run()
    assert window.tasks.running(EVAL_RUN) == [task] and window.report.progress.isVisible()  # still writing rows.jsonl
    qtbot.waitUntil(lambda: not window.tasks.running(EVAL_RUN), timeout=WAIT_MS)  # cleared by the run's end
    assert not window.report.progress.isVisible()


def test_quitting_during_a_blind_test_asks_before_its_answers_are_lost(qtbot, window, bundled, monkeypatch):
    window.clips.load_bundled()
    with qtbot.waitSignal(window.blind.stage_changed, timeout=WAIT_MS):
        window.blind_tests.start("ab", ["reference", "codec2-1200"], 3, 2, 1)
    window.blind.answer("A")
    [unfinished] = window.settings.blind_results_dir.glob("unfinished-blind-ab-3-*.json")  # saved at each answer
    saved = json.loads(unfinished.read_text())
    assert saved["summary"]["finished"] is False and saved["summary"]["answered"] == 1
    assert [t["answer"] for t in saved["trials"]] == ["A"] and saved["trials"][0]["codec_a"] in ("reference", "codec2-1200")
    asked = []
    monkeypatch.setattr(window.prompts, "confirm", lambda title, question: asked.append(question) or False)
    assert not window.close() and window.isVisible() and "Quit" in asked[-1]
    assert window.blind_tests.start("ab", ["reference", "codec2-1200"], 4, 1, 1) is None and "Stop" in asked[-1]
    assert window.blind_tests.resume(str(unfinished)) is None and "Resume an unfinished test" in asked[-1]
    assert window.blind.session.seed == 3 and window.blind.session.answered == 1
    window.blind.answer("B")  # the last answer: the finished results replace the unfinished file
    assert not unfinished.exists() and len(list(window.settings.blind_results_dir.glob("blind-ab-3-*.json"))) == 1


def test_an_unfinished_test_resumes_where_it_stopped_and_ends_in_one_results_file(qtbot, window, bundled, monkeypatch):
    window.clips.load_bundled()
    with qtbot.waitSignal(window.blind.stage_changed, timeout=WAIT_MS):
        window.blind_tests.start("abx", ["reference", "codec2-1200"], 3, 2, 1, "ann")
    first = window.blind.session.trials[0]
    window.blind.answer("A")
    [saved] = window.settings.blind_results_dir.glob("unfinished-blind-abx-3-*.json")
    assert window.blind_tests.resume(str(saved)) is None and "is the test under way" in window.prompts.messages.pop()
    path = saved.rename(saved.with_name("moved-by-the-user.json"))  # a name of its own: the one the test goes on saving to
    # Later (the app was closed, say): the setup page's button asks for the file and goes on from trial 2.
    window.blind.show_setup()
    monkeypatch.setattr(window.prompts, "open_file", lambda *args: str(path))
    with qtbot.waitSignal(window.blind.stage_changed, timeout=WAIT_MS):
        qtbot.mouseClick(window.blind.resume_button, Qt.MouseButton.LeftButton)
    session = window.blind.session
    assert session.answered == 1 and session.trials[0] == first and session.listener == "ann"
    assert window.blind.stage == "trial" and window.blind.trial_label.text().startswith("Trial 2 of 2")
    window.blind.answer("B")  # the last answer: the finished results replace the resumed file
    assert not path.exists() and window.prompts.messages == []
    assert not list(window.settings.blind_results_dir.glob("unfinished-*"))
    [results] = window.settings.blind_results_dir.glob("blind-abx-3-*.json")
    trials = json.loads(results.read_text())["trials"]
    assert [t["answer"] for t in trials] == ["A", "B"] and trials[0]["seconds"] == first.seconds


def test_a_mushra_test_resumes_at_its_next_graded_trial_without_training_again(qtbot, window, bundled):
    window.clips.load_bundled()
    with qtbot.waitSignal(window.blind.stage_changed, timeout=WAIT_MS):
        window.blind_tests.start("mushra", ["codec2-1200"], 8, 2, 1)
    blind = window.blind
    blind.start_graded()
    for label in blind.session.current().labels:  # rated through the session: the sliders' listening rule has its test
        blind.session.heard(label)
        blind.session.rate(label, 50)
    blind.submit()
    [saved] = window.settings.blind_results_dir.glob("unfinished-blind-mushra-8-*.json")
    path = saved.rename(saved.with_name("copy.json"))  # not the file of the test under way, which is refused
    blind.show_setup()  # the setup page, as after starting the app again
    with qtbot.waitSignal(blind.stage_changed, timeout=WAIT_MS):
        window.blind_tests.resume(str(path))
    assert blind.stage == "graded" and blind.session.answered == 1
    assert blind.mushra_label.text().startswith("Trial 2 of 2") and window.prompts.messages == []


def test_a_read_only_unfinished_file_is_resumed_into_a_new_one_and_left_as_it_was(qtbot, window, bundled, monkeypatch,
                                                                                  tmp_path):
    from workbench.controllers import blind_tests

    window.clips.load_bundled()
    ids = [window.library.model.rows[0]["id"]]
    session = BlindTest.plan("ab", ids, ["reference", "codec2-1200"], seed=5, repeats=2)
    session.answer("B")
    path = write_results(tmp_path / "unfinished-blind-ab-5.json", *session.progress())
    before = path.read_text()
    # Root may write anything, so the file's permissions cannot make it read-only in this test: the check can.
    monkeypatch.setattr(blind_tests.os, "access", lambda where, mode: Path(where) not in (path, path.parent))
    with qtbot.waitSignal(window.blind.stage_changed, timeout=WAIT_MS):
        window.blind_tests.resume(str(path))
    assert len(window.prompts.messages) == 1 and "read-only" in window.prompts.messages[0]
    assert window.blind_tests.progress_path.parent == window.settings.blind_results_dir
    window.blind.answer("A")
    assert path.read_text() == before
    [results] = window.settings.blind_results_dir.glob("blind-ab-5-*.json")
    assert [t["answer"] for t in json.loads(results.read_text())["trials"]] == ["B", "A"]


def test_resuming_a_test_whose_clips_are_not_in_the_library_says_what_to_open(window, tmp_path):
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    ids = [u.id for u in load_manifest(default_manifest())][:1]
    session = BlindTest.plan("ab", ids, ["reference", "codec2-1200"], seed=3, repeats=2)
    session.answer("A")
    path = write_results(tmp_path / "unfinished-blind-ab-3.json", *session.progress())
    assert window.blind_tests.resume(str(path)) is None  # the library is empty until a set is opened
    assert len(window.prompts.messages) == 1 and f"clip {ids[0]} is not in the library" in window.prompts.messages[0]
    assert "open the set or folder" in window.prompts.messages[0] and path.exists()


def test_closing_the_record_dialog_while_recording_asks_to_keep_the_take(qtbot, monkeypatch):
    from workbench.views.record_dialog import RecordDialog

    class Recording:  # a recorder two seconds into a take (the real one needs a sound card)
        recording, sample_rate = True, 16000

        def stop(self):
            self.recording = False
            return np.ones(32000, np.float32)

    for keep in (True, False):
        dialog = RecordDialog()
        qtbot.addWidget(dialog)
        dialog.recorder = Recording()
        monkeypatch.setattr(dialog, "keep_take", lambda seconds, keep=keep: seconds == 2.0 and keep)
        dialog.reject()  # Esc or the window's close button
        assert dialog.result() == (1 if keep else 0) and (dialog.take is not None) == keep
        assert not dialog.recorder.recording


def test_a_round_trip_is_not_queued_behind_slow_work(qtbot, window, bundled):
    """Slow tasks (a model loading for CER, cancelled codec calls running to their end) hold threads; a round trip
    started meanwhile still runs at once."""
    import threading

    from PySide6.QtCore import QThread

    from workbench.workers import Task

    release = threading.Event()
    cores = QThread.idealThreadCount()  # Qt's default pool size: every thread of it is held
    open_clip(qtbot, window, bundled[0].audio_path)
    slow = [Task(lambda task: release.wait(WAIT_MS / 1000)) for _ in range(cores + 1)]
    for task in slow:
        task.start()
    try:
        with qtbot.waitSignal(window.model.decoded_changed, timeout=20000):  # the slow ones wait 60 s
            window.clips.start_roundtrip("identity")
    finally:
        release.set()
        QThreadPool.globalInstance().waitForDone(WAIT_MS)  # the slow tasks end while the test still holds them


def test_the_toolbar_cancel_stops_running_metrics_too(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    round_trip(qtbot, window, "codec2-3200")  # its metrics task runs now
    assert window.tasks.running(METRICS) and window.codec_bar.cancel_button.isEnabled()
    window.tasks.cancel_toolbar()
    assert not window.tasks.running(METRICS) and not window.codec_bar.cancel_button.isEnabled()
    QThreadPool.globalInstance().waitForDone(WAIT_MS)
    qtbot.wait(50)
    assert window.model.metrics == {}


def test_opening_another_clip_stops_the_metrics_of_the_last_one(qtbot, window, bundled):
    open_clip(qtbot, window, str(bundled[0].audio_path))
    round_trip(qtbot, window, "codec2-3200")
    running = window.tasks.running(METRICS)
    assert running
    open_clip(qtbot, window, str(bundled[1].audio_path))
    assert not window.tasks.running(METRICS) and all(task.cancel_flag.is_set() for task in running)


def test_the_run_dialog_offers_the_last_output_folder(qtbot, window, tmp_path, monkeypatch):
    from workbench.views.run_dialog import RunDialog

    seen, started = [], []
    monkeypatch.setattr(window.evals, "start_eval_run", lambda *args: started.append(args))

    def answer(dialog):
        seen.append(dialog.folder.text())
        dialog.folder.setText(str(tmp_path / "runs" / "one"))
        return 1

    monkeypatch.setattr(RunDialog, "exec", answer)
    window.evals.new_eval_run()
    window.evals.new_eval_run()
    assert seen == ["", str(tmp_path / "runs" / "one")] and started[0][0] == str(tmp_path / "runs" / "one")


def test_the_input_condition_feeds_the_codec_a_noisy_clip_and_the_metrics_compare_with_the_clean_one(qtbot, window,
                                                                                                    bundled):
    from codec.dsp import active_level_db

    open_clip(qtbot, window, str(bundled[0].audio_path))
    window.codec_bar.select_codec("identity")
    assert window.codec_bar.condition() == "" and "clean" in window.codec_bar.condition_combo.lineEdit().placeholderText()
    window.codec_bar.set_condition("white10")
    round_trip(qtbot, window, None)
    clip, decoded = window.model.clip, window.model.decoded
    assert window.model.roundtrip.codec == "identity@white10"
    noise = decoded.astype(np.float64) - clip.samples
    speech_db = active_level_db(clip.samples.astype(np.float64), clip.sample_rate)
    assert speech_db - 10 * np.log10(np.mean(noise**2)) == pytest.approx(10, abs=0.05)  # SNR against the active level
    window.codec_bar.set_condition("reverb0.6@fog")  # typed: refused before any work starts
    assert window.clips.start_roundtrip() is None and "unknown input condition 'fog'" in window.prompts.messages[-1]


def test_metrics_of_a_round_trip_under_reverb_align_with_what_the_codec_heard(qtbot, window, bundled):
    """Eval left this clip's PESQ missing under opus-6k@reverb0.6 while it aligned the output with the clean clip."""
    [utterance] = [u for u in bundled if u.id == "ru/conf-full"]
    open_clip(qtbot, window, str(utterance.audio_path))
    window.codec_bar.select_codec("opus-6k")
    window.codec_bar.set_condition("reverb0.6")
    round_trip(qtbot, window, None)
    qtbot.waitUntil(lambda: "PESQ-WB" in window.model.metrics, timeout=WAIT_MS)
    assert isinstance(window.model.metrics["PESQ-WB"], float), window.model.metrics["PESQ-WB"]


def test_the_run_dialog_adds_input_conditions_with_identity_as_each_floor(qtbot, window, tmp_path, monkeypatch):
    from workbench.views.run_dialog import RunDialog

    started = []
    monkeypatch.setattr(window.evals, "start_eval_run", lambda *args: started.append(args))
    typed = iter(["white10  tel", "hum5"])

    def answer(dialog):
        dialog.folder.setText(str(tmp_path / "run"))
        dialog.conditions.setText(next(typed))
        return 1

    monkeypatch.setattr(RunDialog, "exec", answer)
    window.evals.new_eval_run()
    codec = window.codec_bar.codec()
    assert started[0][1] == [codec, "identity@white10", f"{codec}@white10", "identity@tel", f"{codec}@tel"]
    window.evals.new_eval_run()
    assert len(started) == 1 and "unknown input condition 'hum5'" in window.prompts.messages[-1]


def test_the_installed_pyside_keeps_reference_counts_when_signals_fire_and_tasks_run():
    """PySide6 6.12.0 dropped a reference to True on every emit and to None on every pool task, so the app (and
    this suite) died at exit with "bool_dealloc"/"none_dealloc"; pyproject excludes it, and this catches another."""
    from PySide6.QtCore import QObject, Signal

    from workbench.workers import Task

    class Probe(QObject):
        fired = Signal()

    probe = Probe()
    probe.fired.connect(lambda: None)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(500):
        probe.fired.emit()
    tasks = [Task(lambda task: None) for _ in range(200)]
    for task in tasks:
        task.start()
    QThreadPool.globalInstance().waitForDone(WAIT_MS)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert after[0] > before[0] - 50 and after[1] > before[1] - 50, (before, after)


def test_a_finished_or_cancelled_task_lets_go_of_its_inputs_and_of_what_its_caller_handed_on(qtbot):
    """A task (and a display redraw is one per zoom) must not keep a long clip's samples alive after it ended."""
    import gc
    import threading
    import weakref

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QWidget

    from workbench.controllers.prompts import Prompts
    from workbench.controllers.task_runner import TaskRunner
    from workbench.workers import Task

    parent = QWidget()
    qtbot.addWidget(parent)
    runner = TaskRunner(Prompts(parent))
    release = threading.Event()
    held, freed_on, let_go = [], [], []
    for cancel in (False, True):
        samples, shown = np.zeros(1000, np.float32), np.zeros(1000, np.float32)
        held += [weakref.ref(samples), weakref.ref(shown)]
        task = runner.start(METRICS, Task(lambda x, task: release.wait(WAIT_MS / 1000) and x.size, samples),
                            lambda size, shown=shown: shown.fill(size), "metrics")
        held.append(weakref.ref(task))
        let_go.append(task.released)
        task.destroyed.connect(lambda *_: freed_on.append(threading.get_ident()), Qt.ConnectionType.DirectConnection)
        if cancel:
            task.cancel()
        with qtbot.waitSignal(task.ended, timeout=WAIT_MS):
            release.set()
        release.clear()
        del samples, shown, task
    qtbot.waitUntil(lambda: all(event.is_set() for event in let_go), timeout=WAIT_MS)
    runner.start(METRICS, Task(lambda task: None), print, "one more")  # frees what earlier workers let go of
    gc.collect()
    assert [ref() is None for ref in held] == [True] * 6
    assert freed_on == [threading.get_ident()] * 2  # a QObject is deleted on its own (the GUI) thread


def test_the_task_runner_replaces_refuses_runs_side_by_side_and_cancels_everything_at_exit(qtbot):
    import threading

    from PySide6.QtWidgets import QWidget

    from workbench.controllers.prompts import Prompts
    from workbench.controllers.task_runner import TaskRunner
    from workbench.workers import Task

    release = threading.Event()
    parent = QWidget()
    qtbot.addWidget(parent)
    runner = TaskRunner(Prompts(parent))

    def slow(task):
        release.wait(WAIT_MS / 1000)

    try:
        first = runner.start(ROUND_TRIP, Task(slow), print, "one")
        second = runner.start(ROUND_TRIP, Task(slow), print, "two")
        assert first.cancel_flag.is_set() and runner.running(ROUND_TRIP) == [second]  # a new round trip replaces
        metrics = [runner.start(METRICS, Task(slow), print, "metrics") for _ in range(2)]
        assert runner.running(METRICS) == metrics and runner.cancellable()  # metrics run side by side
        run = runner.start(EVAL_RUN, Task(slow), print, "eval")
        assert runner.start(EVAL_RUN, Task(slow), print, "eval") is None  # one eval run at a time
        runner.cancel_toolbar()
        assert not runner.cancellable() and runner.running(EVAL_RUN) == [run]  # the toolbar leaves the run alone
        runner.close()  # the window closes
        assert run.cancel_flag.is_set() and not runner.running()
        assert runner.running(EVAL_RUN) == [run]  # still writing until its work returns
        late = []  # a redraw timer firing after close starts nothing, so nothing lands in deleted views
        assert runner.start(DISPLAY, Task(lambda task: 1), late.append, "drawing") is None
    finally:
        release.set()
    qtbot.waitUntil(lambda: not runner.running(EVAL_RUN), timeout=WAIT_MS)
    assert late == []
