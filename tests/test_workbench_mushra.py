"""MUSHRA sessions (pure logic): planning, hidden identities, rating rules, post-screening, agreement with metrics."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from codec.errors import UserError
from eval.listening import LOW_ANCHOR, MID_ANCHOR
from workbench.mushra import MAX_STIMULI, OPEN_REFERENCE, MushraTest, describe

CODECS = ["opus-6k", "codec2-3200"]


def rate_all(session: MushraTest, score_of) -> None:
    """Listen to and rate every stimulus of every trial with `score_of(clip, condition)`, submitting each trial."""
    while not session.finished:
        session.start()
        for label in session.current().labels:
            session.heard(label)
            session.rate(label, score_of(session.current().clip, session.codec_for(label)))
        session.submit()


def test_plan_is_reproducible_and_every_trial_holds_the_hidden_reference_the_anchors_and_each_codec_once():
    a = MushraTest.plan(["c1", "c2", "c3"], ["reference", "opus-6k", MID_ANCHOR, "codec2-3200"], seed=5, repeats=2)
    b = MushraTest.plan(["c1", "c2", "c3"], CODECS, seed=5, repeats=2)
    assert [(t.clip, t.order) for t in a.trials] == [(t.clip, t.order) for t in b.trials]
    assert a.conditions == ["reference", LOW_ANCHOR, MID_ANCHOR, *CODECS]  # ticked reference/anchor not doubled
    assert sorted(t.clip for t in a.trials) == ["c1", "c1", "c2", "c2", "c3", "c3"]
    for trial in a.trials:
        assert sorted(trial.order) == sorted(a.conditions)
    assert len({tuple(t.order) for t in a.trials}) > 1  # the stimuli are shuffled per trial
    visible = a.current()
    assert visible.labels == ("1", "2", "3", "4", "5") and visible.total == 6
    assert a.codec_for(OPEN_REFERENCE) == "reference"
    assert [a.codec_for(label) for label in visible.labels] == a.trials[0].order


def test_plans_that_cannot_make_a_mushra_trial_are_refused_with_the_reason():
    with pytest.raises(UserError, match="at least one codec under test"):
        MushraTest.plan(["c"], ["reference", LOW_ANCHOR])
    with pytest.raises(UserError, match="at least one clip"):
        MushraTest.plan([], CODECS)
    with pytest.raises(UserError, match=f"at most {MAX_STIMULI - 3} codecs"):
        MushraTest.plan(["c"], [f"codec{i}" for i in range(MAX_STIMULI - 2)])
    MushraTest.plan(["c"], [f"codec{i}" for i in range(MAX_STIMULI - 3)])


def test_a_stimulus_is_rated_only_once_heard_and_a_trial_is_submitted_only_when_all_are_rated():
    session = MushraTest.plan(["c"], CODECS, seed=1)
    with pytest.raises(UserError, match="listen to stimulus 2"):
        session.rate("2", 50)
    assert not session.has_answers
    session.heard("2")
    with pytest.raises(UserError, match="0 to 100"):
        session.rate("2", 101)
    with pytest.raises(UserError, match="no stimulus '9'"):
        session.rate("9", 50)
    session.rate("2", 50)
    session.rate("2", 60)  # a changed mind replaces the rating
    assert session.trials[0].ratings == {session.codec_for("2"): 60}
    assert session.has_answers and session.answered == 0  # one rating is work that quitting would throw away
    with pytest.raises(UserError, match="1, 3, 4, 5 not rated"):
        session.submit()
    assert session.progress()[1] == []  # nothing submitted yet
    with pytest.raises(UserError, match="hidden until the end"):
        session.reveal()


def test_scores_are_the_mean_rating_per_condition_and_the_seconds_are_timed():
    now = [10.0]
    session = MushraTest.plan(["c1", "c2"], CODECS, seed=3, repeats=2, clock=lambda: now[0])
    given = {("c1", "opus-6k"): [70, 80], ("c2", "opus-6k"): [40, 50]}
    seen: dict = {}

    def score(clip, condition):
        if condition == "opus-6k":
            seen[clip] = seen.get(clip, -1) + 1
            return given[(clip, condition)][seen[clip]]
        return 100 if condition == "reference" else 30

    while not session.finished:
        session.start()
        now[0] += 12.5
        for label in session.current().labels:
            session.heard(label)
            session.rate(label, score(session.current().clip, session.codec_for(label)))
        session.submit()
    scores = session.reveal()["scores"]
    # repeats of a clip are one item: (75 + 45) / 2 over n = 2 items, not four independent ratings
    assert scores["opus-6k"]["value"] == pytest.approx(60.0) and scores["opus-6k"]["n"] == 2
    assert scores["opus-6k"]["low"] == 45 and scores["opus-6k"]["high"] == 75
    assert scores["reference"]["value"] == 100.0 and list(scores) == session.conditions
    assert [t.seconds for t in session.trials] == [12.5] * 4


@pytest.mark.parametrize(
    "low_reference_trials, high_anchor_trials, excluded",
    [(1, 0, False), (2, 0, True), (0, 1, False), (0, 2, True)],
)
def test_post_screening_excludes_a_listener_past_15_percent_of_items(low_reference_trials, high_anchor_trials, excluded):
    session = MushraTest.plan([f"c{i}" for i in range(10)], CODECS, seed=2)
    clips = sorted(t.clip for t in session.trials)

    def score(clip, condition):
        if condition == "reference":
            return 85 if clip in clips[:low_reference_trials] else 95
        if condition == MID_ANCHOR:
            return 95 if clip in clips[:high_anchor_trials] else 70
        return 40

    rate_all(session, score)
    screening = session.reveal()["post_screening"]
    assert screening["hidden_reference_below_90"] == pytest.approx(low_reference_trials / 10)
    assert screening["mid_anchor_above_90"] == pytest.approx(high_anchor_trials / 10)
    assert screening["excluded"] is excluded and screening["items"] == 10
    assert ("EXCLUDED" in describe(session)) is excluded


def test_agreement_is_spearman_over_stimuli_with_the_hidden_reference_left_out():
    session = MushraTest.plan(["c1", "c2", "c3"], CODECS, seed=4, repeats=2)
    rng = np.random.default_rng(0)
    keys = [(c, k) for c in ("c1", "c2", "c3") for k in session.conditions]
    truth = dict(zip(keys, rng.permutation(101)[: len(keys)].astype(float)))  # distinct scores: no ties
    rate_all(session, lambda clip, condition: int(truth[(clip, condition)]))
    noisy = {key: value + float(rng.normal(0, 30)) for key, value in truth.items()}
    session.objective = {
        key: {"follows": truth[key], "reversed": -truth[key], "noisy": noisy[key]}
        for key in truth if key[1] != "reference"
    }
    # a reference scored anywhere would change the correlations if it were counted
    session.objective.update({(c, "reference"): {"follows": -1e9} for c in ("c1", "c2", "c3")})
    agreement = session.reveal()["agreement"]
    assert agreement["follows"]["value"] == pytest.approx(1.0) and agreement["follows"]["n"] == 12
    assert agreement["reversed"]["value"] == pytest.approx(-1.0)
    keys = [k for k in truth if k[1] != "reference"]
    expected = spearmanr([truth[k] for k in keys], [noisy[k] for k in keys])[0]
    assert agreement["noisy"]["value"] == pytest.approx(expected)
    assert agreement["noisy"]["low"] < agreement["noisy"]["value"] < agreement["noisy"]["high"]
    codecs_only = session.reveal()["agreement_codecs"]  # the anchors left out too: 3 clips x 2 codecs
    assert codecs_only["follows"]["value"] == pytest.approx(1.0) and codecs_only["follows"]["n"] == 6
    assert np.isnan(codecs_only["follows"]["low"])  # too few stimuli for an interval


def test_anchors_are_those_that_take_something_away_at_the_clips_rate():
    from eval.listening import anchors_for

    assert anchors_for(8000) == ()  # 3.5 kHz is at 88% of the Nyquist frequency: next to nothing is removed
    assert anchors_for(16000) == (LOW_ANCHOR,)  # 7 kHz would leave 16 kHz speech as it is (PESQ-WB 4.4)
    assert anchors_for(22050) == anchors_for(48000) == (LOW_ANCHOR, MID_ANCHOR)


def test_without_the_mid_anchor_only_the_hidden_reference_screens_the_listener():
    session = MushraTest.plan(["c1", "c2", "c3", "c4", "c5", "c6", "c7"], CODECS, seed=8, anchors=(LOW_ANCHOR,))
    assert session.conditions == ["reference", LOW_ANCHOR, *CODECS]
    rate_all(session, lambda clip, condition: 100 if condition in ("reference", "opus-6k") else 30)
    screening = session.reveal()["post_screening"]
    assert screening["mid_anchor_above_90"] is None and not screening["excluded"]
    assert "no 7 kHz anchor" in describe(session) and "single slip" not in describe(session)


def test_results_are_written_as_json_and_csv_with_one_row_per_stimulus(tmp_path):
    session = MushraTest.plan(["c1", "c2"], CODECS, seed=9)
    with pytest.raises(UserError, match="hidden until the end"):
        session.save(tmp_path / "early.json")
    score = {"reference": 100, LOW_ANCHOR: 20, MID_ANCHOR: 60}
    for label in session.current().labels:
        session.heard(label)
        session.rate(label, score.get(session.codec_for(label), 45))
    session.submit()
    head, rows = session.progress()  # the first trial, saved while the test goes on
    assert head["finished"] is False and head["answered"] == 1 and head["trials"] == 2
    assert len(rows) == 5 and {r["clip"] for r in rows} == {session.trials[0].clip}
    rate_all(session, lambda clip, condition: score.get(condition, 45))
    session.objective = {("c1", "opus-6k"): {"PESQ-WB": 2.5}, ("c2", "opus-6k"): {"PESQ-WB": 2.7, "STOI": 0.9}}
    saved = json.loads(session.save(tmp_path / "mushra.json").read_text())
    assert saved["summary"]["kind"] == "mushra" and saved["summary"]["seed"] == 9
    assert saved["summary"]["scores"][LOW_ANCHOR]["value"] == 20
    assert len(saved["trials"]) == 2 * 5
    with (session.save(tmp_path / "mushra.csv")).open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {"PESQ-WB", "STOI", "condition", "score", "stimulus"} <= set(rows[0])
    [c2_opus] = [r for r in rows if r["clip"] == "c2" and r["condition"] == "opus-6k"]
    assert c2_opus["PESQ-WB"] == "2.7" and c2_opus["STOI"] == "0.9" and c2_opus["score"] == "45"
    [reference] = [r for r in rows if r["clip"] == "c2" and r["condition"] == "reference"]
    assert reference["PESQ-WB"] == "" and reference["score"] == "100"
    with pytest.raises(UserError, match=r"\.csv or \.json"):
        session.save(tmp_path / "mushra.txt")
    assert not (tmp_path / "mushra.txt").exists()


def listener_session(tmp_path, listener: str, score_of, seed: int) -> str:
    """A finished MUSHRA session of `listener` over two clips, saved as the app saves it; returns the path."""
    session = MushraTest.plan(["c1", "c2"], CODECS, seed=seed, listener=listener)
    rate_all(session, score_of)
    session.objective = {(clip, condition): {"PESQ-WB": {"opus-6k": 3.0, "codec2-3200": 2.0, LOW_ANCHOR: 1.5,
                                                         MID_ANCHOR: 2.5}[condition] + (0.1 if clip == "c2" else 0)}
                         for clip in ("c1", "c2") for condition in session.codecs + [LOW_ANCHOR, MID_ANCHOR]}
    return str(session.save(tmp_path / f"{listener}.json"))


def test_lfsc_eval_mushra_pools_the_listeners_that_pass_post_screening(tmp_path, capsys):
    from eval.cli import main

    order = {"reference": 100, MID_ANCHOR: 70, "opus-6k": 60, "codec2-3200": 40, LOW_ANCHOR: 20}
    ann = listener_session(tmp_path, "ann", lambda clip, c: order[c], 1)
    bob = listener_session(tmp_path, "bob", lambda clip, c: order[c] + (10 if c != "reference" else 0), 2)
    # eve rates the hidden reference 50 everywhere: excluded by the BS.1534-3 rule
    eve = listener_session(tmp_path, "eve", lambda clip, c: 50 if c == "reference" else 100 - order[c], 3)
    out = tmp_path / "pooled.json"
    assert main(["mushra", ann, bob, eve, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    verdicts = {line.split()[1]: "EXCLUDED" in line for line in printed.splitlines() if line.startswith("Post-")}
    assert verdicts == {"ann": False, "bob": False, "eve": True} and "Pooled: 2 of 3 listeners" in printed
    pooled = json.loads(out.read_text())
    assert pooled["scores"]["opus-6k"]["value"] == pytest.approx(65.0) and pooled["scores"]["opus-6k"]["n"] == 4
    assert list(pooled["scores"])[:3] == ["reference", LOW_ANCHOR, MID_ANCHOR]
    # per stimulus: mean rating of ann and bob against PESQ-WB, the hidden reference left out
    keys = [(clip, c) for clip in ("c1", "c2") for c in (MID_ANCHOR, "opus-6k", "codec2-3200", LOW_ANCHOR)]
    pesq = {MID_ANCHOR: 2.5, "opus-6k": 3.0, "codec2-3200": 2.0, LOW_ANCHOR: 1.5}
    expected = spearmanr([order[c] + 5 for _, c in keys], [pesq[c] + (0.1 if clip == "c2" else 0) for clip, c in keys])[0]
    assert pooled["agreement"]["PESQ-WB"]["value"] == pytest.approx(expected)
    assert pooled["agreement"]["PESQ-WB"]["n"] == 8

    assert main(["mushra", ann, bob, eve, "--keep-excluded", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scores"]["reference"]["value"] == pytest.approx(250 / 3)


def test_lfsc_eval_mushra_refuses_what_it_cannot_pool_in_one_line(tmp_path, capsys):
    from eval.cli import main
    from workbench.blind_test import BlindTest

    eve = listener_session(tmp_path, "eve", lambda clip, c: 50 if c == "reference" else 80, 3)
    assert main(["mushra", eve]) == 2
    assert "every listener is excluded" in capsys.readouterr().err
    ab = BlindTest.plan("ab", ["c"], ["reference", "opus-6k"], seed=1)
    ab.answer("A")
    assert main(["mushra", str(ab.save(tmp_path / "ab.json"))]) == 2
    assert "not MUSHRA" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert main(["mushra", str(tmp_path / "broken.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a saved listening-test result" in err


def test_pooling_keeps_unnamed_listeners_apart_and_refuses_sessions_that_do_not_belong_together(tmp_path, capsys):
    from eval.cli import main

    first = listener_session(tmp_path, "a", lambda clip, c: 100 if c == "reference" else 40, 1)
    second = listener_session(tmp_path, "b", lambda clip, c: 100 if c == "reference" else 80, 2)
    for path in (first, second):  # no listener names, as in a quick test
        saved = json.loads(Path(path).read_text())
        saved["summary"]["listener"] = ""
        for row in saved["trials"]:
            row["listener"] = ""
        Path(path).write_text(json.dumps(saved))
    out = tmp_path / "pooled.json"
    assert main(["mushra", first, second, "--json", str(out)]) == 0
    opus = json.loads(out.read_text())["scores"]["opus-6k"]
    assert opus["n"] == 4 and opus["low"] == 40 and opus["high"] == 80  # two people, not one averaged listener

    assert main(["mushra", first, first]) == 2
    assert "given twice" in capsys.readouterr().err
    other = MushraTest.plan(["c1", "c2"], ["opus-6k"], seed=4, listener="c", anchors=(LOW_ANCHOR,))
    rate_all(other, lambda clip, c: 100 if c == "reference" else 50)
    assert main(["mushra", first, str(other.save(tmp_path / "other.json"))]) == 2
    assert "differ from those of" in capsys.readouterr().err
    unfinished = MushraTest.plan(["c1", "c2"], CODECS, seed=5)
    for label in unfinished.current().labels:
        unfinished.heard(label)
        unfinished.rate(label, 100)
    unfinished.submit()
    head, rows = unfinished.progress()
    path = tmp_path / "unfinished.json"
    path.write_text(json.dumps({"summary": head, "trials": rows}))
    assert main(["mushra", first, str(path)]) == 2
    assert "unfinished test (1 of 2 trials)" in capsys.readouterr().err


def test_a_metric_missing_or_not_finite_for_one_stimulus_leaves_the_others_correlated():
    session = MushraTest.plan(["c1", "c2", "c3", "c4"], CODECS, seed=6)
    order = {"reference": 95, MID_ANCHOR: 80, "opus-6k": 60, "codec2-3200": 40, LOW_ANCHOR: 20}
    rate_all(session, lambda clip, c: order[c] + int(clip[1]))
    session.objective = {(clip, c): {"PESQ-WB": order[c] / 20 + int(clip[1]) / 100}
                         for clip in ("c1", "c2", "c3", "c4") for c in order if c != "reference"}
    session.objective[("c1", "opus-6k")]["PESQ-WB"] = float("nan")
    del session.objective[("c2", "opus-6k")]["PESQ-WB"]
    agreement = session.reveal()["agreement"]["PESQ-WB"]
    assert agreement["value"] == pytest.approx(1.0) and agreement["n"] == 14


def test_training_plays_every_condition_of_each_clip_in_an_order_of_its_own():
    session = MushraTest.plan(["c1", "c2"], CODECS, seed=12)
    training = session.training()
    assert list(training) == list(dict.fromkeys(t.clip for t in session.trials))
    for order in training.values():
        assert sorted(order) == sorted(c for c in session.conditions if c != "reference")
    assert training == MushraTest.plan(["c1", "c2"], CODECS, seed=12).training()  # from the seed


def test_pooled_scores_resample_listeners_and_then_their_items():
    from eval import listening
    from eval.stats import mean_ci, nested_mean_ci

    rows = [{"session": listener, "clip": clip, "condition": "opus-6k", "score": 40 + 10 * n + i}
            for n, listener in enumerate(["a.json", "b.json", "c.json"]) for i, clip in enumerate(["c1", "c2", "c3"])]
    rows.append({**rows[0], "score": 44})  # a repeat: averaged into its item, not a rating of its own
    pooled = listening.scores(rows)["opus-6k"]
    assert pooled == nested_mean_ci([[42, 41, 42], [50, 51, 52], [60, 61, 62]]).to_dict()
    items = mean_ci([42, 41, 42, 50, 51, 52, 60, 61, 62])
    assert pooled["high"] - pooled["low"] > items.high - items.low  # listeners disagree: wider than independent items
    one = listening.scores([r for r in rows if r["session"] == "a.json"])["opus-6k"]
    assert one == mean_ci([42, 41, 42]).to_dict()
