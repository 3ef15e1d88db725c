"""MUSHRA listening tests (ITU-R BS.1534-3): rate every condition of a clip 0-100 against the open reference.

Each trial shows one clip as numbered stimuli in random order: the hidden reference, the 3.5 kHz and 7 kHz low-pass
anchors (those that take something away at the clips' rate: `eval.listening.anchors_for`) and the codecs under test.
Identities stay hidden until the last trial is rated. The results (`eval.listening`, the same functions that pool
listeners) carry the post-screening of the listener and, when the stimuli were
measured, how well each objective metric ranks the stimuli as the listener did (Spearman's rho), which closes the
loop between listening and metrics.

Pure logic: the GUI shows `current()`, reports `heard()` and `rate()`, then `submit()`; audio is rendered elsewhere.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from codec.errors import UserError
from eval import listening
from eval.listening import ANCHOR_CUTOFFS, KIND, REFERENCE
from workbench.blind_test import TrialSequence, is_duration, write_results

MAX_STIMULI = 12  # BS.1534-3: no more than 12 stimuli per trial, so that listeners can compare them all
OPEN_REFERENCE = "reference"  # the label of the open (named) reference; stimuli are labelled "1", "2", ...


@dataclass
class MushraTrial:
    """One clip: the condition behind each numbered stimulus, the ratings by condition and the time taken."""

    index: int
    clip: str
    order: list[str]
    ratings: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None


@dataclass
class VisibleMushraTrial:
    """What the listener may see of a trial: the stimulus labels, no condition names."""

    index: int
    total: int
    clip: str
    labels: tuple[str, ...]


@dataclass
class MushraTest(TrialSequence):
    """A planned MUSHRA session; create with `plan()`, then per trial `heard()`, `rate()` and `submit()`."""

    seed: int
    codecs: list[str]
    anchors: list[str]
    trials: list[MushraTrial]
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    listener: str = ""
    objective: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)  # (clip, condition) -> metrics
    planned: dict = field(default_factory=dict)  # the arguments of plan() besides the seed: to resume
    kind: str = KIND
    _position: int = 0
    _shown_at: float | None = None
    _heard: set[str] = field(default_factory=set)

    @classmethod
    def plan(
        cls,
        clips: list[str],
        codecs: list[str],
        seed: int | None = None,
        repeats: int = 1,
        clock: Callable[[], float] = time.monotonic,
        listener: str = "",
        anchors: tuple[str, ...] = tuple(ANCHOR_CUTOFFS),
    ) -> "MushraTest":
        """Every clip `repeats` times in random order, each with its stimuli shuffled; the seed is kept."""
        codecs = [c for c in dict.fromkeys(codecs) if c not in (REFERENCE, *ANCHOR_CUTOFFS)]
        if not clips:
            raise UserError("a MUSHRA test needs at least one clip: pick clips in the list first")
        if not codecs:
            raise UserError("a MUSHRA test needs at least one codec under test (the reference and anchors are added)")
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        planned = {"clips": list(clips), "codecs": codecs, "repeats": repeats, "anchors": list(anchors)}
        session = cls(seed=seed, codecs=codecs, anchors=list(anchors), trials=[], clock=clock, listener=listener,
                      planned=planned)
        conditions = session.conditions
        if len(conditions) > MAX_STIMULI:
            raise UserError(f"a MUSHRA trial holds at most {MAX_STIMULI} stimuli, the hidden reference and "
                            f"{len(anchors)} anchors included: tick at most {MAX_STIMULI - 1 - len(anchors)} codecs")
        rng = random.Random(seed)
        planned = [clip for _ in range(repeats) for clip in clips]
        rng.shuffle(planned)
        session.trials = [MushraTrial(index, clip, rng.sample(conditions, len(conditions)))
                          for index, clip in enumerate(planned)]
        return session

    @classmethod
    def resume(cls, head: dict, rows: list[dict], clock: Callable[[], float] = time.monotonic) -> "MushraTest":
        """The unfinished session that `progress()` saved as `head` and `rows`, rebuilt from its plan with its
        ratings, at its first unrated trial (the stimuli's metrics are measured again when it is prepared)."""
        session = cls.plan(**head["plan"], seed=head["seed"], clock=clock, listener=head["listener"])
        by_trial: dict[int, list[dict]] = {}
        for row in rows:
            by_trial.setdefault(row["index"], []).append(row)
        saved = [(index, stimuli[0]["clip"], [r["condition"] for r in sorted(stimuli, key=lambda r: int(r["stimulus"]))])
                 for index, stimuli in by_trial.items()]
        planned = [(trial.index, trial.clip, trial.order) for trial in session.trials[: len(saved)]]
        valid = all(_is_score(row["score"]) and is_duration(row["seconds"]) for row in rows)
        under_way = head.get("under_way", {})
        session._check_resumable(saved, planned, valid and session._resumable_ratings(len(saved), under_way),
                                 partial=bool(under_way))
        for trial, stimuli in zip(session.trials, by_trial.values()):
            trial.ratings = {row["condition"]: row["score"] for row in stimuli}
            trial.seconds = stimuli[0]["seconds"]
        session._position = len(saved)
        if under_way:  # the trial that was being rated when the test stopped: its ratings, heard as they were rated
            session.trials[session._position].ratings = dict(under_way["ratings"])
            session._heard = {label for label in session.current().labels if session.codec_for(label) in
                              under_way["ratings"]}
        return session

    def _resumable_ratings(self, position: int, under_way: dict) -> bool:
        """Whether the saved ratings of the trial under way belong to the trial after the submitted ones."""
        if not under_way:
            return True
        ratings = under_way.get("ratings")
        return (under_way.get("index") == position < len(self.trials) and isinstance(ratings, dict)
                and set(ratings) <= set(self.conditions)
                and all(_is_score(score) for score in ratings.values()))

    def training(self) -> dict[str, list[str]]:
        """For the training phase: per clip, every condition but the reference in an order of its own (seeded), so
        the listener learns the range of quality before grading without learning which stimulus is which codec."""
        rng = random.Random(f"{self.seed}/training")
        others = [c for c in self.conditions if c != REFERENCE]
        return {clip: rng.sample(others, len(others)) for clip in dict.fromkeys(t.clip for t in self.trials)}

    @property
    def conditions(self) -> list[str]:
        """Every condition to render per clip: the reference (open and hidden), the anchors and the codecs."""
        return [REFERENCE, *self.anchors, *self.codecs]

    @property
    def has_answers(self) -> bool:
        """True once any stimulus is rated: from then on, abandoning the test throws work away."""
        return self._position > 0 or bool(self.trials[0].ratings)

    def current(self) -> VisibleMushraTrial:
        """The trial to present now, without condition names."""
        trial = self._current_trial()
        labels = tuple(str(i + 1) for i in range(len(trial.order)))
        return VisibleMushraTrial(trial.index, len(self.trials), trial.clip, labels)

    def codec_for(self, label: str) -> str:
        """The condition to render for a label of the current trial (for the audio engine, not for display)."""
        if label == OPEN_REFERENCE:
            return REFERENCE
        return self.trials[self._position].order[int(label) - 1]

    def heard(self, label: str) -> None:
        """Note that the listener played stimulus `label`; a stimulus can be rated only once heard."""
        self._heard.add(label)

    def rate(self, label: str, score: int) -> None:
        """Rate stimulus `label` of the current trial (0 bad ... 100 excellent)."""
        if label not in self.current().labels:
            raise UserError(f"there is no stimulus {label!r} in this trial")
        if label not in self._heard:
            raise UserError(f"listen to stimulus {label} before rating it")
        if not 0 <= score <= 100:
            raise UserError(f"a MUSHRA score is 0 to 100, not {score}")
        self.trials[self._position].ratings[self.codec_for(label)] = int(score)

    def unrated(self) -> list[str]:
        """The labels of the current trial that have no rating yet."""
        trial = self.trials[self._position]
        return [label for label in self.current().labels if self.codec_for(label) not in trial.ratings]

    def submit(self) -> None:
        """Close the current trial once every stimulus is rated, and move on."""
        missing = self.unrated()
        if missing:
            raise UserError(f"rate every stimulus before going on: {', '.join(missing)} not rated yet")
        self._close_trial()
        self._heard = set()

    def reveal(self) -> dict:
        """The summary with identities: scores per condition, post-screening and metric agreement."""
        rows = self.rows()
        return {"kind": self.kind, "seed": self.seed, "listener": self.listener, "trials": len(self.trials),
                "anchors": self.anchors, **listening.summarize(rows), "post_screening": listening.post_screening(rows)}

    def rows(self) -> list[dict]:
        """One row per trial and stimulus with its rating and objective metrics (only once finished)."""
        self._require_finished()
        return self._rows(self.trials)

    def progress(self) -> tuple[dict, list[dict]]:
        """The submitted trials so far, identities included, and the ratings of the trial under way (in the head, so
        that the rows stay whole trials): saved after each rating, so quitting or a crash loses nothing."""
        head = {"kind": self.kind, "seed": self.seed, "listener": self.listener, "finished": False,
                "answered": self._position, "trials": len(self.trials), "anchors": self.anchors, "plan": self.planned}
        if not self.finished and self.trials[self._position].ratings:
            head["under_way"] = {"index": self._position, "ratings": dict(self.trials[self._position].ratings)}
        return head, self._rows(self.trials[: self._position])

    def rating(self, label: str) -> int | None:
        """The rating stimulus `label` of the current trial has so far (None when unrated)."""
        return self.trials[self._position].ratings.get(self.codec_for(label))

    def was_heard(self, label: str) -> bool:
        """Whether stimulus `label` of the current trial has been heard (so it may be rated)."""
        return label in self._heard

    def _rows(self, trials: list[MushraTrial]) -> list[dict]:
        metrics = list(dict.fromkeys(label for values in self.objective.values() for label in values))
        rows = []
        for trial in trials:
            for position, condition in enumerate(trial.order):
                measured = self.objective.get((trial.clip, condition), {})
                rows.append({"kind": self.kind, "seed": self.seed, "listener": self.listener,
                             "index": trial.index, "clip": trial.clip,
                             "stimulus": str(position + 1), "condition": condition,
                             "score": trial.ratings[condition], "seconds": trial.seconds,
                             **{label: measured.get(label) for label in metrics}})
        return rows

    def save(self, path: str | Path) -> Path:
        """Write the results as CSV or JSON (by extension): one row per trial and stimulus, plus the summary."""
        return write_results(path, self.reveal(), self.rows())


def _is_score(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100


def describe(session: MushraTest) -> str:
    """The revealed results as text: scores per condition, metric agreement, post-screening, then every trial."""
    summary = session.reveal()
    who = f"listener {session.listener}" if session.listener else "this listener"
    lines = [f"MUSHRA, {summary['trials']} trials, seed {summary['seed']}", "", listening.describe(summary), "",
             listening.describe_screening(summary["post_screening"], who), "", "Trials:"]
    for trial in session.trials:
        ratings = ", ".join(f"{position + 1} = {condition} {trial.ratings[condition]}"
                            for position, condition in enumerate(trial.order))
        lines.append(f"  trial {trial.index + 1} ({trial.clip}, {trial.seconds:.1f} s): {ratings}")
    return "\n".join(lines)
