"""Peak memory and time of each automatic metric on one long clip: one child process per metric, its peak RSS from
the kernel (os.wait4), then the app's whole automatic set (workbench.clip_metrics.fast_metrics) in one child.

    .venv/bin/python benchmarks/metric_memory_bench.py [--seconds 600] [--codec opus-6k] [--metrics pesq_wb ...]
                                                       [--asr] [--cap-gb 8]

The clip is the bundled English speech tiled to `--seconds`, round-tripped through `--codec`; every child scores
it the way the app and `lfsc-eval` do (`eval.pair.prepare`, then `eval.pair.score`). "floor" is a child that only
loads and checks the pair: what every row costs before its metric. A child whose resident memory passes
`--cap-gb` is killed (the machine is shared) and shown as "> cap".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_clip(folder: Path, seconds: float, codec: str) -> tuple[Path, Path, str]:
    """The bundled English speech tiled to `seconds` and its round trip through `codec`: (reference, decoded, text)."""
    from codec.audio import load_audio
    from codec.registry import get_codec
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    utts = [u for u in load_manifest(default_manifest()) if u.lang == "en"]
    pieces, texts, total, sr = [], [], 0, 16000
    while total < seconds * sr:
        for utt in utts:
            audio = load_audio(utt.audio_path)
            pieces.append(audio.samples)
            texts.append(utt.text)
            total += len(audio.samples)
    ref = np.concatenate(pieces)[: round(seconds * sr)]
    decoded = get_codec(codec).roundtrip(ref, sr).audio
    sf.write(folder / "ref.wav", ref, sr, subtype="FLOAT")
    sf.write(folder / "deg.wav", decoded, sr, subtype="FLOAT")
    return folder / "ref.wav", folder / "deg.wav", " ".join(texts)  # the text runs past the cut: CER is only read for memory


def child(what: str, ref_path: str, deg_path: str, text: str) -> None:
    """Score `what` on the pair and print its outcome as one JSON line."""
    ref, sr = sf.read(ref_path, dtype="float32")
    deg, _ = sf.read(deg_path, dtype="float32")
    if what == "app":
        from workbench.clip_metrics import fast_metrics

        out = fast_metrics(ref, deg, sr)
    elif what == "cer":
        from workbench.clip_metrics import asr_errors

        out = {k: v for k, v in asr_errors(ref, deg, sr, text, "en").items() if not k.startswith("ASR")}
    else:
        from eval.pair import prepare, score

        pair = prepare(ref, sr, deg, sr)
        out = {} if what == "floor" else score(pair, (what,))[what]
    print(json.dumps(out))


def _watch(pid: int, cap_kb: int, killed: list[bool]) -> None:
    """Kill the child `pid` when its resident memory passes `cap_kb`."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            rss = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            return
        if rss > cap_kb:
            killed.append(True)
            os.kill(pid, 9)
            return
        time.sleep(0.05)


def measure(what: str, ref: Path, deg: Path, text: str, cap_gb: float) -> tuple[float, float, str]:
    """Run one child to the end: its peak RSS in MB, its wall time in s, and what it printed (or why it failed)."""
    cmd = [sys.executable, __file__, "--child", what, str(ref), str(deg), text]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        killed: list[bool] = []
        threading.Thread(target=_watch, args=(proc.pid, int(cap_gb * 2**20), killed), daemon=True).start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        said, complaint = out.read().decode().strip(), err.read().decode().strip()
    if killed:
        return usage.ru_maxrss / 1024, wall, f"killed above the {cap_gb:g} GB cap"
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return usage.ru_maxrss / 1024, wall, f"crashed: signal {-code}"
    if code != 0:
        return usage.ru_maxrss / 1024, wall, "failed: " + (complaint.splitlines() or ["?"])[-1]
    return usage.ru_maxrss / 1024, wall, said.splitlines()[-1] if said else ""


def main() -> None:
    """Score the long clip with each metric in its own child, then the app's set, and print one row each."""
    from eval.metrics import FAST_METRICS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the clip")
    parser.add_argument("--codec", default="opus-6k", help="the codec that decodes it")
    parser.add_argument("--metrics", nargs="+", default=["floor", *FAST_METRICS, "distill_mos", "speaker_sim", "app"],
                        help="metric names, 'floor', 'app' (fast_metrics, as the app runs it) and 'cer'")
    parser.add_argument("--asr", action="store_true", help="also CER through Whisper (minutes on a small CPU)")
    parser.add_argument("--cap-gb", type=float, default=8.0, help="kill a child whose resident memory passes this")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    names = [*args.metrics, *(["cer"] if args.asr and "cer" not in args.metrics else [])]
    with tempfile.TemporaryDirectory() as tmp:
        ref, deg, text = write_clip(Path(tmp), args.seconds, args.codec)
        print(f"{args.seconds:g} s of bundled English speech through {args.codec}, one child process each "
              f"({os.cpu_count()} CPUs)")
        print(f"{'metric':<14}{'peak RSS':>10}{'wall s':>8}  outcome")
        for name in names:
            peak, wall, outcome = measure(name, ref, deg, text, args.cap_gb)
            print(f"{name:<14}{peak:>8.0f}MB{wall:>8.1f}  {outcome[:110]}", flush=True)


if __name__ == "__main__":
    main()
