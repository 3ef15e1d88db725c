"""eval.stoi: pystoi's STOI and ESTOI computed a block at a time give pystoi's values, on speech, on coded-like
distortions, across block boundaries and near the shortest input."""

import numpy as np
import pytest
import soxr
from pystoi import stoi as pystoi_stoi

from eval import stoi as bounded

RATE = bounded.RATE


def speech(seconds: float | None = None) -> np.ndarray:
    """Bundled speech at 10 kHz, tiled to `seconds`."""
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    clips = [soxr.resample(u.load().samples, u.load().sample_rate, RATE) for u in load_manifest(default_manifest())[:4]]
    x = np.concatenate(clips).astype(np.float64)
    return x if seconds is None else np.resize(x, int(seconds * RATE))


def degraded(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.convolve(x, [0.6, 0.3, 0.1], mode="same") + 0.02 * rng.standard_normal(len(x))
    return y * 0.8


@pytest.mark.parametrize("extended", [False, True])
def test_equals_pystoi_on_speech_with_blocks_smaller_than_the_signal(monkeypatch, extended):
    x = speech()
    y = degraded(x, 1)
    monkeypatch.setattr(bounded, "BLOCK_FRAMES", 97)  # many blocks, boundaries inside segments
    got = bounded.stoi(x, y, extended=extended)
    want = pystoi_stoi(x, y, RATE, extended=extended)
    assert got == pytest.approx(want, abs=1e-9) and 0.2 < got < 1.0


def test_blocks_do_not_change_the_value(monkeypatch):
    x = speech(40.0)
    y = degraded(x, 2)
    whole = bounded.stoi(x, y)
    monkeypatch.setattr(bounded, "BLOCK_FRAMES", 31)
    assert bounded.stoi(x, y) == pytest.approx(whole, abs=1e-12)


def test_silence_is_removed_as_pystoi_does_and_too_little_speech_gives_none():
    x = speech(6.0)
    x[20000:45000] = 0.0  # a long pause: its frames go
    y = degraded(x, 3)
    assert bounded.stoi(x, y) == pytest.approx(pystoi_stoi(x, y, RATE), abs=1e-9)
    short = np.zeros(RATE)
    short[:1500] = x[:1500]  # under 30 frames of speech, the rest digital silence
    assert bounded.stoi(short, short) is None


def test_identical_signals_score_one():
    x = speech(5.0)
    assert bounded.stoi(x, x) == pytest.approx(1.0, abs=1e-9)
    assert bounded.stoi(x, x, extended=True) == pytest.approx(1.0, abs=1e-6)
