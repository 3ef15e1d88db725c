"""LFSC on CUDA: our inference path against NeMo's arithmetic, fp32 and bf16, batch 1 and 64, in one run.

    python benchmarks/gpu_bench.py [--checkpoint /tmp/lfsc_full_random.nemo] [--seconds 5] [--batch 1 64]
        [--repeats 5] [--compile default reduce-overhead] [--nemo]
    python benchmarks/gpu_bench.py --device cpu          # smoke mode: fixture model, 1 s, batch 1 and 2

The reference ("NeMo path") is NeMo 3.0.0 itself when --nemo is given and `nemo` imports in this Python;
otherwise it is our model run exactly as NeMo runs it (weight norm recomputed every call, a length mask after
every conv, F.pad's reflect padding), which tests/test_nemo_parity.py proves gives NeMo's outputs, so the same arithmetic.
Ours: weight norm folded, masks skipped for full-length batches, reduced precisions with the packed twin
(codec/lfsc/packed.py: weights cast once, channels-last convolutions) and, for its share, under autocast, eager
or torch.compile'd (mode 'reduce-overhead' uses CUDA graphs). Same weights, the same seeded-noise clip stacked `batch` times.
Printed per configuration: encode, decode and round-trip seconds (best of --repeats after one warm-up call),
times real time, round-trip speed-up over the fp32 reference at the same batch, achieved GFLOP/s, peak
device memory, and the deviation from the fp32 reference: the share of tokens equal to its tokens and the SNR
of the round-trip audio against its round-trip audio (random weights: real weights' deviation may differ).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lfsc_bench import (  # noqa: E402
    DEFAULT_CHECKPOINT, ROOT, ensure_checkpoint, gflop_per_audio_second, noise_clip, snr_db, torch_reflect_padding,
)

SMOKE_CHECKPOINT = ROOT / "tests" / "fixtures" / "nemo" / "lfsc_small.nemo"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _timed(fn, repeats: int, device: torch.device):
    """One warm-up call (compiles, autotunes), then the best of `repeats` synchronised wall times."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        result = fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def reference_runner(args: argparse.Namespace, device: torch.device):
    """(label, encode(audio, lengths), decode(tokens, lengths)) of the NeMo path."""
    if args.nemo:
        from nemo.collections.tts.models import AudioCodecModel

        model = AudioCodecModel.restore_from(str(args.checkpoint), map_location=device).float().eval()
        label = "NeMo"
    else:
        from codec.lfsc.checkpoint import load_lfsc

        model = load_lfsc(args.checkpoint, device=device, fold_weight_norm=False)
        label = "NeMo-equiv"

    # NeMo-equiv pads with F.pad as NeMo does (our slice-copy padding is part of what is being measured).
    padding = contextlib.nullcontext if args.nemo else torch_reflect_padding

    def encode(audio, lengths):
        with torch.inference_mode(), padding():
            return model.encode(audio=audio, audio_len=lengths)

    def decode(tokens, lengths):
        with torch.inference_mode(), padding():
            return model.decode(tokens=tokens, tokens_len=lengths)[0]

    return label, encode, decode


