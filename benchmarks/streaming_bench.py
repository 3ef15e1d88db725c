"""Live LFSC on this CPU: does it keep up? For each lookahead and hop, a bundled speech clip at a device rate is
pushed through `codec.stream` in audio-callback blocks, and each push is timed.

    .venv/bin/python benchmarks/streaming_bench.py [--checkpoint /tmp/lfsc_full_random.nemo] [--precision bf16]
        [--threads 2] [--rate 48000] [--block-ms 20] [--seconds 8] [--lookahead 0 4 8 13 19] [--hop 4 8 16]

Printed per (lookahead, hop): the algorithmic latency, the streaming RTF (compute seconds per audio second, the
flush included), the worst push's compute time and the flush's (at the end of a session, when nothing waits on it).
Whether that keeps up with a sound card, jitter buffer and all, is what benchmarks/live_session_bench.py measures.
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


def timed_pushes(stream, audio: np.ndarray, block: int) -> list[float]:
    """Each push's compute seconds (the flush last)."""
    times = []
    for start in range(0, len(audio), block):
        t0 = time.perf_counter()
        stream.push(audio[start : start + block])
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    stream.flush()
    times.append(time.perf_counter() - t0)
    return times


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
    print("lookahead  hop  latency_ms  stream_RTF  worst_push_ms  flush_ms")
    for hop in args.hop:
        for lookahead in args.lookahead:
            stream = codec.stream(lookahead, args.rate, hop)
            times = timed_pushes(stream, audio, block)
            print(f"{lookahead:9d} {hop:4d} {1000 * stream.latency / args.rate:11.1f} "
                  f"{sum(times) * args.rate / len(audio):11.3f} {1000 * max(times[:-1]):14.1f} "
                  f"{1000 * times[-1]:9.1f}", flush=True)


if __name__ == "__main__":
    main()
