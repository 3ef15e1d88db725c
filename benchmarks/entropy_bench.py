"""Time entropy coding (codec.entropy, issue #22) of 10 minutes of LFSC-shaped tokens for every model, next to the
bits per frame it reaches and LFSC's fixed 88.

    PYTHONPATH=. .venv/bin/python benchmarks/entropy_bench.py [--seconds 600] [--repeat 0.4] [--zipf 1.1]

The tokens are synthetic: 8 codebooks of 2016 codes, each drawn from a Zipf distribution (shuffled per codebook)
and repeating the codebook's previous code with probability --repeat; the priors are fitted on 4 other draws of the
same length. RTF is the encode + decode time over the audio's duration; issue #22 asks for at most 5% of an LFSC
CPU round trip (0.16-0.5 x real time), so at most 0.008-0.025.

With --lfsc it times instead a real LFSC CPU round trip of a bundled clip (the NeMo test fixture, or the checkpoint
--checkpoint names, e.g. a full-size random one) with fixed 88-bit frames and with each entropy model, and prints
the fraction each model adds, side by side; the priors are fitted on the tokens of --fit-clips other bundled clips:

    PYTHONPATH=. .venv/bin/python benchmarks/entropy_bench.py --lfsc [--checkpoint X.nemo] [--clip N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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
    from eval.tokens import entropy_bits as histogram_bits

    return sum(histogram_bits(np.unique(column, return_counts=True)[1]) for column in tokens.T)


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


FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nemo" / "lfsc_small.nemo"


def lfsc_round_trip(checkpoint: str, clip: int, fit_clips: int, runs: int) -> None:
    """Time an LFSC CPU round trip of one bundled clip without and with each entropy model; print the added
    fraction (the coding measured alone, and the whole round trip with it, which CPU noise blurs)."""
    from codec.bitstream import pack_frames, unpack_frames
    from codec.lfsc_codec import LFSCCodec
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest

    codec = LFSCCodec(checkpoint, device="cpu")
    utts = sorted(load_manifest(default_manifest()), key=lambda u: u.id)
    audio = utts[clip].load(codec.sample_rate).samples
    others = [u.load(codec.sample_rate).samples for u in utts[clip + 1:clip + 1 + fit_clips]]
    corpus = [codec.tokens(a).T for a in others]
    size, count = codec.model.codebook_size, codec.model.num_codebooks
    tokens = codec.tokens(audio)
    base, plain = best_of(runs, lambda: codec.decode(codec.encode(audio), len(audio)))
    frames = tokens.shape[1]
    fixed, _ = best_of(5, lambda: unpack_frames(pack_frames(tokens, size), frames, count, size))
    print(f"{utts[clip].id}: {len(audio) / codec.sample_rate:.2f} s, {frames} frames; LFSC CPU round trip (fixed "
          f"frames) {base:.3f} s, RTF {base * codec.sample_rate / len(audio):.3f}; priors fitted on {len(corpus)} "
          f"other clips ({sum(len(t) for t in corpus)} frames); packing fixed frames {fixed * 1e3:.2f} ms; checkpoint "
          f"{checkpoint}")
    print(f"{'model':9} {'bits/fr':>7} {'code ms':>8} {'added':>7} {'round trip s':>12} {'added':>7}")
    folder = Path(tempfile.mkdtemp())
    options = {"adaptive": "adaptive"}
    for kind in ("static", "context"):
        (folder / kind).write_bytes(Prior.fit(corpus, kind, size).to_bytes())
        options[kind] = f"prior:{folder / kind}"
    for name, option in options.items():
        ac = LFSCCodec(checkpoint, device="cpu", entropy=option)  # as lfsc+ac / lfsc-codec --entropy build it
        model = ac.entropy
        prior = model if isinstance(model, Prior) else None
        coding, _ = best_of(5, lambda: unpack(pack(tokens.T, size, model), prior))
        whole, decoded = best_of(runs, lambda: ac.decode(ac.encode(audio), len(audio)))
        assert np.array_equal(decoded, plain), f"{name}: the audio differs from fixed frames'"
        bits = coded_bits_per_frame([tokens.T], size, model)
        print(f"{name:9} {bits:7.2f} {coding * 1e3:8.2f} {(coding - fixed) / base:7.2%} {whole:12.3f} "
              f"{whole / base - 1:7.2%}")
    print("issue #22 target: coding adds at most 5% to the LFSC CPU round trip ('added' after 'code ms': entropy "
          "coding and decoding alone, less packing fixed frames, over the fixed round trip; the second 'added': whole round trips, noisier)")


def main() -> None:
    """Fit the priors, then print one row per model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="audio duration the tokens stand for")
    parser.add_argument("--repeat", type=float, default=0.4, help="chance a code repeats the previous frame's")
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of the code distribution")
    parser.add_argument("--lfsc", action="store_true", help="time a real LFSC CPU round trip with each model instead")
    parser.add_argument("--checkpoint", default=str(FIXTURE), help="with --lfsc: the .nemo (default: the test fixture)")
    parser.add_argument("--clip", type=int, default=0, help="with --lfsc: which bundled clip (sorted by id)")
    parser.add_argument("--fit-clips", type=int, default=6, help="with --lfsc: bundled clips after it to fit priors on")
    parser.add_argument("--runs", type=int, default=3, help="with --lfsc: round trips timed, the best kept")
    args = parser.parse_args()
    if args.lfsc:
        return lfsc_round_trip(args.checkpoint, args.clip, args.fit_clips, args.runs)
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
