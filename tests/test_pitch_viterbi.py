"""eval.pitch_viterbi decodes exactly as librosa's dense `_viterbi`: the same states, log-probability and ties on any
transition matrix; with eval.pyin_trough_prior, eval.metrics' pYIN tracks speech, clean and degraded, bit for bit as
librosa's pYIN as shipped."""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.registry import get_codec
from eval import metrics, pitch_viterbi, pyin_trough_prior
from eval_assets import utterances

TIES = st.sampled_from([0.0, -0.5, -1.0, -3.0])  # few values: equal candidates are common
VALUES = TIES | st.floats(-60.0, 0.0)


@lru_cache(maxsize=1)
def librosa_sequence():
    """A fresh copy of librosa's sequence module: its `_viterbi` is librosa's own, whatever eval.metrics installed."""
    import librosa.sequence

    spec = importlib.util.spec_from_file_location("librosa._original_sequence", librosa.sequence.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_decodes_as_librosa(log_prob: np.ndarray, log_trans: np.ndarray, log_p_init: np.ndarray) -> None:
    """The sparse decoder's states and log-probability are librosa's, dtype, shape and bits."""
    states, logp = pitch_viterbi.sparse_viterbi(log_prob, log_trans, log_p_init)
    with np.errstate(all="ignore"):
        want_states, want_logp = librosa_sequence()._viterbi.py_func(log_prob, log_trans, log_p_init)
    assert states.dtype == want_states.dtype and np.array_equal(states, want_states)
    assert logp.shape == want_logp.shape and logp.tobytes() == want_logp.tobytes()


def matrix(draw, n: int, values) -> np.ndarray:
    """An n x n matrix drawn from `values`."""
    return np.array(draw(st.lists(values, min_size=n * n, max_size=n * n))).reshape(n, n)


@st.composite
def transitions(draw, n: int) -> np.ndarray:
    """A row-stochastic n x n matrix: banded as pYIN's (maybe in its two voicing blocks), sparse, or with no zero."""
    import librosa.sequence

    kinds = ["sparse", "dense"] + ["banded"] * (n >= 2) + ["pyin"] * (n >= 4 and n % 2 == 0)
    kind = draw(st.sampled_from(kinds))
    if kind in ("banded", "pyin"):
        bins = n // 2 if kind == "pyin" else n
        width = draw(st.integers(1, bins))
        window = draw(st.sampled_from(["triangle", "boxcar"]))  # boxcar: equal transitions, ties
        local = librosa.sequence.transition_local(bins, width, window=window, wrap=draw(st.booleans()))
        if kind == "banded":
            return local
        return np.kron(librosa.sequence.transition_loop(2, draw(st.floats(0.01, 0.99))), local)
    weights = matrix(draw, n, st.sampled_from([1.0, 2.0]) | st.floats(0.001, 1.0))
    if kind == "sparse":
        weights *= matrix(draw, n, st.booleans())
        weights[np.arange(n), draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n))] += 1.0
    return weights / weights.sum(axis=1, keepdims=True)


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(1, 12), st.integers(1, 12))
def test_any_stochastic_matrix_decodes_as_librosa_decodes_it(data, n_states, n_steps):
    """librosa.sequence.viterbi's own logs: log(x + tiny), so every zero transition is the floor."""
    import librosa.util

    transition = data.draw(transitions(n_states))
    prob = np.exp(np.array(data.draw(st.lists(VALUES, min_size=n_steps * n_states, max_size=n_steps * n_states))))
    epsilon = librosa.util.tiny(prob)
    log_prob = np.log(prob.reshape(n_states, n_steps) + epsilon).T  # transposed, as librosa hands it over
    log_trans = np.log(transition + epsilon)
    assert_decodes_as_librosa(log_prob, log_trans, np.log(np.full(n_states, 1.0 / n_states) + epsilon))


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(1, 8), st.integers(1, 8))
def test_any_log_matrix_decodes_as_librosa_decodes_it_infinities_and_nans_included(data, n_states, n_steps):
    values = TIES | st.sampled_from([-np.inf, np.inf, np.nan]) | st.floats(-60.0, 60.0)
    log_prob = matrix(data.draw, max(n_states, n_steps), values)[:n_steps, :n_states]
    log_trans = matrix(data.draw, n_states, values)
    log_p_init = np.array(data.draw(st.lists(values, min_size=n_states, max_size=n_states)))
    assert_decodes_as_librosa(log_prob, log_trans, log_p_init)


