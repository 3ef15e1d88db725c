"""Prove that a .nemo file loads and runs in NeMo 3.0.0 (run in .venv-nemo).

    .venv-nemo/bin/python tools/nemo_restore_check.py PATH.nemo [--audio WAV] [--seconds 2]

Restores the checkpoint with ``AudioCodecModel.restore_from``, encodes and decodes a clip (``--audio``,
resampled to the model rate, else 2 s of seeded noise), checks tokens (int32, [1, codebooks, N], each in
0..codebook size - 1) and audio (N x samples_per_frame samples, finite), prints the shapes and OK.
Exits non-zero when any of that fails. Used to show that .nemo files our trainer exports load in NeMo.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch

from nemo_bench import load_clip


def main() -> int:
    """Restore, round-trip one clip, check, print; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nemo", type=Path, help=".nemo checkpoint")
    parser.add_argument("--audio", type=Path, help="input audio file (default: seeded noise)")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    torch.set_num_threads(2)
    with contextlib.redirect_stdout(sys.stderr):
        from nemo.collections.tts.models import AudioCodecModel

        model = AudioCodecModel.restore_from(str(args.nemo), map_location="cpu").float().eval()
    audio = load_clip(args.audio, model.sample_rate, args.seconds).unsqueeze(0)
    audio_len = torch.tensor([audio.shape[1]])
    with torch.inference_mode(), contextlib.redirect_stdout(sys.stderr):
        tokens, tokens_len = model.encode(audio=audio, audio_len=audio_len)
        decoded, decoded_len = model.decode(tokens=tokens, tokens_len=tokens_len)

    per_group = model.vector_quantizer.fsqs[0].codebook_size
    frames = -(-audio.shape[1] // model.samples_per_frame)
    problems = []
    if tokens.dtype != torch.int32 or tuple(tokens.shape) != (1, model.num_codebooks, frames):
        problems.append(f"tokens {tuple(tokens.shape)} {tokens.dtype}, expected (1, {model.num_codebooks}, {frames}) int32")
    if tokens.min() < 0 or tokens.max() >= per_group:
        problems.append(f"tokens outside 0..{per_group - 1}")
    if tuple(decoded.shape) != (1, frames * model.samples_per_frame) or int(decoded_len[0]) != decoded.shape[1]:
        problems.append(f"decoded audio {tuple(decoded.shape)} (length {int(decoded_len[0])}), "
                        f"expected (1, {frames * model.samples_per_frame})")
    if not torch.isfinite(decoded).all():
        problems.append("decoded audio is not finite")
    print(f"{args.nemo}: sample_rate {model.sample_rate}, samples_per_frame {model.samples_per_frame}, "
          f"tokens {tuple(tokens.shape)} {tokens.dtype}, audio {tuple(decoded.shape)}")
    for p in problems:
        print(f"FAILED: {p}")
    if not problems:
        print("OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
