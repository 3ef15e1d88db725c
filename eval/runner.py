"""The batch runner: schedules every utterance x every codec (eval.unit) into the run folder's rows, with the
cache, resume and progress; then the report.

Rows are appended to `<out>/rows.jsonl` as they are produced (flush + fsync), so a run killed at any point
resumes where it stopped; the run folder (eval.run_folder) is locked for the run and belongs to one configuration.
Every value also goes to the content-hash cache, so a new run over the same audio and codecs (e.g. into a new
folder, or after adding one codec) only computes what is new. CPU metrics run in a process pool (eval.pool) when
`jobs > 1`; model metrics (ASR, speaker) run in the calling process with each model loaded once, and the ASR
of one utterance (its original and every codec's output) goes to the model as one batch.
Only one utterance's audio and its decoded versions (plus the pairs waiting in the pool) are in memory at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from codec.errors import UserError
from codec.files import write_text_atomic
from codec.interface import Codec
from codec.registry import get_codec, takes_option
from eval import asr, pair, run_folder
from eval.cache import Cache, default_dir
from eval.identity import codec_key, configuration
from eval.manifest import Utterance
from eval.metrics import METRICS
from eval.pair import ASR_METRICS
from eval.pool import MetricPool
from eval.row import Row
from eval.run_manifest import run_manifest
from eval.unit import Scorer, Unit

ALL_METRICS: tuple[str, ...] = tuple(METRICS) + ASR_METRICS


class CancelFlag(Protocol):
    """Anything with is_set(), e.g. threading.Event (the GUI sets it from its thread)."""

    def is_set(self) -> bool: ...


Progress = Callable[[int, int, str], None]  # (units done, units total, message)


@dataclass
class Job:
    """What any process needs to evaluate this run's utterances: the run's scorer, each codec's cache key, and
    what rebuilds the codecs and the ASR model there (`build_codec`, `asr.set_model_dir`)."""

    scorer: Scorer
    keys: dict[str, str | None]  # codec name -> codec_key
    checkpoint: str | Path | None
    asr_model: str | Path | None


Outcome = tuple[Utterance, "list[Row] | str"]  # an utterance's rows, or why its audio cannot be read


class Engine(Protocol):
    """Where the utterances are evaluated when not in this process and its pool (eval.ray_engine)."""

    name: str

    def connect(self) -> None:
        """Reach the workers, or say in one line (UserError) why they cannot be reached."""

    def outcomes(self, job: Job, pending: list[tuple[Utterance, list[str]]],
                 cancelled: Callable[[], bool]) -> Iterator[Outcome]:
        """Evaluate each (utterance, codec names it lacks), yielding each outcome as it is done (any order);
        once `cancelled()`, stop starting new ones. The job's cache counts include the workers'."""


@dataclass
class RunResult:
    """What a run did."""

    out_dir: Path
    rows_total: int  # rows now in rows.jsonl
    rows_new: int  # rows produced by this call
    rows_from_cache: int  # of the new rows, those built entirely from the cache
    cancelled: bool
    cache_hits: int
    cache_misses: int
    skipped: dict[str, str]  # utterances this call could not read, and why (they have no rows; listed in the report)


def build_codec(name: str, checkpoint: str | Path | None = None) -> Codec:
    """The codec `name`, on `checkpoint` when given and the codec takes one (LFSC)."""
    return get_codec(name, **({"checkpoint": checkpoint} if checkpoint and takes_option(name, "checkpoint") else {}))


def check_metrics(names: Iterable[str] | None) -> tuple[str, ...]:
    """Validate metric names (None: all of them); 'asr' stands for cer + wer."""
    if names is None:
        return ALL_METRICS
    out: list[str] = []
    for name in names:
        expanded = ASR_METRICS if name == "asr" else (name,)
        for item in expanded:
            if item not in ALL_METRICS:
                raise UserError(f"unknown metric {item!r}: choose from {', '.join(ALL_METRICS)} (or 'asr')")
            if item not in out:
                out.append(item)
    if not out:
        raise UserError("no metrics selected")
    return tuple(out)


def _cache(cache_dir: str | Path | None | bool) -> Cache:
    """The run's cache; a cache path that cannot be a folder is said now, before the run folder is touched."""
    cache = Cache(default_dir() if cache_dir is True else (Path(cache_dir) if cache_dir else None))
    if cache.root is not None:
        if cache.root.exists() and not cache.root.is_dir():
            raise UserError(f"{cache.root}: is a file, not a folder: give a folder for the cache (--cache), or --no-cache")
        cache.root.mkdir(parents=True, exist_ok=True)
    return cache


