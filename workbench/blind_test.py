"""Blind listening tests (A/B preference and ABX): randomised with a logged seed, identities hidden until the end.

Pure logic: the GUI shows `current()` and calls `answer()`; the audio for each (clip, codec) pair is rendered
elsewhere. Codec names never leave a session before `finished` is true.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from codec.errors import UserError
from codec.files import replacing

KINDS = ("ab", "abx")
NO_PREFERENCE = "none"  # the A/B answer of a listener who hears no difference worth preferring


@dataclass
class Trial:
    """One trial: which codec is behind A and B (and X for ABX), the answer and how long it took."""

    index: int
    clip: str
    codec_a: str
    codec_b: str
    x_is: str = ""  # "A" or "B" for ABX, "" for A/B preference
    answer: str = ""
    seconds: float | None = None

    @property
    def chosen_codec(self) -> str:
        """The codec the listener picked (A/B preference) or that they identified X as (ABX)."""
        return {"A": self.codec_a, "B": self.codec_b}.get(self.answer, "")

    @property
    def correct(self) -> bool | None:
        """For ABX, whether X was identified correctly; None for preference trials."""
        return (self.answer == self.x_is) if self.x_is else None


@dataclass
class VisibleTrial:
    """What the listener may see of a trial: no codec names."""

    index: int
    total: int
    clip: str
    labels: tuple[str, ...]  # ("A", "B") or ("A", "B", "X")


class TrialSequence:
    """Stepping through planned trials one at a time, timing each and hiding identities until the end; shared by
    the A/B, ABX and MUSHRA sessions, which hold `trials`, `clock`, `_position` and `_shown_at`."""

    @property
    def answered(self) -> int:
        """How many trials have an answer."""
        return self._position

    @property
    def finished(self) -> bool:
        """True once every trial has an answer."""
        return self._position >= len(self.trials)

    def start(self) -> None:
        """Mark the moment the current trial was presented (the timing starts here)."""
        self._shown_at = self.clock()

    def _current_trial(self):
        if self.finished:
            raise UserError("the test is finished: save or reveal the results")
        return self.trials[self._position]

    def _close_trial(self) -> None:
        """Time the current trial from its start and move on."""
        if self._shown_at is None:
            self.start()
        self.trials[self._position].seconds = self.clock() - self._shown_at
        self._position += 1
        self._shown_at = None

    def _require_finished(self) -> None:
        if not self.finished:
            raise UserError(f"identities stay hidden until the end: {len(self.trials) - self._position} trials left")

    def _check_resumable(self, saved: list[tuple], planned: list[tuple], valid: bool, partial: bool = False) -> None:
        """Refuse saved answers that are not, trial by trial, those of the plan rebuilt from the test's seed (with
        no trial answered whole, only a `partial` trial under way is worth resuming)."""
        if not (saved or partial) or len(saved) >= len(self.trials) or saved != planned or not valid:
            raise UserError("its answers do not match the trials its seed plans (the file was edited, or written by "
                            "another version); it cannot be resumed, and its answers stay in the file")


@dataclass
class BlindTest(TrialSequence):
    """A planned session; create with `plan()`, step through with `current()` / `start()` / `answer()`."""

    kind: str
    seed: int
    trials: list[Trial]
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    listener: str = ""
    planned: dict = field(default_factory=dict)  # the arguments of plan() besides kind and seed: to resume
    _position: int = 0
    _shown_at: float | None = None

    @classmethod
    def plan(
        cls,
        kind: str,
        clips: list[str],
        codecs: list[str],
        seed: int | None = None,
        repeats: int = 1,
        clock: Callable[[], float] = time.monotonic,
        listener: str = "",
    ) -> "BlindTest":
        """Every clip x every pair of codecs, `repeats` times, in random order with random sides; the seed is kept."""
        if kind not in KINDS:
            raise UserError(f"unknown test kind {kind!r}; choose one of {', '.join(KINDS)}")
        if not clips:
            raise UserError("a blind test needs at least one clip: pick clips in the list first")
        if len(set(codecs)) < 2:
            raise UserError("a blind test needs at least two different codecs (the reference counts as one)")
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        rng = random.Random(seed)
        pairs = list(itertools.combinations(dict.fromkeys(codecs), 2))
        planned = [(clip, pair) for _ in range(repeats) for clip in clips for pair in pairs]
        rng.shuffle(planned)
        trials = []
        for index, (clip, pair) in enumerate(planned):
            a, b = pair if rng.random() < 0.5 else pair[::-1]
            x_is = rng.choice("AB") if kind == "abx" else ""
            trials.append(Trial(index=index, clip=clip, codec_a=a, codec_b=b, x_is=x_is))
        planned = {"clips": list(clips), "codecs": list(codecs), "repeats": repeats}
        return cls(kind=kind, seed=seed, trials=trials, clock=clock, listener=listener, planned=planned)

    @classmethod
    def resume(cls, head: dict, rows: list[dict], clock: Callable[[], float] = time.monotonic) -> "BlindTest":
        """The unfinished session that `progress()` saved as `head` and `rows`, rebuilt from its plan with its
        answers, at its first unanswered trial."""
        session = cls.plan(head["kind"], **head["plan"], seed=head["seed"], clock=clock, listener=head["listener"])
        fields = ("index", "clip", "codec_a", "codec_b", "x_is")
        saved = [tuple(row[f] for f in fields) for row in rows]
        planned = [tuple(getattr(trial, f) for f in fields) for trial in session.trials[: len(rows)]]
        valid = all(row["answer"] in session.answers and is_duration(row["seconds"]) for row in rows)
        session._check_resumable(saved, planned, valid)
        for trial, row in zip(session.trials, rows):
            trial.answer, trial.seconds = row["answer"], row["seconds"]
        session._position = len(rows)
        return session

    @property
    def has_answers(self) -> bool:
        """True once a trial is answered: from then on, abandoning the test throws work away."""
        return self._position > 0

    def current(self) -> VisibleTrial:
        """The trial to present now, without codec identities."""
        trial = self._current_trial()
        labels = ("A", "B", "X") if self.kind == "abx" else ("A", "B")
        return VisibleTrial(trial.index, len(self.trials), trial.clip, labels)

    def codec_for(self, label: str) -> str:
        """The codec to render for a label of the current trial (for the audio engine, not for display)."""
        trial = self.trials[self._position]
        if label == "X":
            label = trial.x_is
        return {"A": trial.codec_a, "B": trial.codec_b}[label]

    @property
    def answers(self) -> tuple[str, ...]:
        """The answers a trial takes: A or B, and for a preference also no preference."""
        return ("A", "B", NO_PREFERENCE) if self.kind == "ab" else ("A", "B")

    def answer(self, choice: str) -> None:
        """Record the listener's choice (see `answers`) for the current trial and move on."""
        if choice not in self.answers:
            raise UserError(f"answer must be one of {', '.join(self.answers)}, not {choice!r}")
        self._current_trial().answer = choice
        self._close_trial()

    def reveal(self) -> dict:
        """The summary with codec identities; refused until every trial is answered."""
        self._require_finished()
        summary: dict = {"kind": self.kind, "seed": self.seed, "listener": self.listener, "trials": len(self.trials)}
        if self.kind == "ab":
            wins = dict.fromkeys(self.planned["codecs"], 0)  # a codec never preferred is a result too
            for trial in self.trials:
                if trial.chosen_codec:
                    wins[trial.chosen_codec] += 1
            summary["preferred"] = dict(sorted(wins.items(), key=lambda kv: -kv[1]))
            summary["no_preference"] = sum(t.answer == NO_PREFERENCE for t in self.trials)
        else:
            correct = sum(bool(t.correct) for t in self.trials)
            summary["correct"] = correct
            summary["p_value"] = binomial_p_value(correct, len(self.trials))
        return summary

    def rows(self) -> list[dict]:
        """One flat row per trial, identities included (only once finished)."""
        self.reveal()
        return self._rows(self.trials)

    def progress(self) -> tuple[dict, list[dict]]:
        """The answered trials so far, identities included: saved after each answer, so a crash loses nothing."""
        head = {"kind": self.kind, "seed": self.seed, "listener": self.listener, "finished": False,
                "answered": self._position, "trials": len(self.trials), "plan": self.planned}
        return head, self._rows(self.trials[: self._position])

    def _rows(self, trials: list[Trial]) -> list[dict]:
        return [
            {**asdict(t), "chosen_codec": t.chosen_codec, "correct": t.correct, "kind": self.kind, "seed": self.seed,
             "listener": self.listener}
            for t in trials
        ]

    def save(self, path: str | Path) -> Path:
        """Write the results as CSV or JSON (by extension): one row per trial with its timing, plus the seed."""
        return write_results(path, self.reveal(), self.rows())


