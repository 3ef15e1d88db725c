"""What a speaker-similarity value means on a run's own set: the active model's same- and different-speaker scores.

A codec's speaker similarity compares each utterance with its own decoded version (1.0 = same embedding). Alone,
a value such as 0.74 says little: GE2E never scores two real voices below 0 here, and two different speakers of
the bundled set already average 0.58. So the report puts next to it the model's scores between the run's
reference utterances: every pair of utterances of one speaker and every pair of two speakers (by the manifest's
speaker labels), their mean and 5th/95th percentiles, and the equal-error-rate threshold, the similarity above
which a pair is more likely one speaker than two. Embeddings are cached by audio content and model version.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from codec.audio import load_audio
from codec.errors import UserError
from eval import speaker
from eval.cache import Cache, audio_sha256

CACHE_CODEC_KEY = "original"  # the reference itself, as the runner keys the original's ASR


def _embedding_key() -> str:
    return f"speaker-embedding/{speaker.model_version()}"


def reference_embedding(sha: str, samples: np.ndarray, sample_rate: int, cache: Cache) -> np.ndarray | str:
    """The active model's embedding of a reference whose audio hashes to `sha` (cached), or why it has none: the
    runner's speaker similarity and the chance levels share it, so each reference is embedded once."""
    entry = cache.get(sha, CACHE_CODEC_KEY, _embedding_key())
    if entry is None:
        try:
            entry = {"embedding": [float(v) for v in speaker.embed(samples, sample_rate)]}
        except ValueError as exc:
            entry = {"missing": str(exc)}
        cache.put(sha, CACHE_CODEC_KEY, _embedding_key(), entry)
    # float32, as the model gives it (each value round-trips exactly), so a cosine with it is the uncached one
    return np.asarray(entry["embedding"], dtype=np.float32) if "embedding" in entry else entry["missing"]


def _embedding(path: Path, cache: Cache) -> np.ndarray | str:
    """The active model's embedding of a reference file (cached), or why it has none."""
    try:
        audio = load_audio(path)
    except UserError as exc:
        return str(exc)
    return reference_embedding(audio_sha256(audio.samples, audio.sample_rate), audio.samples, audio.sample_rate, cache)


def _spread(scores: list[float]) -> dict:
    if not scores:
        return {"pairs": 0, "mean": None, "p5": None, "p95": None}
    p5, p95 = np.percentile(scores, [5, 95])
    return {"pairs": len(scores), "mean": float(np.mean(scores)), "p5": float(p5), "p95": float(p95)}


def equal_error(same: list[float], different: list[float]) -> tuple[float, float]:
    """(threshold, equal error rate): of the midpoints between consecutive distinct scores (and accept-all,
    reject-all), the threshold where the share of different-speaker pairs at or above it is closest to the share
    of same-speaker pairs below it (the lower threshold on a tie); the rate is the mean of those two shares."""
    same_a, diff_a = np.asarray(same, dtype=np.float64), np.asarray(different, dtype=np.float64)
    scores = np.unique(np.concatenate([same_a, diff_a]))
    candidates = np.concatenate([scores[:1], (scores[:-1] + scores[1:]) / 2, [np.inf]])  # accept all ... none
    # counted by sorted search, not a candidates x pairs matrix (quadratic in the pairs: gigabytes for a large set)
    false_accept = (len(diff_a) - np.searchsorted(np.sort(diff_a), candidates, side="left")) / len(diff_a)
    false_reject = np.searchsorted(np.sort(same_a), candidates, side="left") / len(same_a)
    best = int(np.argmin(np.abs(false_accept - false_reject)))
    return float(candidates[best]), float((false_accept[best] + false_reject[best]) / 2)


def chance_level(references: list[tuple[str | Path, str]], cache: Cache) -> dict:
    """Same- and different-speaker similarity of the active model over (audio path, speaker label) references.

    Returns the model's name, the counts, `same` and `different` ({pairs, mean, p5, p95}), `eer_threshold` and
    `eer` (None without both kinds of pair), and `note`: why something could not be computed ("" when all was).
    """
    labelled = {str(Path(path)): label for path, label in references if label}
    unlabelled = len({str(Path(path)) for path, label in references if not label} - set(labelled))
    out: dict = {"model": speaker.describe()["name"], "utterances": len(labelled), "unlabelled": unlabelled,
                 "speakers": len(set(labelled.values())), "failed": {}, "same": _spread([]),
                 "different": _spread([]), "eer_threshold": None, "eer": None, "note": ""}
    if not labelled:
        out["note"] = "speakers unknown: the input gives no speaker labels, so there is no chance level to show"
        return out
    embedded = []
    for path, label in sorted(labelled.items()):
        embedding = _embedding(Path(path), cache)
        if isinstance(embedding, str):
            out["failed"][path] = embedding
        else:
            embedded.append((label, embedding))
    same, different = [], []
    for (label_a, a), (label_b, b) in combinations(embedded, 2):
        (same if label_a == label_b else different).append(speaker.cosine(a, b))
    out["same"], out["different"] = _spread(same), _spread(different)
    if same and different:
        out["eer_threshold"], out["eer"] = equal_error(same, different)
    elif out["speakers"] < 2:
        out["note"] = "one speaker only: no different-speaker pairs, so there is no chance level to show"
    else:
        out["note"] = "no speaker has two utterances: no same-speaker pairs, so no equal-error threshold"
    if unlabelled:
        out["note"] = (out["note"] + "; " if out["note"] else "") + f"{unlabelled} utterance(s) without a speaker label left out"
    return out