def run(
    utterances: list[Utterance],
    codec_names: list[str],
    out_dir: str | Path,
    metrics: Iterable[str] | None = None,
    asr_model: str | Path | None = None,
    keep_audio: bool = False,
    jobs: int = 1,
    cache_dir: str | Path | None | bool = True,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    show_progress_bar: bool = False,
    source: str = "",
    write_report: bool = True,
    checkpoint: str | Path | None = None,
    protect: Iterable[Path] = (),
    engine: Engine | None = None,
) -> RunResult:
    """Evaluate every utterance through every codec into `out_dir` (resuming what is there) and write the report.

    cache_dir: True for the default cache folder, a path for another, None/False to disable caching.
    checkpoint: the LFSC checkpoint for codecs that take one (default: the configured one).
    progress(done, total, message) is called after each (utterance, codec) pair; setting `cancel` stops the
    run after the pair in progress (rows already written stay valid and a later run resumes). An utterance whose
    audio cannot be read (damaged, cut off, NaN samples) is skipped and named in `skipped.json` and the report;
    the run goes on, and a later run tries it again.
    The run holds `out_dir`'s lock throughout, adds to its rows only when they were computed with this run's
    configuration (`run_folder.resume`), and never writes over its inputs: the utterances' audio and `protect`
    (e.g. the manifest).
    engine: None evaluates here; an `Engine` (eval.ray_engine) elsewhere, each row written here as it comes back.
    """
    if not utterances:
        raise UserError("nothing to evaluate: the input lists no utterances")
    if not codec_names:
        raise UserError("no codec given: name at least one (see `lfsc-codec list`)")
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    metric_names = check_metrics(metrics)
    codecs = [build_codec(name, checkpoint) for name in dict.fromkeys(codec_names)]
    if asr_model is not None:
        asr.set_model_dir(asr_model)
    out = Path(out_dir)
    cache = _cache(cache_dir)
    if engine is not None:
        engine.connect()  # before the folder is touched
    run_folder.prepare(out)
    with run_folder.locked(out):
        inputs = run_folder.check_outputs(out, [*(u.audio_path for u in utterances), *protect], keep_audio)
        previous = run_folder.resume(out, configuration(codecs, metric_names))
        manifest = run_manifest(codecs, metric_names, source, cache, jobs, previous)
        manifest["engine"] = engine.name if engine is not None else "local"
        write_text_atomic(out / run_folder.RUN_MANIFEST, json.dumps(manifest, indent=2))
        job = Job(Scorer(out, metric_names, cache, keep_audio, inputs), {c.name: codec_key(c) for c in codecs},
                  checkpoint, asr_model)
        result = _Run(utterances, codecs, job, jobs, progress, cancel, show_progress_bar).evaluate(engine)
        if write_report and not result.cancelled:
            from eval.report import write_report as write

            write(out)
    return result


@dataclass
class _Tally:
    """How far a run is, said to its progress callback and bar."""

    total: int
    done: int
    progress: Progress | None
    bar: object | None  # a tqdm bar
    new: int = 0
    from_cache: int = 0
    skipped_now: dict[str, str] = field(default_factory=dict)

    def advance(self, pairs: int, message: str, row: bool) -> None:
        """`pairs` more pairs are done: one written (`row`), or those of a skipped utterance."""
        self.done += pairs
        if self.bar is not None:
            self.bar.update(pairs)
            if row:
                self.bar.set_postfix_str(message[-40:])
        if self.progress is not None:
            self.progress(self.done, self.total, message)


def start_utterance(scorer: Scorer, utt: Utterance, codecs: list[Codec], keys: dict[str, str | None],
                    cancelled: Callable[[], bool] = lambda: False) -> list[Unit]:
    """Load an utterance (UserError when its audio cannot be read) and start its units through `codecs` (until
    `cancelled()`), with their model metrics and ASR run over all of them at once (`Scorer.run_models`): what is
    left is their CPU metrics."""
    audio = utt.load()
    ref = scorer.reference(utt, audio.samples, audio.sample_rate)
    started = []
    for codec in codecs:
        if cancelled():
            break
        started.append(scorer.start(ref, codec, keys[codec.name]))
    scorer.run_models([(ref, started)])
    return started


def finish_here(scorer: Scorer, unit: Unit) -> Row:
    """A started unit's row, with its CPU metrics computed in this process."""
    todo = scorer.todo(unit)
    return scorer.complete(unit, pair.score(unit.pair, todo) if todo else {})


