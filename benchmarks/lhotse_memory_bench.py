"""Memory of reading a Lhotse CutSet manifest as lfsc-eval input: a synthetic manifest of N whole-recording cuts
(one short WAV that every recording names), read by `eval.lhotse_manifest.load_lhotse` and, side by side, by
Lhotse's own eager CutSet. Python's allocations are traced (tracemalloc): the peak while reading, and what is held
after (the utterance list the runner keeps).

    .venv/bin/python benchmarks/lhotse_memory_bench.py [--cuts 100000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf


def write_manifest(folder: Path, cuts: int) -> Path:
    """A gzipped CutSet of `cuts` one-second recordings with a supervision each, all naming one WAV file."""
    wav = folder / "a.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    path = folder / "cuts.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i in range(cuts):
            recording = {"id": f"r{i}", "sources": [{"type": "file", "channels": [0], "source": str(wav)}],
                         "sampling_rate": 16000, "num_samples": 16000, "duration": 1.0, "channel_ids": [0]}
            supervision = {"id": f"s{i}", "recording_id": f"r{i}", "start": 0, "duration": 1.0, "channel": 0,
                           "text": "a sentence of about the length of a read utterance", "language": "English",
                           "speaker": f"spk{i % 50}"}
            f.write(json.dumps({"id": f"c{i}", "start": 0, "duration": 1.0, "channel": 0, "type": "MonoCut",
                                "supervisions": [supervision], "recording": recording}) + "\n")
    return path


def traced(read) -> tuple[float, float, float, int]:
    """(peak MiB while reading, MiB held after, seconds, items) of `read()`, its result kept until measured."""
    tracemalloc.start()
    t0 = time.perf_counter()
    result = read()
    seconds = time.perf_counter() - t0
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, held / 2**20, seconds, len(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=100_000)
    args = parser.parse_args()
    from lhotse import CutSet

    from eval.lhotse_manifest import load_lhotse

    with tempfile.TemporaryDirectory() as tmp:
        path = write_manifest(Path(tmp), args.cuts)
        for name, read in (("lfsc-eval load_lhotse (Utterances)", lambda: load_lhotse(path, None, None)),
                           ("Lhotse eager CutSet", lambda: CutSet.from_jsonl(path).to_eager())):
            peak, held, seconds, items = traced(read)
            print(f"{name:36s} {items} cuts: peak {peak:7.1f} MiB, held after {held:7.1f} MiB "
                  f"({1024 * held / items:.2f} KiB a cut), {seconds:.1f} s (traced)")


if __name__ == "__main__":
    main()
