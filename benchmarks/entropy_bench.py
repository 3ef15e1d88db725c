"""Time entropy coding (codec.entropy, issue #22) of 10 minutes of LFSC-shaped tokens for every model, next to the
bits per frame it reaches and LFSC's fixed 88.

    PYTHONPATH=. .venv/bin/python benchmarks/entropy_bench.py [--seconds 600] [--repeat 0.4] [--zipf 1.1]

The tokens are synthetic: 8 codebooks of 2016 codes, each drawn from a Zipf distribution (shuffled per codebook)
and repeating the codebook's previous code with probability --repeat; the priors are fitted on 4 other draws of the
same length. RTF is the encode + decode time over the audio's duration; issue #22 asks for at most 5% of an LFSC
CPU round trip (0.16-0.5 x real time), so at most 0.008-0.025.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from codec.entropy import coded_bits_per_frame, decode_tokens, encode_tokens, pack, unpack
from codec.entropy_models import Prior

FRAME_RATE = 22050 / 1024  # LFSC frames a second
CODEBOOKS, CODEBOOK_SIZE, FIXED_BITS = 8, 2016, 88
TARGET_RTF = 0.05 * 0.16  # 5% of the fastest LFSC CPU round trip


def skewed_tokens(frames: int, repeat: float, zipf: float, seed: int) -> np.ndarray:
    """LFSC-shaped tokens [frames, 8]: Zipf codes, shuffled per codebook, repeating the previous with `repeat`."""
    p = 1 / np.arange(1, CODEBOOK_SIZE + 1) ** zipf
    source = np.random.default_rng(0)
    permutations = np.stack([source.permutation(CODEBOOK_SIZE) for _ in range(CODEBOOKS)])
    rng = np.random.default_rng(seed)
    tokens = permutations[np.arange(CODEBOOKS), rng.choice(CODEBOOK_SIZE, (frames, CODEBOOKS), p=p / p.sum())]
    repeats = rng.random((frames, CODEBOOKS)) < repeat
    for t in range(1, frames):
        tokens[t, repeats[t]] = tokens[t - 1, repeats[t]]
    return tokens


def entropy_bits(tokens: np.ndarray) -> float:
    """Sum over codebooks of the entropy of each codebook's code histogram: bits per frame."""
    total = 0.0
    for column in tokens.T:
        q = np.unique(column, return_counts=True)[1] / len(column)
        total -= float((q * np.log2(q)).sum())
    return total


def best_of(runs: int, work) -> tuple[float, object]:
    """Least wall time of `runs` calls of `work`, and its last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench(name: str, model, tokens: np.ndarray, seconds: float) -> None:
    """Print one row: rate, times and RTF of coding `tokens` with `model`, checking the round trip."""
    frames = len(tokens)
    if isinstance(model, Prior):
        build, _ = best_of(1, model.models)  # once per prior and process
    else:
        build = 0.0
    enc, body = best_of(3, lambda: encode_tokens(tokens, CODEBOOK_SIZE, model))
    dec, decoded = best_of(3, lambda: decode_tokens(body, frames, CODEBOOKS, CODEBOOK_SIZE, model))
    assert np.array_equal(decoded, tokens), f"{name}: round trip differs"
    packed = pack(tokens, CODEBOOK_SIZE, model)
    assert np.array_equal(unpack(packed, model if isinstance(model, Prior) else None), tokens)
    bits = coded_bits_per_frame([tokens], CODEBOOK_SIZE, model)
    rtf = (enc + dec) / seconds
    print(f"{name:9} {bits:7.2f} {bits / FIXED_BITS:6.1%} {bits * FRAME_RATE:8.0f} {len(packed):8d} "
          f"{build * 1e3:7.1f} {enc * 1e3:8.1f} {dec * 1e3:8.1f} {rtf:9.5f} {rtf / TARGET_RTF:7.1%}")


def main() -> None:
    """Fit the priors, then print one row per model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="audio duration the tokens stand for")
    parser.add_argument("--repeat", type=float, default=0.4, help="chance a code repeats the previous frame's")
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of the code distribution")
    args = parser.parse_args()
    frames = round(args.seconds * FRAME_RATE)
    tokens = skewed_tokens(frames, args.repeat, args.zipf, seed=1)
    corpus = [skewed_tokens(frames, args.repeat, args.zipf, seed=2 + i) for i in range(4)]
    fits = {kind: best_of(1, lambda kind=kind: Prior.fit(corpus, kind, CODEBOOK_SIZE))
            for kind in ("static", "context")}
    print(f"{frames} frames x {CODEBOOKS} codebooks of {CODEBOOK_SIZE} ({args.seconds:.0f} s of LFSC), "
          f"repeat {args.repeat}, zipf {args.zipf}; fixed rate {FIXED_BITS} bits/frame, "
          f"histogram entropy {entropy_bits(tokens):.2f} bits/frame")
    for kind, (seconds, prior) in fits.items():
        print(f"{kind} prior: fitted in {seconds:.2f} s on {4 * frames} frames, {len(prior.to_bytes())} bytes"
              + (f", strength {prior.strength}" if kind == "context" else ""))
    print(f"{'model':9} {'bits/fr':>7} {'of 88':>6} {'bit/s':>8} {'packed B':>8} {'build ms':>7} {'enc ms':>8} "
          f"{'dec ms':>8} {'RTF':>9} {'of 5%':>7}")
    bench("adaptive", "adaptive", tokens, args.seconds)
    for kind, (_, prior) in fits.items():
        bench(kind, prior, tokens, args.seconds)
    print(f"target: coding RTF <= {TARGET_RTF} (5% of a 0.16 x real-time LFSC CPU round trip); 'of 5%' is RTF / that")


if __name__ == "__main__":
    main()
