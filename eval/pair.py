"""Scoring one (reference, decoded) pair: the one path that the batch runner and the app share.

What each metric is fed (the one policy; every row records it under "fed"):
- Waveform metrics (`metrics.FAST_METRICS`: PESQ, STOI, SI-SDR, the spectral distances, pitch) compare the decoded
  audio with the reference sample by sample. They get the pair at the reference's rate, with the codec's delay
  compensated and the decoded audio trimmed or zero-filled to the reference's length (`sanity.check_pair`). When
  the checks cannot align the pair, they are refused rather than computed on misaligned signals.
- DistillMOS (no reference), ASR and the speaker embedding judge the decoded audio on its own. They get it as the
  codec gave it back, at the reference's rate, neither shifted nor zero-filled: a shift is no property of the
  codec's sound (one sample moved the clean reference's own DistillMOS from 4.319 to 4.385), and zeros are not
  speech.
Decoded audio holding NaN or infinite samples refuses every metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.audio import resample
from eval import asr, sanity
from eval.metrics import FAST_METRICS, METRICS, MetricError, compute

ASR_METRICS = ("cer", "wer")
AS_DECODED = "as-decoded/1"  # in the cache keys of what is fed the output as decoded (it was fed the aligned one)
Result = dict  # {"value": float} or {"missing": reason}


@dataclass
class Pair:
    """A reference and a codec's output, checked, with the signal each kind of metric is fed."""

    reference: np.ndarray
    sample_rate: int
    aligned: np.ndarray  # decoded, at the reference's rate, delay compensated, as long as the reference
    raw: np.ndarray  # decoded, at the reference's rate, as the codec gave it back
    sanity: sanity.Sanity

    def refusal(self, metric: str) -> str:
        """Why `metric` must not run on this pair ("" when it may)."""
        if self.sanity.deg_nonfinite:
            return f"decoded audio holds {self.sanity.deg_nonfinite} NaN/infinite samples"
        return self.sanity.refuse if metric in FAST_METRICS else ""

    def fed(self, metric: str) -> np.ndarray:
        """The decoded signal `metric` is computed on."""
        return self.aligned if metric in FAST_METRICS else self.raw


def fed(check: dict) -> dict:
    """What the metrics of a row saw, from its sanity findings (`Sanity.to_dict()`): the waveform metrics' shift,
    and the rates and lengths of both inputs."""
    return {
        "waveform": {"metrics": list(FAST_METRICS), "rate": check["ref_rate"], "samples": check["ref_samples"],
                     "shift_samples": check["delay_samples"] if check["delay_compensated"] else 0},
        "as_decoded": {"metrics": ["distill_mos", "speaker_sim", *ASR_METRICS], "rate": check["ref_rate"],
                       "decoded_rate": check["deg_rate"], "shift_samples": 0},
    }


def metric_rates(names: tuple[str, ...]) -> dict[str, int]:
    """The sample rate each metric of `names` runs at (its own, from the metric table; ASR: the model's)."""
    return {name: METRICS[name].rate if name in METRICS else asr.ASR_RATE for name in names}


def prepare(reference: np.ndarray, sample_rate: int, decoded: np.ndarray, decoded_rate: int,
            align_to: np.ndarray | None = None) -> Pair:
    """Check the pair and derive each metric's input; `align_to` is what the codec heard, when that was not the
    reference (input conditions)."""
    check, aligned = sanity.check_pair(reference, sample_rate, decoded, decoded_rate, align_to=align_to)
    raw = np.asarray(decoded, dtype=np.float32)
    if check.deg_nonfinite:  # otherwise no copy: a long clip's memory is a few copies of it, no more
        raw = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
    raw = resample(raw, decoded_rate, sample_rate)
    return Pair(np.asarray(reference, dtype=np.float32), sample_rate, aligned, raw, check)


def score(pair: Pair, names: tuple[str, ...]) -> dict[str, Result]:
    """Each metric of `names` (keys of `metrics.METRICS`) on the signal it is fed: {"value": x} or {"missing": why}."""
    out: dict[str, Result] = {}
    for name in names:
        reason = pair.refusal(name)
        if reason:
            out[name] = {"missing": reason}
            continue
        try:
            out[name] = {"value": compute(name, pair.reference, pair.fed(name), pair.sample_rate)}
        except (MetricError, ValueError) as exc:
            out[name] = {"missing": str(exc)}
    return out


def asr_scores(kinds: tuple[str, ...], text: str, lang: str, original: dict | None, decoded: dict | None) -> dict:
    """CER/WER of the decoded audio's transcript and of the original's (the floor) against `text`, and their
    difference: {"metrics": {...}, "missing": {...}, "counts": {...}}. `original` and `decoded` are {"text": ...}
    or {"missing": why} (None: ASR not run). Without a transcript, the original's ASR output is the reference
    (what the codec changed), and the floor is not defined."""
    out: dict = {"metrics": {}, "missing": {}, "counts": {}}
    transcript = bool(text.strip())
    reference = text if transcript else (original or {}).get("text", "")
    why = ""
    if original is None or "missing" in original:
        why = (original or {}).get("missing", "ASR not run" if transcript else "no reference transcript")
    elif decoded is None or "missing" in decoded:
        why = (decoded or {}).get("missing", "ASR not run")
    elif not lang:
        why = "the language is unknown"
    for kind, counter in (("cer", asr.char_errors), ("wer", asr.word_errors)):
        if kind not in kinds:
            continue
        names = (kind, f"{kind}_orig", f"d{kind}")
        try:
            if why:
                raise ValueError(why)
            errors = counter(reference, decoded["text"], lang)
            floor = counter(reference, original["text"], lang) if transcript else None
        except ValueError as exc:
            out["missing"].update({name: str(exc) for name in names})
            continue
        out["counts"][kind] = errors.to_dict()
        out["metrics"][kind] = errors.rate
        if floor is None:  # against the original's transcript, which is its own floor
            out["missing"].update({name: "no reference transcript" for name in names[1:]})
            continue
        out["counts"][f"{kind}_orig"] = floor.to_dict()
        out["metrics"][f"{kind}_orig"] = floor.rate
        out["metrics"][f"d{kind}"] = errors.rate - floor.rate
    return out

