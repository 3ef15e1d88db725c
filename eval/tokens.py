"""Token diagnostics of a token codec (LFSC and its variants) on a speech set, per language: how much of each codebook is used, its entropy (what an
entropy coder could save over the fixed 88-bit frame), and re-encode idempotence (the tokens of the decoded audio
against the tokens it was decoded from).

Entropies are of each codebook's code distribution over all frames of a group (a static per-codebook model, the
bound for coding frames independently). The plug-in estimate is biased low when the codes are many and the frames
few (2016 codes, a few thousand frames), so the Miller-Madow corrected estimate is given next to it; both are
estimates, and the report says how many frames they rest on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from codec.bitstream import frame_bits
from codec.errors import UserError
from eval.manifest import Utterance

ALL = "all"  # the group of every utterance, next to one group per language


@dataclass
class TokenCounts:
    """What one group of utterances' tokens add up to."""

    counts: np.ndarray  # [num_codebooks, codebook_size] how often each code was emitted
    utterances: int = 0
    same_codes: int = 0  # codes equal after decoding and encoding again
    same_frames: int = 0  # frames whose every code is equal after decoding and encoding again

    @property
    def frames(self) -> int:
        """Frames counted."""
        return int(self.counts[0].sum())

    def add(self, tokens: np.ndarray, again: np.ndarray) -> None:
        """Count one utterance's tokens [num_codebooks, frames] and those of its decoded audio."""
        for codebook, codes in enumerate(tokens):
            self.counts[codebook] += np.bincount(codes, minlength=self.counts.shape[1])
        self.utterances += 1
        self.same_codes += int(np.count_nonzero(tokens == again))
        self.same_frames += int(np.count_nonzero((tokens == again).all(axis=0)))


def entropy_bits(counts: np.ndarray) -> float:
    """Plug-in (maximum-likelihood) entropy in bits of a histogram."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: one code used gives 0.0, not -0.0


def miller_madow_bits(counts: np.ndarray) -> float:
    """Plug-in entropy plus the Miller-Madow correction (codes used - 1) / (2 N ln 2), in bits."""
    return entropy_bits(counts) + (np.count_nonzero(counts) - 1) / (2 * counts.sum() * math.log(2))


def language(utt: Utterance) -> str:
    """The group an utterance counts in next to 'all'."""
    return utt.lang or "unknown"


def token_layout(codec) -> tuple[int, int, float]:
    """Codebooks, codes per codebook and frames per second of a token codec (one with `tokens` and `synthesize`:
    lfsc, lfsc+ac, nemo:PATH, hf:MODEL): its model's own, read from its bitstream layout."""
    layout = codec.layout(codec.sample_rate, codec.sample_rate, codec.sample_rate)
    return layout.num_codebooks, layout.codebook_size, codec.sample_rate / layout.samples_per_frame


@dataclass
class Collected:
    """The counts per language and over all, each utterance's tokens [frames, codebooks] (None when its audio
    could not be read), and the utterances not read, with why."""

    groups: dict[str, TokenCounts]
    tokens: list[np.ndarray | None]
    skipped: dict[str, str]


def collect(codec, utterances: list[Utterance], progress: Callable[[int, str], None] | None = None) -> Collected:
    """Tokens of every utterance (and of its decoded audio) counted per language and over all. `codec` is a token
    codec (`token_layout`)."""
    num_codebooks, codebook_size, _ = token_layout(codec)
    out = Collected({}, [], {})
    for done, utt in enumerate(utterances, start=1):
        try:
            audio = utt.load(codec.sample_rate).samples
        except UserError as exc:
            out.skipped[utt.id] = str(exc)
            out.tokens.append(None)
        else:
            tokens = codec.tokens(audio)
            again = codec.tokens(codec.synthesize(tokens, len(audio)))
            for name in (ALL, language(utt)):
                group = out.groups.setdefault(name, TokenCounts(np.zeros((num_codebooks, codebook_size), np.int64)))
                group.add(tokens, again)
            out.tokens.append(np.ascontiguousarray(tokens.T, np.int32))
        if progress is not None:
            progress(done, utt.id)
    return out


def summarize(groups: dict[str, TokenCounts], frame_rate: float) -> dict:
    """Per group: per-codebook use and entropies, the bitrate of the fixed frame and the entropy bound, and
    re-encode idempotence."""
    out: dict = {}
    for name, group in groups.items():
        num_codebooks, codebook_size = group.counts.shape
        fixed = frame_bits(codebook_size, num_codebooks)
        plug_in = [entropy_bits(c) for c in group.counts]
        corrected = [miller_madow_bits(c) for c in group.counts]
        out[name] = {
            "utterances": group.utterances,
            "frames": group.frames,
            "codebooks": [
                {"used": int(np.count_nonzero(c)), "used_fraction": np.count_nonzero(c) / codebook_size,
                 "entropy_bits": h, "entropy_bits_miller_madow": mm, "perplexity": 2**h}
                for c, h, mm in zip(group.counts, plug_in, corrected)
            ],
            "bits_per_frame": {"fixed": fixed, "entropy": sum(plug_in), "entropy_miller_madow": sum(corrected),
                               "uniform": num_codebooks * math.log2(codebook_size)},
            "bitrate": {"fixed": fixed * frame_rate, "entropy": sum(plug_in) * frame_rate,
                        "entropy_miller_madow": sum(corrected) * frame_rate},
            "reencode": {"same_codes": group.same_codes / (group.frames * num_codebooks),
                         "same_frames": group.same_frames / group.frames},
        }
    return out


def markdown(summary: dict, skipped: dict[str, str]) -> str:
    """The summary as Markdown tables: one line per group, then each codebook of the whole set."""
    lines = ["# Token diagnostics", "",
             "Entropy: of each codebook's codes over the group's frames, summed over codebooks (plug-in; Miller-Madow "
             "corrected in brackets). Re-encode: tokens of the decoded audio equal to the tokens it came from.", "",
             "| group | utterances | frames | codes used (mean per codebook) | bits/frame fixed | entropy bits/frame "
             "| bit/s fixed | bit/s entropy | re-encode: same codes | same frames |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, g in summary.items():
        used = np.mean([c["used_fraction"] for c in g["codebooks"]])
        bits, rate = g["bits_per_frame"], g["bitrate"]
        lines.append(
            f"| {name} | {g['utterances']} | {g['frames']} | {used:.1%} | {bits['fixed']} | {bits['entropy']:.1f} "
            f"({bits['entropy_miller_madow']:.1f}) | {rate['fixed']:.1f} | {rate['entropy']:.1f} "
            f"({rate['entropy_miller_madow']:.1f}) | {g['reencode']['same_codes']:.3f} | {g['reencode']['same_frames']:.3f} |"
        )
    if ALL in summary:
        lines += ["", "## Codebooks over all utterances", "", "| codebook | codes used | entropy bits (Miller-Madow) | perplexity |",
                  "|---|---|---|---|"]
        for i, c in enumerate(summary[ALL]["codebooks"]):
            lines.append(f"| {i} | {c['used']} ({c['used_fraction']:.1%}) | {c['entropy_bits']:.2f} "
                         f"({c['entropy_bits_miller_madow']:.2f}) | {c['perplexity']:.0f} |")
    if skipped:
        lines += ["", "## Not counted (audio could not be read)", ""] + [f"- {k}: {v}" for k, v in skipped.items()]
    return "\n".join(lines) + "\n"
