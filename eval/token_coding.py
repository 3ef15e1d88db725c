"""Entropy coding measured on a speech set's tokens (issue #22): a train/test split, priors fitted on the train part
(pooled over all languages and per language), and the range-coded bits per frame of every model on the test part,
per language and, over all, per codebook.

Priors are fitted only on train utterances and measured only on test ones, so the figures are what a prior fitted
on one corpus does on speech it never saw. The test part is the --test-manifest's utterances, or else every
HOLD_OUT-th utterance of each language (its 1st, 6th, 11th, ...), so every language is tested and a language with
one utterance has no train part (it is then coded with the pooled prior only).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.bitstream import frame_bits
from codec.entropy import coded_bits_per_frame
from codec.entropy_models import Prior
from codec.errors import UserError
from eval.manifest import Utterance
from eval.tokens import ALL, entropy_bits, language, miller_madow_bits

HOLD_OUT = 5
KINDS = ("static", "context")
RANDOM_WEIGHTS_NOTE = (
    "With a checkpoint of random weights (such as the test fixture) the codes are spread almost uniformly and the "
    "gain over the fixed frame is small: what such a run proves is the machinery (exact round trips, the priors' "
    "files, the train/test measurement); the released checkpoint gives the real figure."
)


@dataclass
class Split:
    """Which utterances fit the priors and which measure them, and how they were chosen."""

    train: list[Utterance]
    test: list[Utterance]
    how: str


def split(utterances: list[Utterance], test: list[Utterance] | None = None) -> Split:
    """Train on `utterances` and test on `test` when given; else hold out every HOLD_OUT-th one per language."""
    if test is not None:
        return Split(list(utterances), list(test), "test: the --test-manifest utterances; train: the input")
    train, held, seen = [], [], {}
    for utt in utterances:
        lang = language(utt)
        (held if seen.get(lang, 0) % HOLD_OUT == 0 else train).append(utt)
        seen[lang] = seen.get(lang, 0) + 1
    return Split(train, held, f"test: every {HOLD_OUT}th utterance of each language (its 1st, {HOLD_OUT + 1}th, ...) "
                              "of the input; train: the others")


def by_group(tokens: list[tuple[Utterance, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Token arrays [frames, codebooks] over all (first) and per language, in input order."""
    groups: dict[str, list[np.ndarray]] = {ALL: [t for _, t in tokens]} if tokens else {}
    for utt, t in tokens:
        groups.setdefault(language(utt), []).append(t)
    return groups


def fit_priors(train: dict[str, list[np.ndarray]], codebook_size: int) -> dict[str, Prior]:
    """A static and a context prior per train group, named 'static-all', 'context-en', ..."""
    return {f"{kind}-{group}": Prior.fit(arrays, kind, codebook_size) for group, arrays in train.items()
            for kind in KINDS}


def check_prior_folder(folder: Path) -> None:
    """Refuse a --fit-prior folder that holds anything: priors go into a new or empty folder, overwriting nothing."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"--fit-prior {folder}: is not a new or empty folder: give one, so that no file is overwritten")


def write_priors(priors: dict[str, Prior], folder: Path) -> dict[str, dict]:
    """Write each prior as FOLDER/NAME.lfep (never over an existing file); per file: its kind, group and sha256s."""
    import hashlib

    check_prior_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, prior in priors.items():
        data = prior.to_bytes()
        file = folder / f"{_file_name(name)}.lfep"
        with open(file, "xb") as out:  # exclusive: a file that appeared meanwhile is an error, not overwritten
            out.write(data)
        kind, _, group = name.partition("-")
        written[file.name] = {"kind": kind, "group": group, "file_sha256": hashlib.sha256(data).hexdigest(),
                              "prior_sha256": prior.sha256}
    return written


def _file_name(name: str) -> str:
    """A prior's name as a file name (a manifest's language is any text)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def measure(test: dict[str, list[np.ndarray]], priors: dict[str, Prior], num_codebooks: int, codebook_size: int,
            frame_rate: float) -> dict:
    """Per test group: frames, the fixed frame, the entropy estimate and the coded bits per frame of every model;
    for 'all', the same per codebook (each coded alone)."""
    out = {}
    for group, arrays in test.items():
        row = _rates(arrays, priors, group, codebook_size)
        row["bits_per_frame"]["fixed"] = frame_bits(codebook_size, num_codebooks)
        row["bitrate"] = {k: v * frame_rate if v is not None else None for k, v in row["bits_per_frame"].items()}
        if group == ALL:
            row["codebooks"] = [_rates([a[:, c:c + 1] for a in arrays], _slice(priors, c), group, codebook_size)
                                for c in range(num_codebooks)]
        out[group] = row
    return out


