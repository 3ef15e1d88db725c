"""Full-size LFSC training speed on one device: steps/s in fp32 and bf16, and peak memory.

    python tools/gpu_train_check.py                      # GPU: batch 16 x 24,576 samples, the recipe's step
    python tools/gpu_train_check.py --device cpu --steps 2   # smoke test (CPU: batch 1 x 4,096 unless given)

Each step is the recipe's: generator forward, discriminator update on every second batch (MPD, multi-resolution
STFT and SLM discriminators), generator update with mel + STFT + adversarial + feature-matching losses. Data are
synthetic crops fed straight to the step, so the figures measure the model, not the loader. The SLM backbone is
the bundled Whisper-base encoder when it is installed; otherwise the script says so and runs without it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from train.data import Batch, ManifestSpec  # noqa: E402
from train.loop import Trainer  # noqa: E402
from train.run_folder import RunSpec  # noqa: E402


def whisper_available() -> bool:
    """Whether the bundled Whisper-base model (the offline SLM backbone) can be assembled here."""
    try:
        from codec.whisper_model import bundled_model_dir

        bundled_model_dir()
        return True
    except (RuntimeError, OSError):
        return False


def measure(precision: str, args: argparse.Namespace, manifest: Path, slm: str) -> tuple[float, float]:
    """(steps/s, peak memory in GiB) of `args.steps` timed steps after one warm-up step."""
    overrides = {"device": args.device, "precision": precision, "batch_size": args.batch_size, "n_samples": args.n_samples,
                 "num_workers": 0, "slm_backbone": slm, "epoch_items": args.batch_size}  # one clip fills a batch
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(RunSpec(Path(out), [ManifestSpec(manifest)]), overrides)
        gen = torch.Generator().manual_seed(0)
        audio = torch.randn(args.batch_size, args.n_samples, generator=gen) * 0.1
        batch = Batch(audio, torch.full((args.batch_size,), args.n_samples), [])
        cuda = trainer.device.type == "cuda"
        trainer.train_step(batch, 0)  # warm-up (cuDNN autotuning, allocator)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for i in range(args.steps):
            trainer.train_step(batch, i + 1)
        if cuda:
            torch.cuda.synchronize()
        rate = args.steps / (time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        del trainer
        if cuda:
            torch.cuda.empty_cache()
    return rate, peak


def main() -> int:
    """Print the figures; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--n-samples", type=int)
    p.add_argument("--precisions", default="fp32,bf16")
    args = p.parse_args()
    on_cpu = args.device == "cpu"
    args.batch_size = args.batch_size or (1 if on_cpu else 16)
    args.n_samples = args.n_samples or (4096 if on_cpu else 24576)
    slm = "whisper" if whisper_available() else "none"
    if slm == "none":
        print("note: the bundled Whisper-base model is not installed: running WITHOUT the SLM discriminator")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(22050 * 3)).astype(np.float32), 22050)
        manifest = Path(tmp) / "m.jsonl"
        manifest.write_text(f'{{"audio_filepath": "{wav}", "duration": 3.0}}\n')
        device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
        print(f"device {device}; full-size LFSC; batch {args.batch_size} x {args.n_samples} samples; "
              f"discriminators MPD + MR-STFT + SLM({slm}); {args.steps} timed steps")
        for precision in args.precisions.split(","):
            rate, peak = measure(precision, args, manifest, slm)
            memory = "peak GPU memory" if not on_cpu else "peak process RSS"
            print(f"{precision}: {rate:.3f} steps/s, {memory} {peak:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
