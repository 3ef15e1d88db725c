"""The Ray engine of `lfsc-eval run --engine ray`: the run's utterances evaluated as Ray tasks, one task per
utterance, while the driver (eval.runner) holds the run folder's lock, works out what the folder lacks and writes
every row the moment it comes back, exactly as with the local engine.

One task per utterance, not per (utterance, codec): an utterance's audio is read and hashed once, its original
and every codec's output go to the ASR model as one batch, and its speaker embedding is computed once, as in
`eval.runner.start_utterance`; a test set has far more utterances than a cluster has cores. A task runs that
function and the CPU metrics (`finish_here`) in its worker, with the run's cache: the workers read the audio and
the cache (and write kept audio) at the driver's paths, so a cluster of several machines needs them on a shared
filesystem. Workers are reused between tasks, so each builds a codec (and loads the ASR and speaker models) once.
A task whose worker dies is retried (MAX_RETRIES); rows already written stay, and a killed driver resumes like a
local run. Every task asks for one CPU: codecs and models on GPU actors are not done yet.
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
from eval.row import Row
from eval.runner import Job, Outcome, build_codec, finish_here, start_utterance

CONNECT_TIMEOUT_S = 5.0  # a cluster that does not answer within this is said to be unreachable
MAX_RETRIES = 3  # a task whose worker died (killed, out of memory, node lost) runs again up to this often
IN_FLIGHT_PER_CPU = 2  # tasks submitted ahead per cluster CPU: workers never wait, memory stays bounded


@dataclass
class RayEngine:
    """Ray at `address`: None starts Ray on this machine (or uses the Ray this process already started), "auto"
    the cluster this machine belongs to (`ray start`), HOST:PORT (or ray://HOST:PORT) a cluster's head."""

    address: str | None = None
    name: str = "ray"

    def connect(self) -> None:
        """Reach the cluster, or say in one line why not (fast: an address is probed before Ray is imported)."""
        if self.address not in (None, "auto"):
            _probe(self.address)
        import ray

        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise UserError(f"cannot reach a Ray cluster at {self.address}: {str(exc).splitlines()[0]} (start one "
                            "with `ray start --head`, or leave out --address to start Ray here)") from None

    def outcomes(self, job: Job, pending: list[tuple[Utterance, list[str]]],
                 cancelled: Callable[[], bool]) -> Iterator[Outcome]:
        """Each utterance's outcome as its task ends, a bounded number in flight; once `cancelled()`, the tasks
        in flight finish and no more start."""
        import ray

        task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(evaluate_utterance)
        shared = ray.put(job)
        window = max(2, IN_FLIGHT_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        waiting = iter(pending)
        running: dict = {}  # ObjectRef -> Utterance
        try:
            while True:
                while len(running) < window and not cancelled() and (item := next(waiting, None)) is not None:
                    running[task.remote(shared, *item)] = item[0]
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
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
        raise UserError(f"{utt.id}: the Ray worker evaluating it died {MAX_RETRIES + 1} times "
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
