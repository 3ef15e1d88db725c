"""pYIN's Viterbi decoded sparsely, bit for bit as librosa decodes it densely.

librosa's `sequence._viterbi` compares, for every state at every frame, all `n_states` predecessors: O(T n^2), most
of a pitch track's time. pYIN's transition matrix is sparse (a pitch bin moves at most a few semitones a frame), and
librosa adds a tiny epsilon before the log, so every zero transition becomes the same constant: the matrix's
minimum, `floor`. Here each state scans only its other predecessors (its support), and falls back to librosa's full
scan for a state whenever a predecessor off the support could reach the best found, so the states, log-probability
and tie-breaking (first index, as `np.argmax`) are librosa's for any matrix. Compiled to release the GIL: the app
tracks pitch on a worker thread and its window must not freeze for the second a long window takes.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True)
def _supports(log_trans: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each target state's predecessors whose transition is not `floor`, in increasing order, and those
    transitions: state j's are `predecessors[start[j]:start[j + 1]]`, `weights[start[j]:start[j + 1]]`."""
    n_states = log_trans.shape[0]
    start = np.zeros(n_states + 1, dtype=np.int64)
    predecessors = np.empty(n_states * n_states, dtype=np.int64)
    weights = np.empty(n_states * n_states)
    count = 0
    for j in range(n_states):
        for k in range(n_states):
            if log_trans[k, j] != floor:
                predecessors[count] = k
                weights[count] = log_trans[k, j]
                count += 1
        start[j + 1] = count
    return start, predecessors[:count], weights[:count]


@numba.njit(nogil=True)
def decode(log_prob: np.ndarray, log_trans: np.ndarray, log_p_init: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """librosa's `_viterbi(log_prob, log_trans, log_p_init)` (states, log-probability), and how many of the
    (frame, state) maxima fell back to the full scan of all predecessors."""
    n_steps, n_states = log_prob.shape
    # A non-finite transition could make a NaN the bound below does not see: then every maximum is a full scan.
    floor = np.min(log_trans) if np.all(np.isfinite(log_trans)) else np.nan
    start, predecessors, weights = _supports(log_trans, floor)
    ptr = np.zeros((n_steps, n_states), dtype=np.uint16)
    previous = np.empty(n_states)  # float64 whatever the inputs' type, as librosa keeps its values
    previous[:] = log_prob[0] + log_p_init
    value = np.empty(n_states)
    column = np.empty(n_states)
    dense = 0
    for t in range(1, n_steps):
        # Every candidate off a support is fl(previous[k] + floor) <= fl(max(previous) + floor) (rounding is monotone);
        # a NaN anywhere in `previous` makes the bound NaN, and the comparison below then takes the full scan.
        bound = np.max(previous) + floor
        for j in range(n_states):
            best = -np.inf
            best_k = 0
            for i in range(start[j], start[j + 1]):
                k = predecessors[i]
                candidate = previous[k] + weights[i]
                if candidate > best:  # strict: a tie keeps the first index, as np.argmax does
                    best = candidate
                    best_k = k
            if not bound < best:  # an off-support predecessor could tie or win: scan all, exactly as librosa
                dense += 1
                for k in range(n_states):
                    column[k] = previous[k] + log_trans[k, j]
                best_k = np.argmax(column)
                best = column[best_k]
            ptr[t, j] = best_k
            value[j] = log_prob[t, j] + best
        previous, value = value, previous
    state = np.zeros(n_steps, dtype=np.uint16)
    state[-1] = np.argmax(previous)
    for t in range(n_steps - 2, -1, -1):
        state[t] = ptr[t + 1, state[t + 1]]
    logp = np.empty(1)
    logp[0] = previous[state[-1]]
    return state, logp, dense


@numba.njit(nogil=True)
def sparse_viterbi(log_prob: np.ndarray, log_trans: np.ndarray, log_p_init: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop-in for librosa's `sequence._viterbi`: the same states (uint16) and log-probability (shape (1,))."""
    state, logp, _ = decode(log_prob, log_trans, log_p_init)
    return state, logp


def install() -> None:
    """Have librosa (and so pYIN) decode with `sparse_viterbi` (compiled on first use: seconds, once a process)."""
    import librosa.sequence

    librosa.sequence._viterbi = sparse_viterbi
