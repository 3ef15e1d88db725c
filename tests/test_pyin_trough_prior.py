"""eval.pyin_trough_prior's table gives scipy.stats.boltzmann.pmf's bits: on any integer arrays (out-of-support ranks
and invalid counts included) and on every call pYIN makes on speech; other calls go to scipy."""

from __future__ import annotations

import numpy as np
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from eval.pyin_trough_prior import BoltzmannTable, install
from eval_assets import utterances

LAMBDAS = st.sampled_from([2, 1, 3, 0, -1, 2.0, 0.5, 1.7])
TABLE = BoltzmannTable()  # one for all examples: its tables are kept, and grow


def assert_as_scipy(table: BoltzmannTable, k, lambda_, n) -> None:
    """The table's pmf is scipy's: shape, dtype and bits (NaNs included)."""
    got, want = table.pmf(k, lambda_, n), scipy.stats.boltzmann.pmf(k, lambda_, n)
    assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()


@settings(max_examples=250, deadline=None)
@given(st.data(), LAMBDAS, st.integers(1, 6), st.integers(1, 12))
def test_integer_arrays_read_scipys_bits(data, lambda_, rows, columns):
    """Ranks and counts as pYIN's (k rows of thresholds, N a count per threshold), with ranks below -1 and past N,
    counts of 0 and below, and ones past the first table's size, so it grows."""
    k = data.draw(hnp.arrays(np.int64, (rows, columns), elements=st.integers(-3, 40) | st.just(300)))
    n = data.draw(hnp.arrays(np.int64, (columns,), elements=st.integers(-2, 40) | st.just(301) | st.just(600)))
    assert_as_scipy(TABLE, k, lambda_, n)


def test_other_calls_are_scipys():
    table = BoltzmannTable()
    for k, lambda_, n in [(np.array([0.5, 1.0]), 2, np.array([3, 3])), (np.array([0, 1]), np.float64(2), 3),
                          (np.array([0, 10_000]), 2, np.array([20_000, 20_000])), (np.zeros((0, 3), int), 2, np.ones(3, int))]:
        assert_as_scipy(table, k, lambda_, n)
    assert table.pmf(np.array([1]), 2, np.array([5]), loc=1).tobytes() == scipy.stats.boltzmann.pmf(1, 2, 5, loc=1).tobytes()


def test_every_call_pyin_makes_on_speech_reads_scipys_bits(monkeypatch):
    import librosa.core.pitch

    from codec.audio import load_audio

    calls, original = [], scipy.stats.boltzmann.pmf
    monkeypatch.setattr(librosa.core.pitch, "scipy", scipy)  # as shipped, whatever eval.metrics installed
    monkeypatch.setattr(scipy.stats.boltzmann, "pmf", lambda *args: calls.append(args) or original(*args))
    for utt in utterances(count=3):
        x = load_audio(utt.audio_path, 16000).samples.astype(np.float64)
        librosa.pyin(x, fmin=50.0, fmax=600.0, sr=16000, frame_length=1024, hop_length=160, resolution=0.2)
    assert len(calls) > 300
    table = BoltzmannTable()
    assert all(table.pmf(*args).tobytes() == original(*args).tobytes() for args in calls)


def test_installed_librosa_sees_the_table_and_the_rest_of_scipy():
    import librosa.core.pitch

    install()
    assert isinstance(librosa.core.pitch.scipy.stats.boltzmann, BoltzmannTable)
    assert librosa.core.pitch.scipy.stats.beta is scipy.stats.beta and librosa.core.pitch.scipy.fft is scipy.fft
    assert scipy.stats.boltzmann is not librosa.core.pitch.scipy.stats.boltzmann  # scipy itself untouched