class _Run:
    """One call of `run` inside the locked folder: every (utterance, codec) pair its rows lack, in input order."""

    def __init__(self, utterances: list[Utterance], codecs: list[Codec], job: Job, jobs: int,
                 progress: Progress | None, cancel: CancelFlag | None, show_progress_bar: bool) -> None:
        self.utterances, self.codecs, self.job, self.cancel = utterances, codecs, job, cancel
        self.scorer, self.keys = job.scorer, job.keys
        self.out = self.scorer.out_dir
        self.rows = run_folder.RowWriter(self.out)
        self.pool: MetricPool[Unit] | None = MetricPool(jobs) if jobs > 1 else None
        listed = {utt.id for utt in utterances}
        # the utterances of this input an earlier run could not read, until they are read again
        self.skipped = {k: v for k, v in run_folder.read_skipped(self.out).items() if k in listed}
        total = len(utterances) * len(codecs)
        done = sum(1 for u in utterances for c in codecs if (u.id, c.name) in self.rows.done)
        bar = None
        if show_progress_bar:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, unit="pair", desc="evaluating", dynamic_ncols=True)
        self.tally = _Tally(total, done, progress, bar)

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def evaluate(self, engine: Engine | None) -> RunResult:
        """Evaluate what the folder lacks, here or on `engine`; the rows, the record of skipped utterances and the
        pool end with it."""
        try:
            cancelled = self._here() if engine is None else self._on(engine)
        finally:
            self._close()
        cache = self.scorer.cache
        return RunResult(self.out, len(self.rows.done), self.tally.new, self.tally.from_cache, cancelled, cache.hits,
                         cache.misses, self.tally.skipped_now)

    def _pending(self) -> list[tuple[Utterance, list[Codec]]]:
        """Each utterance with the codecs whose rows the folder lacks, in input order (those it lacks none of: no
        longer skipped, since an earlier run read them after all)."""
        pending = []
        for utt in self.utterances:
            todo = [c for c in self.codecs if (utt.id, c.name) not in self.rows.done]
            if todo:
                pending.append((utt, todo))
            else:
                self.skipped.pop(utt.id, None)
        return pending

    def _here(self) -> bool:
        """Evaluate in this process and the pool; True when cancelled."""
        for utt, todo in self._pending():
            if self._cancelled() or not self._utterance(utt, todo):
                return True
        self._drain(block=True, until_empty=True)
        return False

    def _on(self, engine: Engine) -> bool:
        """Evaluate on `engine`, writing each row as it comes back; True when cancelled."""
        pending = self._pending()
        todo = {utt.id: len(codecs) for utt, codecs in pending}
        for utt, outcome in engine.outcomes(self.job, [(u, [c.name for c in cs]) for u, cs in pending], self._cancelled):
            pairs = todo.pop(utt.id)
            if isinstance(outcome, str):
                self._skip(utt, pairs, outcome)
                continue
            self.skipped.pop(utt.id, None)
            for row in outcome:
                self._emit(row)
        return bool(todo)

    def _utterance(self, utt: Utterance, todo: list[Codec]) -> bool:
        """Evaluate one utterance through the codecs it lacks; False when cancelled on the way."""
        try:
            started = start_utterance(self.scorer, utt, todo, self.keys, self._cancelled)
        except UserError as exc:
            self._skip(utt, len(todo), str(exc))
            return True
        self.skipped.pop(utt.id, None)
        for unit in started:
            todo_metrics = self.scorer.todo(unit)
            if todo_metrics and self.pool is not None:
                self.pool.submit(unit, unit.pair, todo_metrics)
            else:
                self._emit(finish_here(self.scorer, unit))
            self._drain(block=self.pool is not None and len(self.pool) >= 2 * self.pool.jobs)
        return len(started) == len(todo)

    def _drain(self, block: bool, until_empty: bool = False) -> None:
        """Write the rows whose pool work has finished (waiting for one when `block`; for all when `until_empty`)."""
        while self.pool is not None:
            for unit, computed in self.pool.finished(block):
                self._emit(self.scorer.complete(unit, computed))
            if not (until_empty and len(self.pool)):
                return

    def _emit(self, row: Row) -> None:
        self.rows.write(row)
        self.tally.new += 1
        self.tally.from_cache += bool(row.cached)
        self.tally.advance(1, f"{row.utt_id} / {row.codec}", row=True)

    def _skip(self, utt: Utterance, pairs: int, reason: str) -> None:
        self.skipped[utt.id] = {"audio": str(utt.audio_path), "reason": reason}
        self.tally.skipped_now[utt.id] = reason
        self.tally.advance(pairs, f"{utt.id}: skipped, its audio cannot be read", row=False)

    def _close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        self.rows.close()
        run_folder.write_skipped(self.out, self.skipped)
        if self.tally.bar is not None:
            self.tally.bar.close()