def test_a_matrix_with_every_transition_equal_is_decoded_by_full_scans_as_librosa():
    """No transition is above the floor, so no state has a support: every maximum is librosa's full scan."""
    log_prob = np.log(np.random.default_rng(0).random((20, 6)))
    log_trans = np.full((6, 6), np.log(1 / 6))
    state, logp, full_scans = pitch_viterbi.decode(log_prob, log_trans, np.zeros(6))
    assert full_scans == 19 * 6
    assert_decodes_as_librosa(log_prob, log_trans, np.zeros(6))


def clips() -> list[np.ndarray]:
    """Four bundled utterances at 16 kHz, the first also through Opus at 6 kbit/s and with white noise."""
    from codec.audio import load_audio

    speech = [load_audio(u.audio_path, 16000).samples.astype(np.float64) for u in utterances(count=4)]
    degraded = get_codec("opus-6k").roundtrip(speech[0].astype(np.float32), 16000).audio.astype(np.float64)
    noisy = speech[0] + 0.05 * np.random.default_rng(0).standard_normal(len(speech[0])) * np.std(speech[0])
    return [*speech, degraded, noisy]


def test_pitch_tracks_of_speech_are_librosas_own_bit_for_bit(monkeypatch):
    """eval.metrics' pYIN (sparse Viterbi, tabled trough prior) against librosa's pYIN as shipped (its compiled
    `_viterbi`, scipy's pmf); on pYIN's matrix (about 41 predecessors a state of 432) hardly any maximum needs the
    full scan."""
    import librosa.core.pitch
    import librosa.sequence
    import scipy

    original = librosa_sequence()._viterbi
    voiced_frames = frames = 0
    for x in clips():
        with monkeypatch.context() as librosas:
            inputs = []
            librosas.setattr(pitch_viterbi, "install", lambda: None)
            librosas.setattr(pyin_trough_prior, "install", lambda: None)
            librosas.setattr(librosa.core.pitch, "scipy", scipy)
            librosas.setattr(librosa.sequence, "_viterbi", lambda *args: inputs.append(args) or original(*args))
            f0_want, voiced_want = metrics._pyin(x)
        f0, voiced = metrics._pyin(x)
        assert librosa.sequence._viterbi is pitch_viterbi.sparse_viterbi
        assert isinstance(librosa.core.pitch.scipy.stats.boltzmann, pyin_trough_prior.BoltzmannTable)
        assert f0.tobytes() == f0_want.tobytes() and np.array_equal(voiced, voiced_want)
        (log_prob, log_trans, log_p_init), = inputs
        _, _, full_scans = pitch_viterbi.decode(log_prob, log_trans, log_p_init)
        assert full_scans <= 0.001 * log_prob.size
        voiced_frames, frames = voiced_frames + voiced.sum(), frames + len(voiced)
    assert 0.2 < voiced_frames / frames < 0.9  # tracks with both voiced and unvoiced frames


def test_float32_inputs_decode_as_librosa_decodes_them():
    """librosa.sequence.viterbi keeps float64 values whatever its inputs: the installed decoder too."""
    rng = np.random.default_rng(1)
    log_prob = np.log(rng.random((30, 8))).astype(np.float32)
    log_trans = np.log(np.eye(8) * 0.7 + 0.3 / 8).astype(np.float32)
    assert_decodes_as_librosa(log_prob, log_trans, np.full(8, np.log(1 / 8), dtype=np.float32))
