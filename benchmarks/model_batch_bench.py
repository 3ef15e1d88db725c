"""The model stage's two scoring models on many clips: one clip at a time against one batch of all, side by side.

    .venv/bin/python benchmarks/model_batch_bench.py [--clips 32] [--device cpu|cuda] [--repeats 2]

The clips are the first `--clips` of the bundled speech (16 kHz, 2 to 8 s). GE2E (eval.speaker): `embed_many`
with `batch=False` (each clip's `embed`, as today) and `batch=True` (the partials of all clips through the
network together, `PARTIALS_PER_CALL` at a time). DistillMOS (eval.mos): one `predict_many` call per clip (its
windows in one call) and one call for all the clips (`BATCH_MANY` windows at a time); on the CPU the first is
today's `predict`. Printed per model: seconds one by one and batched (best of `--repeats`, after one warm-up call
of each on two clips: the first pass also pays the kernels' set-up for each new batch shape, 32 s against 10 s for
GE2E one by one on 2 CPU cores), the ratio one-by-one / batched (above 1: batching pays), the largest difference between
the two paths' values, and on a GPU the peak device memory of the batched call.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import best_of  # noqa: E402


def bundled_clips(count: int) -> list[np.ndarray]:
    """The first `count` clips of the bundled speech at 16 kHz."""
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    utts = load_manifest(default_manifest())[:count]
    clips = [load_audio(u.audio_path) for u in utts]
    assert all(clip.sample_rate == 16000 for clip in clips)
    return [clip.samples for clip in clips]


def compare(label: str, clips: list[np.ndarray], one_by_one, batched, repeats: int, device: str) -> None:
    """Warm both paths up, time them, print one line."""
    import torch

    one_by_one(clips[:2]), batched(clips[:2])
    alone, expected = best_of(repeats, lambda: one_by_one(clips))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    together, got = best_of(repeats, lambda: batched(clips))
    peak = f"{torch.cuda.max_memory_allocated() / 2**20:8.0f}" if device == "cuda" else "       -"
    difference = max(float(np.max(np.abs(np.asarray(g) - np.asarray(e)))) for g, e in zip(got, expected))
    print(f"{label:<11} {alone:12.2f} {together:9.2f} {alone / together:6.2f} {difference:10.1e} {peak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch loads: every default device is then the CPU
    import torch

    from codec.devices import check_device
    from eval import mos, speaker

    check_device(args.device)
    clips = bundled_clips(args.clips)
    seconds = sum(len(c) for c in clips) / 16000
    print(f"{len(clips)} clips, {seconds:.0f} s of audio, on {args.device} ({torch.get_num_threads()} threads); "
          f"PARTIALS_PER_CALL {speaker.PARTIALS_PER_CALL}, BATCH_MANY {mos.BATCH_MANY}")
    print(f"{'model':<11} {'one by one s':>12} {'batched s':>9} {'ratio':>6} {'max diff':>10} {'peak MB':>8}")
    ge2e = speaker.GE2E(args.device)
    compare("GE2E", clips, lambda c: ge2e.embed_many(c, batch=False), lambda c: ge2e.embed_many(c, batch=True),
            args.repeats, args.device)
    compare("DistillMOS", clips, lambda c: [mos.predict_many([clip], batch=True)[0] for clip in c],
            lambda c: mos.predict_many(c, batch=True), args.repeats, args.device)


if __name__ == "__main__":
    main()