def _rates(arrays: list[np.ndarray], priors: dict[str, Prior], group: str, codebook_size: int) -> dict:
    """Utterances, frames, entropy estimates and coded bits per frame of `arrays` with every model there is."""
    frames = sum(len(a) for a in arrays)
    counts = [np.bincount(np.concatenate([a[:, c] for a in arrays]), minlength=codebook_size)
              for c in range(arrays[0].shape[1])]
    bits = {"entropy": sum(entropy_bits(c) for c in counts),
            "entropy_miller_madow": sum(miller_madow_bits(c) for c in counts),
            "adaptive": coded_bits_per_frame(arrays, codebook_size, "adaptive")}
    for kind in KINDS:
        bits[f"{kind}_pooled"] = _coded(arrays, priors.get(f"{kind}-{ALL}"), codebook_size)
        if group != ALL:
            bits[f"{kind}_own"] = _coded(arrays, priors.get(f"{kind}-{group}"), codebook_size)
    return {"utterances": len(arrays), "frames": frames, "bits_per_frame": bits}


def _coded(arrays: list[np.ndarray], prior: Prior | None, codebook_size: int) -> float | None:
    """Coded bits per frame with `prior`, None when there is none (a group with no train part)."""
    return None if prior is None else coded_bits_per_frame(arrays, codebook_size, prior)


def _slice(priors: dict[str, Prior], codebook: int) -> dict[str, Prior]:
    """The priors of one codebook: each prior's table for that codebook, as a one-codebook prior."""
    return {name: Prior(p.kind, p.codebook_size, 1, p.counts[codebook:codebook + 1], p.strength)
            for name, p in priors.items()}


MODELS = (("adaptive", "adaptive"), ("static_pooled", "static (all)"), ("context_pooled", "context (all)"),
          ("static_own", "static (own)"), ("context_own", "context (own)"))


def markdown(coding: dict, how: str, train: dict[str, list[np.ndarray]], priors: dict[str, dict]) -> str:
    """The coded bits per frame as Markdown: per test group, then per codebook over all, then the priors written."""
    lines = ["## Entropy coding: coded bits per frame on the test part", "",
             f"Train/test: {how}. Priors are fitted on the train part: 'all' pooled over every language, 'own' on the "
             "group's language only (none where it has no train utterances). Coded: the range coder's output, "
             "each utterance coded on its own, without the payload's header (a codebook coded alone also pays its "
             "own flush, up to 32 bits an utterance). Entropy: of the test codes' histogram, in-sample, so biased "
             "low when frames are few.", "", RANDOM_WEIGHTS_NOTE, "",
             "| group | train utt. | test utt. | test frames | fixed | entropy (Miller-Madow) | "
             + " | ".join(label for _, label in MODELS) + " | best bit/s |",
             "|---|---|---|---|---|---|" + "---|" * (len(MODELS) + 1)]
    for group, row in coding.items():
        bits = row["bits_per_frame"]
        coded = [bits.get(key) for key, _ in MODELS]
        best = min(v for v in coded if v is not None) * row["bitrate"]["fixed"] / bits["fixed"]
        lines.append(f"| {group} | {len(train.get(group, []))} | {row['utterances']} | {row['frames']} | "
                     f"{bits['fixed']} | {bits['entropy']:.1f} ({bits['entropy_miller_madow']:.1f}) | "
                     + " | ".join(_cell(v) for v in coded) + f" | {best:.0f} |")
    if ALL in coding:
        lines += ["", "### Per codebook over all (each codebook coded alone; pooled priors)", "",
                  "| codebook | entropy (Miller-Madow) | adaptive | static | context |", "|---|---|---|---|---|"]
        for c, row in enumerate(coding[ALL]["codebooks"]):
            bits = row["bits_per_frame"]
            lines.append(f"| {c} | {bits['entropy']:.2f} ({bits['entropy_miller_madow']:.2f}) | "
                         + " | ".join(_cell(bits[k], 2) for k in ("adaptive", "static_pooled", "context_pooled")) + " |")
    if priors:
        lines += ["", "### Priors written (use with `lfsc-codec encode --entropy prior:FILE`)", "",
                  "| file | kind | group | sha256 of the file | prior sha256 (named in payloads) |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {p['kind']} | {p['group']} | {p['file_sha256']} | {p['prior_sha256']} |"
                  for name, p in priors.items()]
    return "\n".join(lines) + "\n"


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"
