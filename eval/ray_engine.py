"""The Ray engine of `lfsc-eval run --engine ray`: the run's utterances evaluated on a Ray cluster, while the driver
(eval.runner) holds the run folder's lock, works out what the folder lacks and writes every row the moment it comes
back, exactly as with the local engine. Two ways, chosen by `gpus_per_actor`:

- Model actors (the default on a cluster with GPUs; `--gpus-per-actor F`, 0 for actors on CPUs): each actor
  (`ModelStage`, F GPUs and one CPU) builds the run's codecs once and loads the ASR and speaker models once, on
  first use; it takes batches of about `batch_seconds` of audio, utterances of similar duration together
  (eval.model_batches: LFSC's encoder batched where that is exact, everything else one clip at a time), and returns
  each utterance's started units; each utterance's CPU metrics (`finish_here`) then run as an ordinary one-CPU Ray
  task on those units, which go from actor to task through Ray's object store, not through the driver.
- One task per utterance (the default on a cluster without GPUs): a one-CPU task runs `start_utterance` and
  `finish_here` for an utterance in its worker, which builds each codec (and loads the models) once and is reused.

An utterance's audio is read and hashed once and its reference's speaker embedding computed once; the model
metrics and ASR of a batch's (or a task's utterance's) clips run together (`eval.unit.Scorer.run_models`). Workers and actors read
the audio and the cache (and write kept audio) at the driver's paths, so a cluster of several machines needs them
on a shared filesystem. In flight at any time: at most IN_FLIGHT_PER_CPU utterances per cluster CPU (plus the
rest of one batch), so memory stays bounded however long the corpus. A task whose worker dies, or an actor that
dies, is retried (MAX_RETRIES); rows already written stay, and a killed driver resumes like a local run.
Ray is imported only when this engine is used.
"""

from __future__ import annotations

import functools
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from codec.errors import UserError
from codec.interface import Codec
from eval import asr
from eval.manifest import Utterance
from eval.model_batches import duration_batches, start_batch
from eval.row import Row
from eval.runner import Job, Outcome, build_codec, finish_here, start_utterance
from eval.unit import Unit

CONNECT_TIMEOUT_S = 5.0  # a cluster that does not answer within this is said to be unreachable
MAX_RETRIES = 3  # a task whose worker died (killed, out of memory, node lost) runs again up to this often
IN_FLIGHT_PER_CPU = 2  # utterances submitted ahead per cluster CPU: workers never wait, memory stays bounded
DEFAULT_BATCH_SECONDS = 60.0  # audio per actor batch: enough clips to fill LFSC's frame-count buckets

Submitted = dict  # ObjectRef of an utterance's (rows or why not, cache hits, cache misses) -> Utterance


