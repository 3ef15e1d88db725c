"""Live LFSC on this CPU: does it keep up? For each lookahead and hop, a bundled speech clip at a device rate is
pushed through `codec.stream` in audio-callback blocks, and each push is timed.

    .venv/bin/python benchmarks/streaming_bench.py [--checkpoint /tmp/lfsc_full_random.nemo] [--precision bf16]
        [--threads 2] [--rate 48000] [--block-ms 20] [--seconds 8] [--lookahead 0 4 8 13 19] [--hop 4 8 16]

Printed per (lookahead, hop): the algorithmic latency, the streaming RTF (compute seconds per audio second), the
worst push's compute time, and a real-time replay of the measured push times: blocks arrive every --block-ms,
pushes run one after another, playback starts when the first decoded audio is out; an underrun is a push whose
audio comes out after playback needed it. "mouth-to-ear" is when the first input sample plays: the algorithmic
latency, the block, and the first step's compute.
Speed does not depend on the weights (a seeded random full-size LFSC is written when the default is missing).
The machine is shared: compare figures of one run only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lfsc_bench import DEFAULT_CHECKPOINT, ensure_checkpoint  # noqa: E402


def timed_pushes(stream, audio: np.ndarray, block: int) -> tuple[list[float], list[int]]:
    """Each push's compute seconds and how many samples it gave back (the flush last)."""
    times, given = [], []
    for start in range(0, len(audio), block):
        t0 = time.perf_counter()
        given.append(len(stream.push(audio[start : start + block])))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    given.append(len(stream.flush()))
    times.append(time.perf_counter() - t0)
    return times, given


def replay(times: list[float], given: list[int], block: int, rate: int) -> tuple[int, float]:
    """Underruns and the first audio's time (s) when blocks arrive in real time and pushes run in turn."""
    finish, playing_from, played, underruns = 0.0, None, 0, 0
    for i, (cost, count) in enumerate(zip(times[:-1], given[:-1])):
        finish = max((i + 1) * block / rate, finish) + cost
        if count and playing_from is None:
            playing_from = finish
        elif count and finish > playing_from + played / rate:
            underruns += 1
        played += count
    return underruns, playing_from or 0.0


def main() -> None:
    """Print the streaming figures of every (lookahead, hop)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--block-ms", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--lookahead", type=int, nargs="+", default=[0, 4, 8, 13, 19])
    parser.add_argument("--hop", type=int, nargs="+", default=[4, 8, 16])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from codec.audio import load_audio
    from codec.lfsc_codec import LFSCCodec
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    codec = LFSCCodec(ensure_checkpoint(args.checkpoint), device="cpu", precision=args.precision)
    clips = [load_audio(u.audio_path, args.rate).samples for u in load_manifest(default_manifest())]
    audio = np.concatenate(clips)[: int(args.seconds * args.rate)]
    block = round(args.block_ms * args.rate / 1000)
    codec.roundtrip(audio[: args.rate], args.rate)  # warm up
    t0 = time.perf_counter()
    codec.roundtrip(audio, args.rate)
    print(f"{codec.name}, {args.threads} threads, {len(audio) / args.rate:.1f} s at {args.rate} Hz in "
          f"{args.block_ms:g} ms blocks; whole-file round trip RTF {(time.perf_counter() - t0) * args.rate / len(audio):.3f}")
    print("lookahead  hop  latency_ms  stream_RTF  worst_push_ms  underruns  mouth_to_ear_ms")
    for hop in args.hop:
        for lookahead in args.lookahead:
            stream = codec.stream(lookahead, args.rate, hop)
            times, given = timed_pushes(stream, audio, block)
            underruns, first = replay(times, given, block, args.rate)
            print(f"{lookahead:9d} {hop:4d} {1000 * stream.latency / args.rate:11.1f} "
                  f"{sum(times) * args.rate / len(audio):11.3f} {1000 * max(times):14.1f} {underruns:10d} "
                  f"{1000 * first:16.1f}", flush=True)


if __name__ == "__main__":
    main()
