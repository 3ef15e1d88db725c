"""Memory of reading Lhotse manifests as lfsc-eval input: a synthetic CutSet of N whole-recording cuts (one short WAV
that every recording names), read by `eval.lhotse_manifest.load_lhotse` and, side by side, by Lhotse's own eager
CutSet; or (--recordings N) the same N recordings as a RecordingSet with its SupervisionSet, listed in the
recordings' order (as Lhotse's recipes write them) and shuffled, read by `load_lhotse` and, side by side, joined by
Lhotse's eager `CutSet.from_manifests`. Python's allocations are traced (tracemalloc): the peak while reading (and
how far it rises over what is kept), and what is held after (the utterance list the runner keeps).

    .venv/bin/python benchmarks/lhotse_memory_bench.py [--cuts 100000 | --recordings 100000]
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
    wav = _wav(folder)
    path = folder / "cuts.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i in range(cuts):
            f.write(json.dumps({"id": f"c{i}", "start": 0, "duration": 1.0, "channel": 0, "type": "MonoCut",
                                "supervisions": [_supervision(i)], "recording": _recording(i, wav)}) + "\n")
    return path


def write_pair(folder: Path, recordings: int) -> tuple[Path, Path, Path]:
    """A gzipped RecordingSet of `recordings` such recordings, and their SupervisionSet twice: listed in the
    recordings' order, and shuffled."""
    wav = _wav(folder)
    paths = folder / "recordings.jsonl.gz", folder / "supervisions.jsonl.gz", folder / "shuffled.jsonl.gz"
    for path, order in zip(paths, (range(recordings), range(recordings),
                                   np.random.default_rng(0).permutation(recordings))):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            for i in order:
                f.write(json.dumps(_recording(i, wav) if path == paths[0] else _supervision(int(i))) + "\n")
    return paths


def _wav(folder: Path) -> Path:
    wav = folder / "a.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    return wav


def _recording(i: int, wav: Path) -> dict:
    return {"id": f"r{i}", "sources": [{"type": "file", "channels": [0], "source": str(wav)}],
            "sampling_rate": 16000, "num_samples": 16000, "duration": 1.0, "channel_ids": [0]}


def _supervision(i: int) -> dict:
    return {"id": f"s{i}", "recording_id": f"r{i}", "start": 0, "duration": 1.0, "channel": 0,
            "text": "a sentence of about the length of a read utterance", "language": "English",
            "speaker": f"spk{i % 50}"}


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
    parser.add_argument("--recordings", type=int, help="read a RecordingSet and SupervisionSet of this many instead")
    args = parser.parse_args()
    from lhotse import CutSet, RecordingSet, SupervisionSet

    from eval.lhotse_manifest import load_lhotse

    with tempfile.TemporaryDirectory() as tmp:
        if args.recordings is None:
            path = write_manifest(Path(tmp), args.cuts)
            reads = (("lfsc-eval load_lhotse (Utterances)", lambda: load_lhotse(path, None, None)),
                     ("Lhotse eager CutSet", lambda: CutSet.from_jsonl(path).to_eager()))
        else:
            recordings, in_order, shuffled = write_pair(Path(tmp), args.recordings)
            reads = (("lfsc-eval load_lhotse, same order", lambda: load_lhotse(recordings, in_order, None)),
                     ("lfsc-eval load_lhotse, shuffled", lambda: load_lhotse(recordings, shuffled, None)),
                     ("Lhotse eager CutSet.from_manifests", lambda: CutSet.from_manifests(
                         RecordingSet.from_file(recordings), SupervisionSet.from_file(in_order))))
        for name, read in reads:
            peak, held, seconds, items = traced(read)
            print(f"{name:36s} {items} cuts: peak {peak:7.1f} MiB ({peak - held:5.1f} over what it keeps), held "
                  f"after {held:7.1f} MiB ({1024 * held / items:.2f} KiB a cut), {seconds:.1f} s (traced)")


if __name__ == "__main__":
    main()
