"""Peak memory of `lfsc-codec roundtrip` through the reference codecs on long files: one child process per codec and
length, its peak RSS from the kernel (os.wait4). Equal peaks for N and M minutes show that memory does not grow
with the file.

    .venv/bin/python benchmarks/memory_bench.py [--codec opus-6k amr-nb-12.2 ...] [--minutes 10 120] [--rate 16000]

The input is a synthetic 16-bit mono WAV (a gliding tone in noise), written a block at a time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent


def write_long_wav(path: Path, minutes: float, sample_rate: int) -> None:
    """`minutes` of a tone gliding between 100 and 300 Hz in noise, written ten seconds at a time."""
    rng = np.random.default_rng(0)
    total, block = round(minutes * 60 * sample_rate), 10 * sample_rate
    with sf.SoundFile(str(path), "w", sample_rate, 1, subtype="PCM_16") as f:
        for start in range(0, total, block):
            t = np.arange(start, min(start + block, total)) / sample_rate
            tone = 0.3 * np.sin(2 * np.pi * (200 * t + 100 / 0.3 * np.sin(0.3 * t)))
            f.write((tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32))


def peak_rss_mb(cmd: list[str]) -> tuple[float, float, str]:
    """Run a child to the end: its peak RSS in MB, its wall time in s, and its stderr."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        said = err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed:\n{said[-3000:]}")
    return usage.ru_maxrss / 1024, wall, said


def main() -> None:
    """Round-trip each length through each codec and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", nargs="+", default=["opus-6k", "amr-nb-12.2"])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 120])
    parser.add_argument("--rate", type=int, default=16000, help="sample rate of the input WAV")
    args = parser.parse_args()
    print(f"`lfsc-codec roundtrip` of a synthetic {args.rate} Hz mono WAV, one child process each")
    print(f"{'codec':<14}{'minutes':>8}{'file MB':>9}{'wall s':>8}{'RTF':>7}{'peak RSS':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "long.wav", Path(tmp) / "out.wav"
        for minutes in args.minutes:
            write_long_wav(source, minutes, args.rate)
            for codec in args.codec:
                cmd = [sys.executable, "-m", "codec.cli", "roundtrip", str(source), str(out), "--codec", codec]
                peak, wall, said = peak_rss_mb(cmd)
                rtf = float(re.findall(r"RTF ([0-9.]+)", said)[-1])
                print(f"{codec:<14}{minutes:>8g}{source.stat().st_size / 2**20:>9.0f}{wall:>8.0f}{rtf:>7.3f}"
                      f"{peak:>8.0f}MB", flush=True)
                out.unlink()


if __name__ == "__main__":
    main()
