"""A cancel stops inside a long metric, between its pieces or windows, and is never recorded as a missing value."""

import numpy as np
import pytest
import soxr

from eval import interruptible, stoi
from eval.metrics import compute
from eval.pair import prepare, score

RATE = 16000


class Stop(Exception):
    pass


def long_speech(seconds: float) -> np.ndarray:
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    clips = [u.load() for u in load_manifest(default_manifest()) if u.lang == "en"][:6]
    x = np.concatenate([soxr.resample(c.samples, c.sample_rate, RATE) for c in clips]).astype(np.float32)
    return np.resize(x, int(seconds * RATE))


def counting(stop_at: int | None = None):
    calls = []

    def check():
        calls.append(1)
        if stop_at is not None and len(calls) >= stop_at:
            raise Stop

    return calls, check


def test_without_a_check_nothing_changes_and_checks_come_between_a_long_clips_pieces(monkeypatch):
    x = long_speech(70.0)
    y = np.roll(x, 3) * 0.9
    plain = compute("pesq_wb", x, y, RATE)
    calls, check = counting()
    with interruptible.interruptible(check):
        assert compute("pesq_wb", x, y, RATE) == plain
    assert len(calls) >= 3  # 70 s of speech: PESQ goes in pieces of 15 to 30 s
    monkeypatch.setattr(stoi, "BLOCK_FRAMES", 500)
    calls, check = counting()
    with interruptible.interruptible(check):
        compute("stoi", x, y, RATE)
    assert len(calls) >= 5


def test_a_check_that_raises_stops_the_metric_and_the_scoring_does_not_swallow_it(monkeypatch):
    x = long_speech(70.0)
    pair = prepare(x, RATE, x * 0.9, RATE)
    import pesq as pesq_package

    scored = []
    real = pesq_package.pesq
    monkeypatch.setattr(pesq_package, "pesq", lambda *a: scored.append(1) or real(*a))
    _, check = counting(stop_at=2)
    with interruptible.interruptible(check), pytest.raises(Stop):
        score(pair, ("pesq_wb",))
    assert scored == [1]  # stopped before the second piece, not after the metric
    assert interruptible.checkpoint() is None  # the check is gone once the block is left


def test_a_cancelled_app_task_stops_inside_the_metric_it_is_computing(qtbot, monkeypatch):
    from eval import native_calls
    from workbench.clip_metrics import fast_metrics
    from workbench.workers import Cancelled, Task

    x = long_speech(70.0)
    task = Task(fast_metrics, x, x * 0.9, RATE)
    scored = []
    real = native_calls.call

    def call_then_cancel(fn, *args):  # PESQ's pieces go through this (to the child process)
        scored.append(fn.__name__)
        task.cancel()  # the user presses cancel while PESQ-WB is on its first piece
        return real(fn, *args)

    monkeypatch.setattr(native_calls, "call", call_then_cancel)
    with pytest.raises(Cancelled):
        task.run_here()
    assert scored == ["pesq"]
