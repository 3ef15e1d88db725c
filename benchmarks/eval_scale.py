"""Audio hours evaluated per wall hour, `--engine local --jobs 2` (and --jobs 1) against `--engine ray` on a local
Ray cluster of the same CPUs, side by side in one run (not a test).

Usage: python benchmarks/eval_scale.py [--minutes M | --hour] [--cpus 2] [--repeats 2] [--codec NAME] [--metrics ...]
The workload is the bundled speech tiled (each clip under new ids) to about M minutes of audio; the cache is off,
so every tile is computed. One utterance is evaluated first, untimed, so that neither engine pays for this
process's imports; each still pays its own workers' (the local pool's processes, Ray's workers). Ray's start-up (ray.init) and its per-task overhead (no-op tasks, one at a time and
many at once) are timed apart from the runs, and the ratio is given without and with the start-up. The engines
run in turn, --repeats times: Ray's first run starts its workers (cold, as a fresh `lfsc-eval run --engine ray`),
later ones reuse them (as runs on a standing cluster do); the local engine starts its pool in every run.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from codec.bundled_speech import default_manifest
from eval.manifest import Utterance, load_manifest
from eval.ray_engine import RayEngine
from eval.runner import run

DEFAULT_CODECS = ["codec2-3200", "opus-6k"]
DEFAULT_METRICS = ["pesq_wb", "stoi", "si_sdr", "mel_distance"]


def workload(minutes: float) -> list[Utterance]:
    """The bundled utterances, repeated under new ids until they hold `minutes` of audio."""
    clips = load_manifest(default_manifest())
    tiled: list[Utterance] = []
    while sum(u.duration for u in tiled) < minutes * 60:
        clip = clips[len(tiled) % len(clips)]
        tiled.append(dataclasses.replace(clip, id=f"{clip.id}#{len(tiled) // len(clips)}"))
    return tiled


def _noop() -> None:
    return None


def ray_overheads(cpus: int) -> dict[str, float]:
    """Seconds to start Ray here, and a no-op task's cost: one at a time (latency) and 1000 at once (per task)."""
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    out = {"start-up s": time.perf_counter() - started}
    task = ray.remote(num_cpus=1)(_noop)
    ray.get([task.remote() for _ in range(2 * cpus)])  # workers started before timing
    started = time.perf_counter()
    for _ in range(100):
        ray.get(task.remote())
    out["task latency ms"] = (time.perf_counter() - started) * 10
    started = time.perf_counter()
    ray.get([task.remote() for _ in range(1000)])
    out["task overhead ms"] = time.perf_counter() - started
    return out


def timed_run(utts: list[Utterance], codecs: list[str], metrics: list[str], out: Path, **engine) -> float:
    """Wall seconds of one run of the workload into `out`, without the cache or the report."""
    started = time.perf_counter()
    result = run(utts, codecs, out, metrics=metrics, cache_dir=None, write_report=False, **engine)
    assert result.rows_new == len(utts) * len(codecs), result
    return time.perf_counter() - started


def main() -> None:
    """Run the workload through both engines and print their figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="audio minutes in the workload (default 3)")
    parser.add_argument("--hour", action="store_true", help="the one-hour workload (--minutes 60)")
    parser.add_argument("--cpus", type=int, default=2, help="--jobs of the local engine, CPUs of the Ray cluster")
    parser.add_argument("--codec", action="append", help=f"codecs (default: {' '.join(DEFAULT_CODECS)})")
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each engine, alternated (default 2)")
    args = parser.parse_args()
    utts = workload(60.0 if args.hour else args.minutes)
    codecs = args.codec or DEFAULT_CODECS
    hours = sum(u.duration for u in utts) / 3600
    print(f"workload: {len(utts)} utterances, {hours * 60:.1f} audio minutes, codecs {' '.join(codecs)}, "
          f"metrics {' '.join(args.metrics)}, {args.cpus} CPUs, no cache")
    with tempfile.TemporaryDirectory() as tmp:
        # this process's imports and first loads are no engine's cost: one utterance, one process, untimed
        timed_run(utts[:1], codecs, args.metrics, Path(tmp) / "warm-up")
        walls: list[tuple[float, float, float]] = []
        for rep in range(args.repeats):  # alternated, so that a neighbour's load falls on all alike
            one = timed_run(utts, codecs, args.metrics, Path(tmp) / f"one{rep}")
            local = timed_run(utts, codecs, args.metrics, Path(tmp) / f"local{rep}", jobs=args.cpus)
            if rep == 0:
                overheads = ray_overheads(args.cpus)
            walls.append((one, local, timed_run(utts, codecs, args.metrics, Path(tmp) / f"ray{rep}", engine=RayEngine())))
    _print(walls, overheads, hours, len(utts), args.cpus)


def _print(walls: list[tuple[float, float, float]], overheads: dict[str, float], hours: float, tasks: int,
           cpus: int) -> None:
    """One line per repetition: each engine's wall time and audio hours per wall hour, and Ray's ratios."""
    start = overheads["start-up s"]
    print(f"ray start-up {start:.1f} s; no-op task: {overheads['task latency ms']:.2f} ms one at a time, "
          f"{overheads['task overhead ms']:.2f} ms each of 1000 at once; {tasks} tasks (one per utterance)")
    print(f"| run | local --jobs 1 | local --jobs {cpus} | ray, {cpus} CPUs | ray / local --jobs {cpus} "
          f"| ray + start-up / local --jobs {cpus} | ray / local --jobs 1 |")
    print("|---|---|---|---|---|---|---|")
    for rep, (one, local, remote) in enumerate(walls, 1):
        cells = [f"{wall:.1f} s ({hours * 3600 / wall:.2f} h/h)" for wall in (one, local, remote)]
        print(f"| {rep} (ray workers {'cold' if rep == 1 else 'warm'}) | {' | '.join(cells)} | {local / remote:.2f} | "
              f"{local / (remote + start):.2f} | {one / remote:.2f} |")

if __name__ == "__main__":
    main()
