"""Seconds of evaluation per second of audio for the full metric set, on this machine's CPU (not a test).

Usage: python benchmarks/eval_bench.py [--manifest M] [--limit N] [--codec NAME]
Models are loaded before timing (their load time is printed separately); the cache is off.
"""

from __future__ import annotations

import argparse
import time

from codec.audio import load_audio
from codec.registry import get_codec
from eval import asr, mos, sanity, speaker
from codec.bundled_speech import default_manifest
from eval.manifest import load_manifest
from eval.metrics import METRICS, compute


def main() -> None:
    """Time every metric on N utterances round-tripped through one codec."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifest", default=str(default_manifest()))
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--codec", default="codec2-3200")
    args = parser.parse_args()
    utts = load_manifest(args.manifest)[: args.limit]
    codec = get_codec(args.codec)

    t = time.perf_counter()
    asr.transcribe(load_audio(utts[0].audio_path).samples[:16000], 16000, "en")
    speaker.get_model()
    mos.predict(load_audio(utts[0].audio_path).samples[:16000])
    print(f"model loading (Whisper base + GE2E + DistillMOS, once per process): {time.perf_counter() - t:.1f} s")

    timings = {name: 0.0 for name in (*METRICS, "asr (original + decoded)", "sanity", "codec round trip")}
    seconds = 0.0
    for utt in utts:
        audio = load_audio(utt.audio_path)
        x, sr = audio.samples, audio.sample_rate
        seconds += len(x) / sr
        t = time.perf_counter()
        rt = codec.roundtrip(x, sr)
        timings["codec round trip"] += time.perf_counter() - t
        t = time.perf_counter()
        _, deg = sanity.check_pair(x, sr, rt.audio, rt.sample_rate)
        timings["sanity"] += time.perf_counter() - t
        for name in METRICS:
            t = time.perf_counter()
            compute(name, x, deg, sr)
            timings[name] += time.perf_counter() - t
        t = time.perf_counter()
        asr.transcribe_many([x, deg], sr, utt.lang)  # as the runner batches an utterance's ASR
        timings["asr (original + decoded)"] += time.perf_counter() - t

    print(f"{len(utts)} utterances, {seconds:.1f} s of audio, codec {args.codec}, ASR {'/'.join(asr.device())}")
    for name, value in timings.items():
        print(f"  {name:26s} {value / seconds:7.3f} s per s of audio")
    metric_total = sum(v for k, v in timings.items() if k != "codec round trip")
    print(f"full metric set (sanity + {len(METRICS)} metrics + ASR x2): {metric_total / seconds:.3f} s of evaluation "
          "per s of audio")


if __name__ == "__main__":
    main()
