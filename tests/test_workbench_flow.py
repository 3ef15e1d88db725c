"""The workbench's flow, headless: listening tests that unlock per stimulus and keep every rating, aimed batch runs,
the language and transcript of one's own clips, and the smaller fixes of issue #23."""

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from codec.errors import UserError  # noqa: E402
from workbench import unfinished  # noqa: E402
from workbench.audio_io import Player  # noqa: E402
from workbench.blind_test import NO_PREFERENCE, BlindTest, result_bars, write_results  # noqa: E402
from workbench.blind_test import describe as describe_blind  # noqa: E402
from workbench.mushra import MushraTest  # noqa: E402
from workbench.views.blind_test_view import BlindTestView  # noqa: E402
from workbench_waits import WAIT_MS, open_clip  # noqa: E402

RATE = 16000
SECONDS = 2.0


@pytest.fixture
def mushra_view(qtbot, monkeypatch):
    """A blind-test view on a graded MUSHRA trial of one 2 s clip; playing only selects (the test renders the
    audio callback's blocks by hand, so what was heard is exact)."""
    player = Player()
    monkeypatch.setattr(player, "play", lambda: None)
    view = BlindTestView(player)
    qtbot.addWidget(view)
    session = MushraTest.plan(["c"], ["opus-6k"], seed=3, anchors=("lowpass-3.5k",))
    rng = np.random.default_rng(0)
    stimuli = {("c", condition): rng.standard_normal(int(SECONDS * RATE)).astype(np.float32) * 0.1
               for condition in session.conditions}
    view.begin(session, stimuli, {"c": RATE})
    view.start_graded()
    return view


def listen(player: Player, seconds: float) -> None:
    player.render(int(seconds * RATE))


def test_each_mushra_stimulus_has_its_own_play_position_and_heard_time(qtbot, mushra_view):
    view, player = mushra_view, mushra_view.player
    view.play("1")
    listen(player, 1.8)  # near the end of stimulus 1
    view.play("2")
    assert player.selected == "2" and player.position == 0.0  # from its own start, not at 1.8 s of 2 s
    listen(player, 1.0)
    qtbot.waitUntil(view.sliders["2"].isEnabled, timeout=2000)
    assert not view.sliders["3"].isEnabled() and view.slider_values["3"].text() == "heard 0.0 of 1 s"
    view.play("1")
    assert player.position == pytest.approx(1.8)  # where stimulus 1 was left
    view.play("3")
    listen(player, 0.4)
    qtbot.waitUntil(lambda: view.slider_values["3"].text() == "heard 0.4 of 1 s", timeout=2000)
    assert view.sliders["1"].isEnabled()  # 1.8 s of it were heard


def test_the_playing_stimulus_is_shown(qtbot, mushra_view, monkeypatch):
    view = mushra_view
    monkeypatch.setattr(type(view.player), "playing", property(lambda self: True))
    view.play("2")
    qtbot.waitUntil(lambda: view.stimulus_buttons["2"].text() == "\u25b6 Playing 2", timeout=2000)
    assert view.stimulus_buttons["1"].text() == "Play 1" and view.reference_button.text() == "Play reference"


def test_ratings_of_the_trial_under_way_are_saved_and_come_back_on_resume(qtbot, mushra_view, tmp_path):
    view, session = mushra_view, mushra_view.session
    path = tmp_path / "unfinished-blind-mushra-3.json"
    view.progressed.connect(lambda: write_results(path, *view.session.progress()))
    for label in ("1", "2"):
        view.play(label)
        listen(view.player, 1.0)
    qtbot.waitUntil(view.sliders["2"].isEnabled, timeout=2000)
    view.sliders["1"].setValue(30)
    view.sliders["2"].setValue(70)
    # quit here, mid-trial: the file holds both ratings
    resumed = unfinished.resume(path)
    assert resumed.answered == 0 and resumed.rating("1") == 30 and resumed.rating("2") == 70
    assert resumed.was_heard("2") and not resumed.was_heard("3")

    again = BlindTestView(Player())
    qtbot.addWidget(again)
    again.begin(resumed, view.stimuli, {"c": RATE})
    assert again.stage == "graded"  # no training again: the listener was rating
    assert again.sliders["2"].value() == 70 and again.sliders["2"].isEnabled() and not again.sliders["3"].isEnabled()
    assert again.slider_values["1"].text() == "30" and again.slider_values["3"].text().startswith("heard")
    for label in resumed.unrated():
        resumed.heard(label)
        resumed.rate(label, 50)
    resumed.submit()
    assert {session.codec_for(lab): r for lab, r in (("1", 30), ("2", 70))}.items() <= resumed.trials[0].ratings.items()


