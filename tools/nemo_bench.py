"""Time NeMo's LFSC encode and decode on CPU; prints ONE JSON line (run in .venv-nemo).

    .venv-nemo/bin/python tools/nemo_bench.py --nemo /tmp/lfsc_full_random.nemo --seconds 5 --batch 1 \
        --repeats 3 [--bf16] [--audio WAV] [--threads 2]

The input is ``--audio`` (mono mix, resampled to the model rate with soxr VHQ, its first ``--seconds``
seconds, repeated if shorter) or, without it, fixed-seed Gaussian noise (torch seed 0, std 0.1); the same
clip is stacked ``--batch`` times. Each of encode and decode is timed ``--repeats`` times and the best is
kept. Output keys: encode_s, decode_s (best seconds), audio_s (seconds of audio per call: seconds x batch),
rtf_encode, rtf_decode, rtf_roundtrip (time / audio_s), tokens_sha (sha256 of the tokens as little-endian
int32 [B, 8, N], C order: equal digests mean identical tokens), plus batch, threads, dtype, nemo_version.
``--bf16`` runs under ``torch.autocast("cpu", dtype=torch.bfloat16)``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def load_clip(path: Path | None, sample_rate: int, seconds: float) -> torch.Tensor:
    """`seconds` of mono audio at `sample_rate`: from a file (soxr VHQ, tiled if short), else seeded noise."""
    n = round(seconds * sample_rate)
    if path is None:
        return torch.randn(n, generator=torch.Generator().manual_seed(0)) * 0.1
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != sample_rate:
        x = soxr.resample(x, sr, sample_rate, quality="VHQ").astype(np.float32)
    return torch.from_numpy(np.resize(x, n).astype(np.float32))


def best_time(fn, repeats: int):
    """Best wall time of `repeats` calls of fn() and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    """Parse arguments, restore the .nemo, time encode and decode, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nemo", type=Path, required=True, help=".nemo checkpoint to restore with NeMo")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 on CPU")
    parser.add_argument("--audio", type=Path, help="input audio file (default: seeded noise)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    # NeMo logs to stdout too; keep stdout for the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        import nemo
        from nemo.collections.tts.models import AudioCodecModel

        model = AudioCodecModel.restore_from(str(args.nemo), map_location="cpu").float().eval()
    clip = load_clip(args.audio, model.sample_rate, args.seconds)
    audio = clip.unsqueeze(0).repeat(args.batch, 1)
    audio_len = torch.full((args.batch,), audio.shape[1], dtype=torch.int64)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    with torch.inference_mode(), precision, contextlib.redirect_stdout(sys.stderr):
        encode_s, (tokens, tokens_len) = best_time(
            lambda: model.encode(audio=audio, audio_len=audio_len), args.repeats)
        decode_s, _ = best_time(lambda: model.decode(tokens=tokens, tokens_len=tokens_len), args.repeats)

    audio_s = args.seconds * args.batch
    tokens_bytes = tokens.cpu().numpy().astype("<i4", copy=False).tobytes(order="C")
    print(json.dumps({
        "encode_s": round(encode_s, 4),
        "decode_s": round(decode_s, 4),
        "audio_s": audio_s,
        "rtf_encode": round(encode_s / audio_s, 4),
        "rtf_decode": round(decode_s / audio_s, 4),
        "rtf_roundtrip": round((encode_s + decode_s) / audio_s, 4),
        "tokens_sha": hashlib.sha256(tokens_bytes).hexdigest(),
        "batch": args.batch,
        "threads": args.threads,
        "dtype": "bfloat16" if args.bf16 else "float32",
        "nemo_version": nemo.__version__,
    }))


if __name__ == "__main__":
    main()
