"""Pure logic of the workbench: blind-test sessions, spectrograms, the player's A/B rendering (no Qt, no device)."""

import csv
import json

import numpy as np
import pytest

from codec.errors import UserError
from workbench import spectrogram
from workbench.audio_io import Player
from workbench.blind_test import BlindTest, binomial_p_value


class FakeClock:
    """A clock the test advances by hand, so trial timings are exact (this is the thing measured, not mocked)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plan_is_reproducible_from_its_seed_and_covers_every_pair():
    a = BlindTest.plan("abx", ["c1", "c2"], ["reference", "opus-6k", "codec2-3200"], seed=7, repeats=2)
    b = BlindTest.plan("abx", ["c1", "c2"], ["reference", "opus-6k", "codec2-3200"], seed=7, repeats=2)
    assert [(t.clip, t.codec_a, t.codec_b, t.x_is) for t in a.trials] == [
        (t.clip, t.codec_a, t.codec_b, t.x_is) for t in b.trials
    ]
    assert len(a.trials) == 2 * 3 * 2  # clips x pairs x repeats
    pairs = {frozenset((t.codec_a, t.codec_b)) for t in a.trials}
    assert len(pairs) == 3
    # sides are randomised: some pair appears with both orders
    assert len({(t.codec_a, t.codec_b) for t in a.trials}) > 3
    assert {t.x_is for t in a.trials} == {"A", "B"}


def test_identities_stay_hidden_until_the_end_and_results_are_written(tmp_path):
    clock = FakeClock()
    session = BlindTest.plan("ab", ["c1", "c2"], ["reference", "codec2-700c"], seed=3, clock=clock)
    with pytest.raises(UserError, match="hidden"):
        session.reveal()
    visible = session.current()
    assert not any("codec" in str(v) or "reference" in str(v) for v in vars(visible).values())
    for i in range(len(session.trials)):
        session.start()
        clock.now += 1.5 + i
        # always prefer whichever side is the reference
        session.answer("A" if session.codec_for("A") == "reference" else "B")
    assert session.reveal()["preferred"] == {"reference": 2, "codec2-700c": 0}  # never preferred is a result too
    csv_path = session.save(tmp_path / "r.csv")
    json_path = session.save(tmp_path / "r.json")
    rows = list(csv.DictReader(csv_path.open()))
    assert [float(r["seconds"]) for r in rows] == [1.5, 2.5]
    assert {r["chosen_codec"] for r in rows} == {"reference"} and {r["seed"] for r in rows} == {"3"}
    data = json.loads(json_path.read_text())
    assert data["summary"]["seed"] == 3 and len(data["trials"]) == 2


def test_abx_scores_correct_answers_with_a_binomial_p_value():
    session = BlindTest.plan("abx", ["c"], ["reference", "opus-6k"], seed=1, repeats=6)
    for trial in session.trials:
        session.answer(trial.x_is)
    summary = session.reveal()
    assert summary["correct"] == 6
    assert summary["p_value"] == pytest.approx(1 / 64)
    assert binomial_p_value(3, 6) == pytest.approx(42 / 64)


def test_plan_refuses_a_single_codec():
    with pytest.raises(UserError, match="two different codecs"):
        BlindTest.plan("ab", ["c"], ["opus-6k", "opus-6k"])


def test_spectrogram_peaks_at_the_tone_on_linear_and_log_axes():
    sr = 16000
    t = np.arange(sr) / sr
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    lin = spectrogram.compute(x, sr, db_range=60)
    assert lin.levels.max() == 0 and lin.levels.min() == -60
    peak_hz = lin.levels[lin.levels.shape[0] // 2].argmax() * (sr / 2) / (lin.levels.shape[1] - 1)
    assert abs(peak_hz - 1000) < sr / spectrogram.window_size(sr)
    log = spectrogram.compute(x, sr, db_range=60, log_frequency=True)
    row = log.levels[log.levels.shape[0] // 2]
    peak_log = log.f_low + row.argmax() * (log.f_high - log.f_low) / (len(row) - 1)
    assert abs(10**peak_log - 1000) < 60


def test_player_switches_signal_at_the_same_position_and_loops():
    sr = 1000
    a = np.arange(3000, dtype=np.float32)
    b = -np.arange(3000, dtype=np.float32)
    player = Player()
    player.set_sources({"original": a, "decoded": b}, sr)
    first, _ = player.render(700)
    player.select("decoded")
    assert player.position == pytest.approx(0.7)
    second, _ = player.render(300)
    np.testing.assert_array_equal(np.concatenate([first, second]), np.concatenate([a[:700], b[700:1000]]))
    player.set_loop(2.0, 2.5)
    looped, ended = player.render(1000)
    np.testing.assert_array_equal(looped, np.concatenate([b[2000:2500], b[2000:2500]]))
    assert not ended
    player.set_loop(None)
    player.seek(2.9)
    tail, ended = player.render(200)
    assert ended and np.array_equal(tail[:100], b[2900:]) and not tail[100:].any()


def test_a_loop_is_cut_to_a_shorter_clip_and_dropped_at_another_rate():
    """A loop set on a long clip must not outlive it: rendering a shorter clip once crashed the audio callback."""
    player = Player()
    player.set_sources({"original": np.ones(3000, np.float32)}, 1000)
    player.set_loop(1.0, 2.8)
    player.set_sources({"original": np.full(2000, 0.5, np.float32)}, 1000)
    block, ended = player.render(2500)  # loops within [1000, 2000)
    assert not ended and np.all(block == 0.5)
    player.set_sources({"original": np.full(500, 0.5, np.float32)}, 1000)  # the loop lies past the end: gone
    player.seek(0.0)
    block, ended = player.render(600)
    assert ended and np.all(block[:500] == 0.5) and not block[500:].any()
    player.set_sources({"original": np.ones(3000, np.float32)}, 1000)
    player.set_loop(1.0, 2.0)
    player.set_sources({"original": np.ones(3000, np.float32)}, 2000)
    player.seek(0.0)
    assert not player.render(3000)[1] and player.render(1)[1]  # plays to the end: no loop


def test_frame_distance_is_zero_for_a_copy_and_peaks_where_the_signals_differ():
    sr = 16000
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(2 * sr)).astype(np.float32)
    same, times = spectrogram.frame_distance(x, x.copy(), sr)
    assert not same.any() and times[1] - times[0] == spectrogram.window_size(sr) // 4 / sr
    y = x.copy()
    y[sr : sr + sr // 4] = 0.0  # a dropout from 1.0 s to 1.25 s
    distance, times = spectrogram.frame_distance(x, y, sr)
    assert 1.0 <= times[distance.argmax()] <= 1.25
    assert distance[times < 0.9].max() == 0.0


def test_the_player_counts_how_much_of_each_signal_has_played():
    player = Player()
    player.set_sources({"a": np.zeros(8000, np.float32), "b": np.ones(8000, np.float32)}, 8000)
    assert player.duration == 1.0 and player.played_seconds("a") == 0.0
    player.render(2000)
    player.select("b")
    player.render(4000)
    player.render(4000)  # runs past the end: only what was there counts
    assert player.played_seconds("a") == 0.25 and player.played_seconds("b") == 0.75
    player.set_sources({"a": np.zeros(800, np.float32)}, 8000)  # new signals: nothing of them has played
    assert player.played_seconds("a") == 0.0 and player.played_seconds("b") == 0.0
