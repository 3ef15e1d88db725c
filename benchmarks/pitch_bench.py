"""pYIN, librosa's and ours, on one clip in one run: seconds per audio second of librosa's dense Viterbi against
eval.pitch_viterbi's sparse one (on the very inputs pYIN hands it, with the share of (frame, state) maxima the sparse
one took with librosa's full scan), and of the whole pitch track as each speed-up joins: the sparse Viterbi, then
eval.pyin_trough_prior's table for scipy's per-frame prior (all of it: `eval.metrics._pyin`).

    .venv/bin/python benchmarks/pitch_bench.py [--seconds 30] [--repeat 3]

The clip is the bundled English speech tiled to `--seconds` (one pYIN window is 30 s). The first track is what the
pitch metrics ran until now: librosa's pYIN with its `_viterbi` rebuilt with nogil. Both decoders are compiled before
timing; each figure is the best of `--repeat`. The decoders must give the same states and log-probability, and the
tracks the same bits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import best_of  # noqa: E402


def speech(seconds: float) -> np.ndarray:
    """The bundled English speech tiled to `seconds` at 16 kHz."""
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    pieces = [load_audio(u.audio_path, 16000).samples for u in load_manifest(default_manifest()) if u.lang == "en"]
    return np.resize(np.concatenate(pieces), round(seconds * 16000)).astype(np.float64)


def main() -> None:
    """Time both decoders and the track as each speed-up joins; print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import librosa.sequence
    import numba

    from eval import metrics, pitch_viterbi, pyin_trough_prior

    dense = numba.njit(nogil=True)(librosa.sequence._viterbi.py_func)  # what eval.metrics installed until now
    x = speech(args.seconds)
    inputs = []

    def capture(*decoder_inputs):
        inputs.append(decoder_inputs)
        return dense(*decoder_inputs)

    librosa.sequence._viterbi = capture
    track(x, metrics)
    log_prob, log_trans, log_p_init = inputs[0]
    dense_s, (dense_states, dense_logp) = best_of(args.repeat, lambda: dense(log_prob, log_trans, log_p_init))
    pitch_viterbi.decode(log_prob, log_trans, log_p_init)  # compile
    sparse_s, (states, logp, fallbacks) = best_of(args.repeat, lambda: pitch_viterbi.decode(log_prob, log_trans, log_p_init))
    assert np.array_equal(states, dense_states) and logp.tobytes() == dense_logp.tobytes()

    librosa.sequence._viterbi = dense
    tracks = [("librosa's pYIN (Viterbi rebuilt nogil)", *best_of(args.repeat, lambda: track(x, metrics)))]
    pitch_viterbi.install()
    tracks.append(("+ sparse Viterbi", *best_of(args.repeat, lambda: track(x, metrics))))
    pyin_trough_prior.install()
    tracks.append(("+ trough prior from a table (_pyin)", *best_of(args.repeat, lambda: metrics._pyin(x))))
    assert all(f0.tobytes() == tracks[0][2][0].tobytes() and np.array_equal(v, tracks[0][2][1]) for _, _, (f0, v) in tracks)

    n_steps, n_states = log_prob.shape
    print(f"{args.seconds:g} s of speech: {n_steps} frames x {n_states} states, "
          f"{np.count_nonzero(log_trans != log_trans.min()) / n_states:.1f} predecessors a state off the floor")
    print(f"{'Viterbi alone':<40}{'librosa (dense)':>16}{'sparse':>10}{'speed-up':>10}")
    print(f"{'  seconds per audio second':<40}{dense_s / args.seconds:>16.5f}{sparse_s / args.seconds:>10.5f}"
          f"{dense_s / sparse_s:>9.1f}x")
    print(f"  full scans: {fallbacks} of {(n_steps - 1) * n_states} (frame, state) maxima "
          f"({fallbacks / max(1, (n_steps - 1) * n_states):.4%}); states and log-probability identical")
    print(f"{'whole pitch track':<40}{'s per audio s':>16}{'speed-up':>20}")
    for name, seconds, _ in tracks:
        print(f"  {name:<38}{seconds / args.seconds:>16.5f}{tracks[0][1] / seconds:>19.1f}x")
    print("  the three tracks identical bit for bit")


def track(x: np.ndarray, metrics) -> tuple[np.ndarray, np.ndarray]:
    """`metrics._pyin` without its install step: pYIN with the metrics' settings and whatever Viterbi librosa has."""
    import librosa

    f0, voiced, _ = librosa.pyin(x, fmin=metrics.PITCH_RANGE[0], fmax=metrics.PITCH_RANGE[1], sr=metrics.PITCH_RATE,
                                 frame_length=1024, hop_length=metrics.PITCH_HOP, resolution=metrics.PITCH_GRID)
    return f0, voiced


if __name__ == "__main__":
    main()
