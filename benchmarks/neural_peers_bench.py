"""The neural codecs side by side on the CPU: real-time factor of a round trip on 10 s of bundled speech, and the
peak RSS of a process that builds the codec and codes it.

    .venv/bin/python benchmarks/neural_peers_bench.py [--seconds 10] [--repeats 2] [--threads 2] [--only lfsc mimi]

Every codec runs in its own child process (this script's --worker mode), one after the other, so each peak RSS
(os.wait4) is that codec's alone. All weights are random, at the real models' sizes (speed does not depend on the
weights): LFSC full size from its config; a NanoCodec 21.5 frames/s from the NeMo fixture's config
(tests/fixtures/nemo/nanocodec_21fps.nemo) widened to LFSC's widths (encoder 48, decoder 1024 base channels: the
released NanoCodec's are not at hand); EnCodec, DAC and Mimi from transformers' default configs (DAC's with the
released dac_44khz's 44.1 kHz rate, as its default config has that model's layers at 16 kHz). Each goes through
the registry ('lfsc', 'nemo:', 'hf:') as the app and lfsc-eval run it. RTF = seconds of compute per second of
audio for encode plus decode, best of --repeats after a warm-up. The machine is shared: compare one run's figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NANOCODEC_FIXTURE = ROOT / "tests" / "fixtures" / "nemo" / "nanocodec_21fps.nemo"
LFSC_WIDTHS = (48, 1024)  # LFSC's encoder and decoder base channels (codec.lfsc.model's defaults)
HF_CONFIGS = {"encodec": ("EncodecModel", "EncodecConfig", {}), "dac": ("DacModel", "DacConfig", {"sampling_rate": 44100}),
              "mimi": ("MimiModel", "MimiConfig", {})}
CODECS = ("lfsc", "nanocodec", "encodec", "dac", "mimi")


def speech(seconds: float) -> tuple[np.ndarray, int]:
    """`seconds` of the bundled English clips, one after another, at their 16 kHz."""
    from codec.audio import load_audio
    from codec.bundled_speech import default_manifest

    manifest = default_manifest()
    entries = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    pieces, total, rate = [], 0, 16000
    for entry in (e for e in entries if e["lang"] == "en"):
        audio = load_audio(manifest.parent / entry["audio_filepath"], rate)
        pieces.append(audio.samples)
        total += len(audio.samples)
        if total >= seconds * rate:
            break
    return np.concatenate(pieces)[: int(seconds * rate)], rate


def nanocodec_config():
    """The NanoCodec fixture's config (its model_config.yaml), as the registry's 'nemo:' loader reads it."""
    import tarfile

    import yaml

    from codec.lfsc.checkpoint import config_from_dict

    with tarfile.open(NANOCODEC_FIXTURE) as tar:
        return config_from_dict(yaml.safe_load(tar.extractfile("./model_config.yaml").read()))


def build(name: str, folder: Path):
    """The codec `name` with random weights at its real size, saved under `folder` and loaded through the registry."""
    import torch

    from codec.registry import get_codec

    torch.manual_seed(0)
    if name in ("lfsc", "nanocodec"):
        from codec.lfsc.checkpoint import save_nemo
        from codec.lfsc.model import LFSCModel

        config = None  # LFSC's defaults
        if name == "nanocodec":
            config = nanocodec_config()
            config = dataclasses.replace(config, encoder=dataclasses.replace(config.encoder, base_channels=LFSC_WIDTHS[0]),
                                         decoder=dataclasses.replace(config.decoder, base_channels=LFSC_WIDTHS[1]))
        path = save_nemo(folder / f"{name}.nemo", LFSCModel(config) if config else LFSCModel())
        return get_codec("lfsc", checkpoint=str(path), device="cpu") if name == "lfsc" else get_codec(f"nemo:{path}",
                                                                                                        device="cpu")
    import transformers

    model_class, config_class, overrides = HF_CONFIGS[name]
    getattr(transformers, model_class)(getattr(transformers, config_class)(**overrides)).save_pretrained(folder / name)
    return get_codec(f"hf:{folder / name}", device="cpu")


def worker(name: str, seconds: float, repeats: int) -> dict:
    """Build one codec and time its round trips of the speech; what it measured, as one JSON-able dict."""
    import resource

    import torch

    samples, rate = speech(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        codec = build(name, Path(tmp))
        built = time.perf_counter() - started
    codec.roundtrip(samples[:rate], rate)  # warm-up: first-call allocations and kernel choices
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = codec.roundtrip(samples, rate)
        times.append(time.perf_counter() - started)
    model = getattr(codec, "model", None)
    parameters = sum(p.numel() for p in model.parameters()) if isinstance(model, torch.nn.Module) else None
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # this process's own peak (Linux: KiB)
    return {"codec": codec.name, "sample_rate": codec.sample_rate, "peak_rss_mb": peak_kib / 1024,
            "nominal_bitrate": codec.nominal_bitrate, "measured_bitrate": result.measured_bitrate,
            "rtf": min(times) / seconds, "build_s": built, "parameters": parameters, "threads": torch.get_num_threads()}


def run_child(name: str, args: argparse.Namespace) -> dict:
    """One codec in a child process of its own: what it printed (its own peak RSS included)."""
    command = [sys.executable, __file__, "--worker", name, "--seconds", str(args.seconds), "--repeats", str(args.repeats)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, env=env, text=True, check=False)  # a failure is a row
    if done.returncode:
        return {"codec": name, "failed": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    """The printed table: one line per codec."""
    header = ("codec", "rate Hz", "params M", "nominal kbit/s", "measured kbit/s", "RTF round trip", "x real time",
              "peak RSS MB")
    rows = [header]
    for r in results:
        if "failed" in r:
            rows.append((r["label"], "failed: " + r["failed"], *[""] * (len(header) - 2)))
            continue
        rows.append((r["label"], str(r["sample_rate"]), f"{r['parameters'] / 1e6:.1f}" if r["parameters"] else "-",
                     f"{r['nominal_bitrate'] / 1000:.3g}", f"{r['measured_bitrate'] / 1000:.3g}", f"{r['rtf']:.3f}",
                     f"{1 / r['rtf']:.1f}", f"{r['peak_rss_mb']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


LABELS = {"lfsc": "LFSC (full size)", "nanocodec": "NanoCodec 21.5 fps (LFSC widths)", "encodec": "EnCodec 24 kHz",
          "dac": "DAC 44.1 kHz", "mimi": "Mimi (32 codebooks)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each child (OMP_NUM_THREADS)")
    parser.add_argument("--only", nargs="+", choices=CODECS, default=list(CODECS))
    parser.add_argument("--worker", choices=CODECS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.seconds, args.repeats)))
        return
    results = []
    for name in args.only:  # one at a time: ru_maxrss of the children is then each one's own peak
        print(f"{name} ...", file=sys.stderr, flush=True)
        results.append({**run_child(name, args), "label": LABELS[name]})
    print(f"{args.seconds:g} s of bundled English speech at 16 kHz, round trip (encode + decode) on the CPU, "
          f"{args.threads} threads, best of {args.repeats}; random weights at the real sizes")
    print(table(results))


if __name__ == "__main__":
    main()
