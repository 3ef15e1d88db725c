"""`--engine ray` on a local two-CPU Ray cluster, one task per utterance and through a model actor on a CPU: the
rows of the local engine, the same progress and cache, a worker killed mid-run loses no row, and a cluster that
cannot hold the actors asked for is refused before the run folder is touched (slow: starting Ray takes seconds)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from codec.errors import UserError
from eval.manifest import Utterance
from eval.ray_engine import RayEngine
from eval.run_folder import read_rows
from eval.runner import run
from eval_assets import utterances

CODECS = ["identity", "codec2-3200"]
METRICS = ["si_sdr", "mel_distance"]
HOW_PRODUCED = ("cached", "seconds", "rtf", "encode_seconds", "decode_seconds", "metrics")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    # the worker unpickles this module's utterance class by value: it cannot import the tests folder
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _rows(out: Path) -> dict:
    return {r.key: r for r in read_rows(out).rows}


ENGINES = {"tasks": ({}, CODECS), "actor": ({"gpus_per_actor": 0, "batch_seconds": 4.0}, ["lfsc", "identity"])}


@pytest.mark.parametrize("how", ENGINES)
def test_ray_gives_the_local_engine_s_rows_and_progress(cluster, tmp_path, small_nemo, how):
    options, codecs = ENGINES[how]
    utts = utterances(count=3)
    said: dict[str, list] = {"local": [], "ray": []}
    local = run(utts, codecs, tmp_path / "local", metrics=METRICS, cache_dir=tmp_path / "cache-local",
                progress=lambda *a: said["local"].append(a[:2]), checkpoint=small_nemo)
    remote = run(utts, codecs, tmp_path / "ray", metrics=METRICS, cache_dir=tmp_path / "cache-ray",
                 progress=lambda *a: said["ray"].append(a[:2]), engine=RayEngine(**options), checkpoint=small_nemo)
    assert (remote.rows_total, remote.rows_new, remote.cancelled) == (local.rows_total, local.rows_new, False) == (6, 6, False)
    assert (remote.cache_hits, remote.cache_misses) == (local.cache_hits, local.cache_misses)  # the workers' counted
    assert said["ray"] == said["local"] == [(n, 6) for n in range(1, 7)]
    a, b = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert a.keys() == b.keys()
    for key in a:
        shown = {k: v for k, v in a[key].to_json().items() if k not in HOW_PRODUCED}
        assert {k: v for k, v in b[key].to_json().items() if k not in HOW_PRODUCED} == shown
        # a Ray task runs one BLAS/FFT thread: sums may differ in their last bit
        assert b[key].metrics == pytest.approx(a[key].metrics, rel=1e-12, abs=1e-12)
    # the same cache entries: a local run over the Ray run's cache computes nothing
    again = run(utts, codecs, tmp_path / "again", metrics=METRICS, cache_dir=tmp_path / "cache-ray",
                checkpoint=small_nemo)
    assert again.rows_from_cache == 6 and again.cache_misses == 0
    assert '"engine": "ray"' in (tmp_path / "ray" / "run.json").read_text()
    assert _summary(tmp_path / "ray") == _summary(tmp_path / "local")


def _summary(out: Path):
    """The report's summary, without the round trips' times, its numbers to 9 digits (the last bit may differ)."""
    def shown(value):
        if isinstance(value, dict):
            return {k: shown(v) for k, v in value.items() if k != "rtf"}
        if isinstance(value, list):
            return [shown(v) for v in value]
        return f"{value:.9g}" if isinstance(value, float) else value

    return shown(json.loads((out / "summary.json").read_text()))


def test_actors_the_cluster_cannot_hold_are_refused_before_the_folder_is_touched(cluster, tmp_path):
    with pytest.raises(UserError, match="has 0 GPUs"):
        run(utterances(count=1), ["identity"], tmp_path / "run", metrics=METRICS, engine=RayEngine(gpus_per_actor=1))
    assert not (tmp_path / "run").exists()
    assert RayEngine().actors() is None  # no GPUs: one task per utterance
    assert RayEngine(gpus_per_actor=0).actors() == (1, 0)


@dataclasses.dataclass(frozen=True)
class _DiesOnce(Utterance):
    """An utterance whose first load kills the process loading it, as the OOM killer or a lost node would."""

    marker: Path = Path()

    def load(self, sample_rate: int | None = None):
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().load(sample_rate)


def test_a_worker_killed_mid_run_loses_no_row(cluster, tmp_path):
    utts = utterances(count=3)
    marker = tmp_path / "killed"
    doomed = _DiesOnce(**{f.name: getattr(utts[1], f.name) for f in dataclasses.fields(Utterance)}, marker=marker)
    result = run([utts[0], doomed, utts[2]], CODECS, tmp_path / "run", metrics=METRICS, cache_dir=None,
                 engine=RayEngine())
    assert marker.read_text() != str(os.getpid())  # a worker died, not this process
    assert (result.rows_total, result.rows_new, result.cancelled, result.skipped) == (6, 6, False, {})
    assert set(_rows(tmp_path / "run")) == {(u.id, c) for u in utts for c in CODECS}