def describe(session: BlindTest) -> str:
    """The revealed results of an A/B or ABX test as text: the totals, then every trial."""
    summary = session.reveal()
    if session.kind == "ab":
        lines = [f"A/B preference, {summary['trials']} trials, seed {summary['seed']}", "", "Preferred:"]
        lines += [f"  {codec}: {count} of {summary['trials']}" for codec, count in summary["preferred"].items()]
        lines.append(f"  no preference: {summary['no_preference']} of {summary['trials']}")
    else:
        lines = [f"ABX, {summary['trials']} trials, seed {summary['seed']}", "",
                 f"X identified {summary['correct']} of {summary['trials']} times; by guessing, as many or more "
                 f"would happen with p = {summary['p_value']:.3g}"]
    lines += ["", "Trials:"]
    for t in session.trials:
        x = f", X was {t.x_is}" if t.x_is else ""
        answer = "no preference" if t.answer == NO_PREFERENCE else t.answer
        lines.append(f"  trial {t.index + 1} ({t.clip}): A = {t.codec_a}, B = {t.codec_b}{x}; answered {answer} in "
                     f"{t.seconds:.1f} s")
    return "\n".join(lines)


def result_bars(summary: dict) -> tuple[str, dict[str, float]]:
    """What the results plot shows of a revealed summary (A/B, ABX or MUSHRA): a title and one bar per name."""
    if "preferred" in summary:
        return "times preferred", {**summary["preferred"], "no preference": summary["no_preference"]}
    if "scores" in summary:
        return "MUSHRA score (mean, 0-100)", {name: score["value"] for name, score in summary["scores"].items()}
    return "ABX answers", {"X identified": summary["correct"], "X mistaken": summary["trials"] - summary["correct"]}


def write_results(path: str | Path, summary: dict, rows: list[dict]) -> Path:
    """Write a listening test's rows as CSV, or its summary and rows as JSON (by the file's extension), replacing any
    earlier file whole."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".json"):
        raise UserError(f"{path.name}: save results as .csv or .json")
    with replacing(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps({"summary": summary, "trials": rows}, indent=2), encoding="utf-8")
        else:
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    return path


def is_duration(value: object) -> bool:
    """Whether a saved trial's time is a number of seconds (a resumed test reports it again at the end)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")


def binomial_p_value(correct: int, total: int) -> float:
    """One-sided probability of at least `correct` right answers out of `total` by guessing (p = 1/2)."""
    return sum(math.comb(total, k) for k in range(correct, total + 1)) / 2**total