def main() -> None:
    """Run every configuration and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--batch", type=int, nargs="+")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--compile", nargs="*", default=[], help="torch.compile modes to add (e.g. default reduce-overhead)")
    parser.add_argument("--nemo", action="store_true", help="use NeMo itself as the reference (needs nemo importable)")
    args = parser.parse_args()
    device = torch.device(args.device)
    smoke = device.type == "cpu"
    args.checkpoint = ensure_checkpoint(args.checkpoint or (SMOKE_CHECKPOINT if smoke else DEFAULT_CHECKPOINT))
    args.seconds = args.seconds or (1.0 if smoke else 5.0)
    args.batch = args.batch or ([1, 2] if smoke else [1, 64])
    args.repeats = args.repeats or (1 if smoke else 5)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    from codec.lfsc.checkpoint import load_lfsc
    from codec.lfsc import packed
    from codec.devices import precision_dtype
    from codec.lfsc.inference import LFSCInference, autocast

    model = load_lfsc(args.checkpoint, device=device)
    gflop = sum(gflop_per_audio_second(model.config).values())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke mode)"
    print(f"device: {name}; torch {torch.__version__}; checkpoint {args.checkpoint}; {gflop:.1f} GFLOP per audio second; "
          f"cuDNN TF32 for fp32 convs: {torch.backends.cudnn.allow_tf32} (PyTorch's default; NeMo runs with it)")
    ref_label, ref_encode, ref_decode = reference_runner(args, device)
    clip = noise_clip(args.seconds)
    spf = model.samples_per_frame
    clip = torch.nn.functional.pad(clip, (0, -len(clip) % spf))  # whole frames: every item full length
    print(f"{'config':<34}{'batch':>6}{'enc s':>9}{'dec s':>9}{'RT s':>9}{'x realtime':>12}{'x ref':>7}"
          f"{'GFLOP/s':>10}{'peak MB':>10}{'tok = ref':>10}{'SNR dB':>9}")
    for batch in args.batch:
        audio = clip.to(device)[None].repeat(batch, 1)
        lengths = torch.full((batch,), audio.shape[1], device=device)
        audio_s = batch * audio.shape[1] / model.sample_rate
        configs = [(f"{ref_label} fp32", "fp32", None, False)]  # the baseline of every ratio, whatever is compared
        for precision in args.precisions:
            packs = precision != "fp32" and packed.available(model, precision_dtype(precision))
            if precision != "fp32":
                configs.append((f"{ref_label} {precision}", precision, None, False))
            if packs:  # the same precision under autocast, for the packing's share
                configs.append((f"ours {precision} autocast", precision, "eager", False))
            ours = f"ours {precision}" + (" packed" if packs else "")
            configs.append((ours, precision, "eager", True))
            configs += [(f"{ours} compile:{mode}", precision, mode, True) for mode in args.compile]
        base_rt = base_tokens = base_decoded = None
        for label, precision, mode, pack in configs:
            _reset_peak(device)
            try:
                if mode is None:
                    with autocast(device, precision):
                        enc_s, (tokens, tokens_len) = _timed(lambda: ref_encode(audio, lengths), args.repeats, device)
                        dec_s, decoded = _timed(lambda: ref_decode(tokens, tokens_len), args.repeats, device)
                else:
                    inference = LFSCInference(model, precision=precision, compile_mode=None if mode == "eager" else mode,
                                              pack=pack)
                    enc_s, tokens = _timed(lambda: inference.encode_frames(audio), args.repeats, device)
                    dec_s, decoded = _timed(lambda: inference.decode_frames(tokens), args.repeats, device)
            except Exception as error:  # one configuration the device cannot run must not cost the others' figures
                first_line = (str(error).splitlines() or [""])[0][:200]
                print(f"{label:<34}{batch:>6}  failed: {type(error).__name__}: {first_line}", flush=True)
                if base_rt is None:
                    print(f"{'':<34}{batch:>6}  the fp32 reference failed: no ratios at this batch", flush=True)
                    break
                continue
            tokens, decoded = tokens.cpu().numpy(), decoded.float().cpu().numpy()
            rt = enc_s + dec_s
            if base_rt is None:
                base_rt, base_tokens, base_decoded = rt, tokens, decoded
            print(f"{label:<34}{batch:>6}{enc_s:>9.4f}{dec_s:>9.4f}{rt:>9.4f}{audio_s / rt:>12.1f}"
                  f"{base_rt / rt:>6.2f}x{gflop * audio_s / rt:>10.0f}{_peak_mb(device):>10.0f}"
                  f"{np.mean(tokens == base_tokens):>10.4f}{snr_db(base_decoded, decoded):>9.1f}", flush=True)

if __name__ == "__main__":
    main()