def test_ratings_under_way_that_do_not_fit_the_plan_are_refused(tmp_path):
    session = MushraTest.plan(["c1", "c2"], ["opus-6k"], seed=4)
    session.heard("1")
    session.rate("1", 40)
    head, rows = session.progress()
    head["under_way"]["ratings"] = {"not-a-codec": 40}
    path = tmp_path / "unfinished.json"
    write_results(path, head, rows)
    with pytest.raises(UserError, match="do not match"):
        unfinished.resume(path)


def test_ab_results_count_every_codec_and_no_preference_and_read_as_text():
    session = BlindTest.plan("ab", ["c1", "c2", "c3"], ["reference", "opus-6k", "codec2-1200"], seed=2)
    while not session.finished:
        a, b = session.codec_for("A"), session.codec_for("B")
        session.answer("A" if a == "reference" else "B" if b == "reference" else NO_PREFERENCE)
    summary = session.reveal()
    assert summary["preferred"] == {"reference": 6, "opus-6k": 0, "codec2-1200": 0}
    assert summary["no_preference"] == 3
    text = describe_blind(session)
    assert "opus-6k: 0 of 9" in text and "no preference: 3 of 9" in text and "{" not in text
    title, bars = result_bars(summary)
    assert bars == {"reference": 6, "opus-6k": 0, "codec2-1200": 0, "no preference": 3}
    abx = BlindTest.plan("abx", ["c1"], ["reference", "opus-6k"], seed=2)
    with pytest.raises(UserError, match="one of A, B"):
        abx.answer(NO_PREFERENCE)  # X is one of them: there is no "no preference"


# --- aimed batch runs ----------------------------------------------------------------------------------------------



def run_dialog(window, tmp_path, **kwargs):
    from workbench.views.run_dialog import RunDialog

    library = window.clips.library
    return RunDialog(["identity", "codec2-3200"], "identity", str(tmp_path / "run"), bundled=library.utterances(),
                     chosen=library.utterances(selected=True), **kwargs)


def test_a_run_is_aimed_at_a_language_of_the_bundled_clips_with_a_time_estimate(qtbot, window, tmp_path):
    from workbench import run_plan

    window.clips.load_bundled()
    dialog = run_dialog(window, tmp_path)
    qtbot.addWidget(dialog)
    langs = [dialog.language.itemData(i) for i in range(dialog.language.count())]
    assert langs[0] == run_plan.ALL_LANGUAGES and len(langs) == 6  # the five bundled languages
    assert dialog.estimate.text().startswith("85 clips") and "round trips" in dialog.estimate.text()
    dialog.language.setCurrentIndex(dialog.language.findData("fr"))
    chosen = dialog.chosen_utterances()
    assert chosen and {u.lang for u in chosen} == {"fr"} and len(chosen) < 85
    assert dialog.estimate.text().startswith(f"{len(chosen)} clips")


def test_a_run_of_the_clips_chosen_in_the_library_evaluates_only_those(qtbot, window, tmp_path):
    window.clips.load_bundled()
    library = window.clips.library
    library.table.selectRow(0)
    library.table.selectionModel().select(library.proxy.index(3, 0), library.table.selectionModel().SelectionFlag.Select
                                          | library.table.selectionModel().SelectionFlag.Rows)
    picked = library.utterances(selected=True)
    assert len(picked) == 2
    dialog = run_dialog(window, tmp_path)
    qtbot.addWidget(dialog)
    dialog.source.setCurrentIndex(dialog.source.findData("selected"))
    with qtbot.waitSignal(window.evals.report_wanted, timeout=WAIT_MS):
        window.evals.start_from(dialog)
    qtbot.waitUntil(lambda: window.report.model.rowCount() == 2, timeout=WAIT_MS)
    assert {r["utt_id"] for r in window.report.model.rows} == {u.id for u in picked}
    summary = window.report.summary.rows
    assert summary[0]["codec"] == "identity" and summary[0]["lang"] == "all" and summary[0]["n"] == 2
    assert {r["lang"] for r in summary[1:]} == {u.lang for u in picked}
    assert window.report.html_button.isEnabled()


def test_a_run_of_ones_own_folder_and_a_bad_folder_is_refused_in_one_line(qtbot, window, tmp_path):
    import soundfile

    own = tmp_path / "mine"
    own.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        soundfile.write(own / f"{name}.wav", rng.standard_normal(16000).astype(np.float32) * 0.1, 16000)
    dialog = run_dialog(window, tmp_path)
    qtbot.addWidget(dialog)
    dialog.source.setCurrentIndex(dialog.source.findData("own"))
    assert "choose a folder" in dialog.estimate.text()
    dialog.own_path.setText(str(tmp_path / "nowhere"))
    dialog.own_path.editingFinished.emit()
    with pytest.raises(UserError, match="nowhere"):
        dialog.chosen_utterances()
    dialog.own_path.setText(str(own))
    dialog.own_path.editingFinished.emit()
    assert [u.id for u in dialog.chosen_utterances()] == ["a", "b"] and dialog.estimate.text().startswith("2 clips")


