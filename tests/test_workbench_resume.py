"""Resuming an unfinished listening test (pure logic): the answers saved after each trial, plus the plan the seed
rebuilds, give back the session where it stopped, and going on ends with the results of an uninterrupted test."""

import json

import pytest

from codec.errors import UserError
from workbench import unfinished
from workbench.blind_test import BlindTest, write_results
from workbench.mushra import MushraTest

CLIPS = ["c1", "c2", "c3"]


class TrialClock:
    """A clock the test moves on by hand: trial i takes 1 + 0.5 i seconds in the stopped and the whole session alike,
    so a saved time restored to the wrong trial shows."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ab_answer(trial) -> str:
    return "A" if (trial.index + len(trial.clip)) % 3 else "B"


def answer_ab(session: BlindTest, count: int) -> None:
    for _ in range(count):
        session.start()
        session.clock.now += 1 + 0.5 * session.answered
        session.answer(ab_answer(session.trials[session.answered]))


def rate_mushra(session: MushraTest, count: int) -> None:
    for _ in range(count):
        session.start()
        session.clock.now += 1 + 0.5 * session.answered
        for label in session.current().labels:
            session.heard(label)
            session.rate(label, (7 * int(label) + 3 * session.answered) % 101)
        session.submit()


def save_progress(session, path):
    write_results(path, *session.progress())
    return path


@pytest.mark.parametrize("kind", ["ab", "abx"])
def test_a_resumed_ab_or_abx_test_ends_with_the_results_of_one_never_stopped(kind, tmp_path):
    whole = BlindTest.plan(kind, CLIPS, ["reference", "opus-6k", "codec2-3200"], seed=11, repeats=2, listener="ann",
                           clock=TrialClock())
    stopped = BlindTest.plan(kind, CLIPS, ["reference", "opus-6k", "codec2-3200"], seed=11, repeats=2, listener="ann",
                             clock=TrialClock())
    answer_ab(whole, len(whole.trials))
    answer_ab(stopped, 5)
    path = save_progress(stopped, tmp_path / f"unfinished-blind-{kind}-11.json")

    resumed = unfinished.resume(path, clock=TrialClock())
    assert isinstance(resumed, BlindTest) and resumed.answered == 5 and not resumed.finished
    assert resumed.listener == "ann" and resumed.current().index == 5
    answer_ab(resumed, len(resumed.trials) - 5)
    assert resumed.reveal() == whole.reveal()
    assert resumed.rows() == whole.rows()  # answers, sides, X and each trial's seconds, the saved ones included


def test_a_resumed_mushra_test_ends_with_the_results_of_one_never_stopped(tmp_path):
    whole = MushraTest.plan(CLIPS, ["opus-6k", "codec2-3200"], seed=4, repeats=2, listener="bo",
                            anchors=("lowpass-3.5k",), clock=TrialClock())
    stopped = MushraTest.plan(CLIPS, ["opus-6k", "codec2-3200"], seed=4, repeats=2, listener="bo",
                              anchors=("lowpass-3.5k",), clock=TrialClock())
    rate_mushra(whole, len(whole.trials))
    rate_mushra(stopped, 4)
    path = save_progress(stopped, tmp_path / "unfinished-blind-mushra-4.json")

    resumed = unfinished.resume(path, clock=TrialClock())
    assert isinstance(resumed, MushraTest) and resumed.answered == 4 and resumed.anchors == ["lowpass-3.5k"]
    assert resumed.has_answers and resumed.current().index == 4
    rate_mushra(resumed, len(resumed.trials) - 4)
    assert resumed.rows() == whole.rows()
    assert resumed.reveal() == whole.reveal()


def edit(path, change):
    saved = json.loads(path.read_text())
    change(saved)
    path.write_text(json.dumps(saved))
    return path


@pytest.mark.parametrize("change,says", [
    (lambda s: s["trials"][1].update(clip="c9"), "do not match the trials its seed plans"),
    (lambda s: s["trials"][0].update(codec_a=s["trials"][0]["codec_b"]), "do not match"),
    (lambda s: s["trials"][0].update(answer="C"), "do not match"),
    (lambda s: s["trials"][1].update(seconds=None), "do not match"),
    (lambda s: s.update(summary=[1]), "not a saved listening test"),
    (lambda s: s["summary"].update(seed=12), "do not match"),
    (lambda s: s["summary"].pop("plan"), "did not save the test's plan"),
    (lambda s: s["summary"].update(finished=True), "a finished test"),
    (lambda s: s["trials"][0].pop("x_is"), r"damaged \(KeyError"),
    (lambda s: s["summary"]["plan"].update(repeats="two"), r"damaged \(TypeError"),
])
def test_a_file_that_is_not_the_tests_own_progress_is_refused_in_one_line(tmp_path, change, says):
    session = BlindTest.plan("ab", CLIPS, ["reference", "opus-6k"], seed=11, clock=TrialClock())
    answer_ab(session, 2)
    path = edit(save_progress(session, tmp_path / "unfinished-blind-ab-11.json"), change)
    with pytest.raises(UserError, match=says) as error:
        unfinished.resume(path)
    assert str(error.value).startswith("unfinished-blind-ab-11.json: ") and "\n" not in str(error.value)


def test_a_mushra_rating_edited_out_of_range_or_another_order_is_refused(tmp_path):
    session = MushraTest.plan(CLIPS, ["opus-6k"], seed=4, clock=TrialClock())
    rate_mushra(session, 1)
    path = save_progress(session, tmp_path / "unfinished-blind-mushra-4.json")
    for change in (lambda s: s["trials"][0].update(score=101),
                   lambda s: s["trials"][0].update(score=True),
                   lambda s: s["trials"][2].update(seconds="soon"),
                   lambda s: s["trials"][0].update(stimulus="9")):
        with pytest.raises(UserError, match="do not match"):
            unfinished.resume(edit(path, change))
        path = save_progress(session, path)


def test_what_is_not_a_saved_test_is_refused_in_one_line(tmp_path):
    (tmp_path / "notes.json").write_text("{not json")
    with pytest.raises(UserError, match="notes.json: not a saved listening test"):
        unfinished.resume(tmp_path / "notes.json")
    with pytest.raises(UserError, match="missing.json: not a saved listening test"):
        unfinished.resume(tmp_path / "missing.json")
