"""DistillMOS on many clips at once (`predict_many`): the windows of all clips rated together agree with one clip at
a time to float rounding (a short clip padded as the package pads it), and the version says when that is the
default."""

from __future__ import annotations

import numpy as np
import pytest

from codec.audio import load_audio
from eval import mos
from eval_assets import utterances

TOLERANCE = 1e-5  # batched windows against one clip at a time: 4.8e-7 measured on CPU (one float32 step at 4)


class Recording:
    """The real model, recording each call's input shape."""

    def __init__(self, model):
        self.model, self.shapes = model, []

    def __call__(self, x):
        self.shapes.append(tuple(x.shape))
        return self.model(x)


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """Short clips (DistillMOS is slow on CPU): 2 s and 1.5 s of two bundled clips, a silent second, 0.2 s of
    speech, and 8.5 s (two clips joined: two windows) - six windows in all."""
    a, b, c = (load_audio(u.audio_path).samples for u in utterances(count=3))
    joined = np.concatenate([a, b, c, a])[: int(8.5 * mos.SAMPLE_RATE)]
    assert len(joined) == int(8.5 * mos.SAMPLE_RATE)
    return [a[:32000], b[:24000], np.zeros(16000, np.float32), c[4000:7200], joined]


@pytest.fixture(scope="module")
def expected(clips) -> list[float]:
    return [mos.predict(clip) for clip in clips]


@pytest.fixture
def recording(monkeypatch) -> Recording:
    recording = Recording(mos._model("cpu"))
    monkeypatch.setattr(mos, "_model", lambda device: recording)
    return recording


def test_forced_batching_agrees_with_one_clip_at_a_time(clips, expected, recording):
    assert [len(mos.windows(len(clip))) for clip in clips] == [1, 1, 1, 1, 2]
    got = mos.predict_many(clips, batch=True)
    assert recording.shapes == [(6, mos.WINDOW)]  # every window in one call
    assert got == pytest.approx(expected, abs=TOLERANCE) and all(1.0 <= g <= 5.0 for g in got)
    assert max(expected) - min(expected) > 0.3  # the clips are told apart at this tolerance


def test_chunks_of_a_few_windows_change_nothing_beyond_rounding(clips, expected, recording, monkeypatch):
    """Four windows per call: the long clip's two windows fall into different calls."""
    monkeypatch.setattr(mos, "BATCH_MANY", 4)
    got = mos.predict_many(clips, batch=True)
    assert recording.shapes == [(4, mos.WINDOW), (2, mos.WINDOW)]
    assert got == pytest.approx(expected, abs=TOLERANCE)


def test_a_batch_of_one_short_clip_is_the_packages_own_padding(clips, expected, recording):
    """A clip shorter than a window, padded here with zeros, is what the package's forward pads: bit-identical."""
    assert mos.predict_many([clips[3]], batch=True) == [expected[3]]
    assert recording.shapes == [(1, mos.WINDOW)]
    assert mos.predict_many([], batch=True) == []


def test_unbatched_predict_many_is_bit_identical_to_predict(clips, expected, recording):
    assert not mos.batched()  # no GPU here: one clip at a time by default
    assert mos.predict_many(clips[:2]) == expected[:2]
    assert recording.shapes == [(1, 32000), (1, 24000)]  # predict's calls, the clip fed whole


def test_on_a_gpu_the_gpu_metrics_cache_keys_say_so_without_loading_a_model(monkeypatch):
    import codec.devices
    from eval.identity import metric_key
    from eval.metrics import GPU_METRICS

    def no_model(device):
        raise AssertionError("the keys load no model")

    monkeypatch.setattr(mos, "_model", no_model)
    names = (*GPU_METRICS, "pesq_wb", "stoi")
    here = {name: metric_key(name) for name in names}
    assert not mos.batched() and not any("+gpu" in key for key in here.values())
    monkeypatch.setattr(codec.devices, "default_device", lambda: "cuda")
    monkeypatch.setattr(mos, "default_device", lambda: "cuda")
    gpu = {name: metric_key(name) for name in names}
    assert mos.batched()
    assert [name for name in names if gpu[name] != here[name]] == list(GPU_METRICS)
    assert all(gpu[name].startswith(here[name].split("/")[0]) and "+gpu" in gpu[name] for name in GPU_METRICS)