def test_cancelling_a_run_shows_the_rows_it_finished_and_the_report_can_be_written(qtbot, window, bundled, tmp_path,
                                                                                 monkeypatch):
    from workbench.controllers.task_runner import EVAL_RUN

    opened = []
    monkeypatch.setattr("workbench.controllers.eval_runs.QDesktopServices.openUrl", lambda url: opened.append(url))
    statuses = []
    monkeypatch.setattr(window.prompts, "status", lambda text, ms=0: statuses.append(text))
    task = window.evals.start_eval_run(str(tmp_path / "run"), ["identity"], ["si_sdr"], utterances=bundled[:12])
    with qtbot.waitSignal(task.progress, timeout=WAIT_MS):
        pass
    window.evals.cancel_eval_run()
    qtbot.waitUntil(lambda: not window.tasks.running(EVAL_RUN), timeout=WAIT_MS)
    assert 0 < window.report.model.rowCount() < 12
    assert window.report.title.text().startswith("Cancelled") and "rows kept" in statuses[-1]
    assert not (tmp_path / "run" / "report.html").exists()
    with qtbot.waitSignal(window.tasks.idle, timeout=WAIT_MS):
        window.evals.open_html_report()
    qtbot.waitUntil(lambda: bool(opened), timeout=WAIT_MS)
    assert (tmp_path / "run" / "report.html").is_file() and opened[0].toLocalFile().endswith("report.html")


# --- language and transcript of one's own clips ---------------------------------------------------------------------


def fake_asr(monkeypatch, heard: dict):
    """ASR that hears what `heard` says for the original (the first call) and the decoded audio (the second)."""
    calls = iter([heard["original"], heard["decoded"]] * 4)
    monkeypatch.setattr("eval.asr.transcribe", lambda samples, sr, lang: next(calls))


def test_without_a_transcript_cer_compares_with_the_asr_of_the_original_and_says_so(monkeypatch):
    from workbench.clip_metrics import asr_errors

    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    fake_asr(monkeypatch, {"original": "hello world", "decoded": "hello word"})
    out = asr_errors(audio, audio, 16000, "", "en")
    assert out["CER decoded vs ASR(original)"] == pytest.approx(1 / 11)  # one deletion in 11 characters
    assert "no transcript" in out["CER reference"] and "CER original" not in out
    fake_asr(monkeypatch, {"original": "hello world", "decoded": "hello word"})
    out = asr_errors(audio, audio, 16000, "hello world", "en")
    assert out["CER original"] == 0.0 and out["CER decoded"] == pytest.approx(1 / 11) and "CER reference" not in out
    assert "unknown" in asr_errors(audio, audio, 16000, "", "")["CER"]


def record_and_round_trip(qtbot, window, speech):
    samples, rate = speech
    path = window.clips.use_take(samples, rate)
    with qtbot.waitSignal(window.model.decoded_changed, timeout=WAIT_MS):
        window.clips.start_roundtrip("identity")
    return path


def cer_of(qtbot, window) -> dict:
    with qtbot.waitSignal(window.model.metrics_changed, timeout=10 * WAIT_MS,
                          check_params_cb=lambda *a: any(k.startswith("CER") for k in window.model.metrics)):
        window.clips.compute_cer()
    return window.model.metrics


def test_a_language_set_on_a_recording_gives_a_cer_and_is_remembered_for_its_file(qtbot, window, speech, monkeypatch):
    path = record_and_round_trip(qtbot, window, speech)
    library = window.library
    assert library.clip_box.isEnabled() and library.clip_lang.currentText() == ""
    assert "language is unknown" in cer_of(qtbot, window)["CER"]
    library.clip_lang.setCurrentText("xx")
    library.clip_apply.click()
    assert "unknown language code" in window.prompts.messages[-1] and window.model.clip.lang == ""
    library.clip_lang.setCurrentText("en")
    library.clip_apply.click()
    assert window.model.clip.lang == "en" and "CER" not in window.model.metrics  # the stale reason is gone
    fake_asr(monkeypatch, {"original": "the same words", "decoded": "the same words"})
    metrics = cer_of(qtbot, window)
    assert metrics["CER decoded vs ASR(original)"] == 0.0 and "no transcript" in metrics["CER reference"]

    open_clip(qtbot, window, str(path))  # later: the file keeps what was set for it
    assert window.model.clip.lang == "en" and library.clip_lang.currentText() == "en"
    assert window.settings.clip_info(path) == ("en", "")