@dataclass
class RayEngine:
    """Ray at `address`: None starts Ray on this machine (or uses the Ray this process already started), "auto"
    the cluster this machine belongs to (`ray start`), HOST:PORT (or ray://HOST:PORT) a cluster's head.
    `gpus_per_actor`: what each model actor holds (0: actors on CPUs); None: 1 when the cluster has GPUs, else no
    actors (one CPU task per utterance). `batch_seconds`: the audio of one actor batch."""

    address: str | None = None
    gpus_per_actor: float | None = None
    batch_seconds: float = DEFAULT_BATCH_SECONDS
    name: str = "ray"

    def __post_init__(self) -> None:
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise UserError(f"--gpus-per-actor must be 0 or more, got {self.gpus_per_actor:g}")
        if self.batch_seconds <= 0:
            raise UserError(f"--batch-seconds must be more than 0, got {self.batch_seconds:g}")

    def connect(self) -> None:
        """Reach the cluster and check that it can hold the actors, or say in one line why not (fast: an address
        is probed before Ray is imported)."""
        if self.address not in (None, "auto"):
            _probe(self.address)
        import ray

        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except ConnectionError as exc:
                raise UserError(f"cannot reach a Ray cluster at {self.address}: {str(exc).splitlines()[0]} (start "
                                "one with `ray start --head`, or leave out --address to start Ray here)") from None
        self.actors()

    def actors(self) -> tuple[int, float] | None:
        """(model actors, GPUs each) on the connected cluster; None: one task per utterance, no actors."""
        import ray

        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
        each = self.gpus_per_actor if self.gpus_per_actor is not None else (1.0 if gpus >= 1 else None)
        if each is None:
            return None
        if each > gpus:
            raise UserError(f"--gpus-per-actor {each:g}: the Ray cluster has {gpus:g} GPUs (give 0 for actors on "
                            "CPUs)")
        count = int(gpus // each) if each else 1
        if cpus < count + 1:
            raise UserError(f"the Ray cluster has {cpus:g} CPUs: its {count} model actors take one each and the "
                            "CPU metrics need one more")
        return count, each

    def outcomes(self, job: Job, pending: list[tuple[Utterance, list[str]]],
                 cancelled: Callable[[], bool]) -> Iterator[Outcome]:
        """Each utterance's outcome as its work ends, a bounded number in flight; once `cancelled()`, the work in
        flight finishes and no more starts."""
        import ray

        window = max(2, IN_FLIGHT_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        shared = ray.put(job)
        plan = self.actors()
        stages = [] if plan is None else _model_stages(shared, *plan)
        work = _per_utterance(shared, pending) if plan is None else _per_batch(
            shared, stages, duration_batches(pending, self.batch_seconds))
        try:
            yield from _gathered(job, work, window, cancelled)
        finally:
            for stage in stages:  # their work is done, or belongs to a run that ended
                ray.kill(stage)


def _gathered(job: Job, work: Iterator[Submitted], window: int, cancelled: Callable[[], bool]) -> Iterator[Outcome]:
    """Each submitted utterance's outcome as it ends, submitting more while fewer than `window` are in flight."""
    import ray

    running: Submitted = {}
    try:
        while True:
            while len(running) < window and not cancelled() and (more := next(work, None)) is not None:
                running.update(more)
            if not running:
                return
            done, _ = ray.wait(list(running), num_returns=1)
            utt = running.pop(done[0])
            outcome, hits, misses = _result(done[0], utt)
            job.scorer.cache.hits += hits
            job.scorer.cache.misses += misses
            yield utt, outcome
    finally:
        for ref in running:  # an error or Ctrl-C in the driver: nothing left running for a run that ended
            ray.cancel(ref)


def _per_utterance(shared, pending: list[tuple[Utterance, list[str]]]) -> Iterator[Submitted]:
    """One one-CPU task per utterance, submitted as they are taken."""
    import ray

    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(evaluate_utterance)
    for utt, names in pending:
        yield {task.remote(shared, utt, names): utt}


def _model_stages(shared, count: int, gpus: float) -> list:
    """`count` model actors of `gpus` GPUs and one CPU each, restarted when they die."""
    import ray

    stage = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)(ModelStage)
    return [stage.remote(shared) for _ in range(count)]


def _per_batch(shared, stages: list, batches: list[list[tuple[Utterance, list[str]]]]) -> Iterator[Submitted]:
    """Each batch to the next model actor in turn, and each of its utterances' CPU metrics to a one-CPU task fed
    by the actor's result (the batch's cache counts go with its first utterance)."""
    import ray

    finish = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(finish_utterance)
    for number, batch in enumerate(batches):
        *started, counts = stages[number % len(stages)].start.options(num_returns=len(batch) + 1).remote(batch)
        yield {finish.remote(shared, ref, counts if i == 0 else (0, 0)): utt
               for i, (ref, (utt, _)) in enumerate(zip(started, batch))}


class ModelStage:
    """(A Ray actor) the run's codecs built once, and its ASR and speaker models loaded once on first use (on the
    actor's GPU when it has one); starts batches of utterances (eval.model_batches.start_batch)."""

    def __init__(self, job: Job) -> None:
        asr.set_model_dir(job.asr_model)
        self.job = job
        self.codecs = {name: build_codec(name, job.checkpoint) for name in job.keys}

    def start(self, batch: list[tuple[Utterance, list[str]]]) -> list:
        """Each utterance's started units, or why it cannot be evaluated; then the (cache hits, misses) it took."""
        cache = self.job.scorer.cache
        hits, misses = cache.hits, cache.misses
        started = start_batch(self.job.scorer, [(utt, [self.codecs[n] for n in names]) for utt, names in batch],
                              self.job.keys)
        return [*started, (cache.hits - hits, cache.misses - misses)]


def finish_utterance(job: Job, started: list[Unit] | str, counts: tuple[int, int]) -> tuple[list[Row] | str, int, int]:
    """(In a Ray worker) an utterance's rows from its started units, their CPU metrics computed here; with the
    cache counts of its start."""
    outcome = started if isinstance(started, str) else [finish_here(job.scorer, unit) for unit in started]
    return outcome, *counts


def evaluate_utterance(job: Job, utt: Utterance, codec_names: list[str]) -> tuple[list[Row] | str, int, int]:
    """(In a Ray worker) one utterance through the codecs it lacks: its rows, or why its audio cannot be read;
    with the cache hits and misses it took."""
    asr.set_model_dir(job.asr_model)
    codecs = [_codec(name, job.checkpoint) for name in codec_names]
    cache = job.scorer.cache
    hits, misses = cache.hits, cache.misses
    try:
        outcome: list[Row] | str = [finish_here(job.scorer, unit)
                                    for unit in start_utterance(job.scorer, utt, codecs, job.keys)]
    except UserError as exc:
        outcome = str(exc)
    return outcome, cache.hits - hits, cache.misses - misses


@functools.lru_cache(maxsize=None)
def _codec(name: str, checkpoint: str | Path | None) -> Codec:
    """A codec built once per worker process (an LFSC model loads once, not once per utterance)."""
    return build_codec(name, checkpoint)


def _result(ref, utt: Utterance) -> tuple[list[Row] | str, int, int]:
    """A finished task's result; its error as the error it was in the worker, a worker that kept dying in one
    line."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise exc.cause from None
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.RayActorError) as exc:
        raise UserError(f"{utt.id}: the Ray worker or actor evaluating it died {MAX_RETRIES + 1} times "
                        f"({type(exc).__name__}); the rows so far are kept: run again to resume") from None


def _probe(address: str) -> None:
    """Refuse an address that is not HOST:PORT, or where nothing answers within CONNECT_TIMEOUT_S."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address}: give auto or HOST:PORT (the cluster head's, e.g. 10.0.0.1:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc} (start one with "
                        "`ray start --head`, or leave out --address to start Ray here)") from None