@pytest.mark.slow
def test_a_recording_given_a_language_gets_a_cer_from_the_bundled_asr(qtbot, window, speech):
    record_and_round_trip(qtbot, window, speech)
    window.library.clip_lang.setCurrentText("en")
    window.library.clip_apply.click()
    metrics = cer_of(qtbot, window)
    assert metrics["CER decoded vs ASR(original)"] == pytest.approx(0.0, abs=0.05)  # identity: ASR hears the same
    assert metrics["ASR (original)"].strip()


def test_recent_files_leave_out_files_that_were_deleted(tmp_path):
    from workbench.settings import Settings

    settings = Settings(tmp_path / "s.ini")
    kept, gone = tmp_path / "kept.wav", tmp_path / "gone.wav"
    kept.write_bytes(b"x")
    gone.write_bytes(b"x")
    settings.add_recent(kept)
    settings.add_recent(gone)
    gone.unlink()
    assert settings.recent_files == [str(kept)]


# --- the smaller fixes ----------------------------------------------------------------------------------------------


class FakeRecorder:
    """An input that hears a steady -20 dBFS; counts what it was asked to keep."""

    started = 0

    def __init__(self, device=None, sample_rate=16000):
        self.sample_rate, self.recording, self.seconds, self.input_latency = sample_rate, False, 0.0, 0.01
        self.level_db = (-20.0, -14.0)

    def start(self):
        FakeRecorder.started += 1
        self.recording = True

    def stop(self):
        self.recording = False
        return np.full(16000 * FakeRecorder.started, 0.1, np.float32)


def test_the_level_meter_is_empty_before_any_input_and_the_level_check_records_nothing(qtbot, monkeypatch):
    from workbench.views import record_dialog

    monkeypatch.setattr(record_dialog.audio_io, "Recorder", FakeRecorder)
    FakeRecorder.started = 0
    dialog = record_dialog.RecordDialog()
    qtbot.addWidget(dialog)
    assert dialog.meter.value() == record_dialog.METER_FLOOR_DB and dialog.meter.text() == "no input yet"
    assert dialog.monitor() and dialog.monitoring
    qtbot.waitUntil(lambda: dialog.meter.value() == -20, timeout=2000)
    assert dialog.elapsed.text() == "not recording" and dialog.record_button.isEnabled()
    checked = dialog.recorder
    assert dialog.start() and not checked.recording and dialog.recorder is not checked  # the check is dropped
    assert not dialog.monitoring and dialog.stop_button.isEnabled()
    dialog.stop()
    assert dialog.result() == 1 and len(dialog.take) == 32000  # the take's recorder, not the level check's


def test_a_text_file_named_nemo_is_refused_on_choosing_and_the_checkpoint_in_use_says_where_from(window, tmp_path,
                                                                                                 monkeypatch):
    from workbench.controllers.codecs import active_checkpoint

    fake = tmp_path / "model.nemo"
    fake.write_text("not a checkpoint")
    window.codecs.choose_checkpoint(str(fake))
    assert "not a readable .nemo archive" in window.prompts.messages[-1] and window.settings.checkpoint != str(fake)
    assert active_checkpoint() == "none chosen"
    real = Path(__file__).parent / "fixtures" / "nemo" / "lfsc_small.nemo"
    other = tmp_path / "other.nemo"
    other.write_bytes(real.read_bytes())
    monkeypatch.setenv("LFSC_CHECKPOINT", str(other))
    window.codecs.choose_checkpoint(str(real))
    assert window.settings.checkpoint == str(real) and "not in use" in window.prompts.messages[-1]
    assert "LFSC_CHECKPOINT" in window.prompts.messages[-1] and "wins over" in active_checkpoint()
    assert str(other) in window.codec_bar.checkpoint_button.toolTip()
    monkeypatch.delenv("LFSC_CHECKPOINT")
    assert active_checkpoint().startswith(str(real))


def test_the_mic_round_trip_breakdown_shows_what_is_not_coding_and_preloading_fills_the_cache():
    from workbench.clip_model import Latency
    from workbench.controllers.recording import preload
    from workbench.roundtrip import CodecCache

    rows = dict(Latency(0.01, 0.2, 0.3, 0.02, 2.85).summary())
    assert rows["of which other (model loading, queueing)"] == "2350.0 ms"
    cache = CodecCache()
    assert preload("codec2-1200", "auto", cache) and len(cache._codecs) == 1
    assert not preload("no-such-codec", "auto", cache)


def test_the_input_condition_box_shows_a_chain_whole(window):
    combo = window.codec_bar.condition_combo
    assert combo.minimumSizeHint().width() > combo.fontMetrics().horizontalAdvance("reverb0.6@white10")
