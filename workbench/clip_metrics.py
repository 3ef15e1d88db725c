"""Per-clip metrics for the panel, computed by the same `eval` functions (and sanity checks) as batch reports."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np


def fast_metrics(ref: np.ndarray, deg: np.ndarray, sr: int, task=None, original_mos: bool = True,
                 heard: np.ndarray | None = None) -> dict[str, float | str]:
    """Every fast metric and DistillMOS (decoded, and original unless `original_mos` is false) by label: its value,
    or the reason it is missing; sanity findings come first. Scored by `eval.pair` as batch reports are; `codec`
    `heard` is what the codec coded when not `ref` (input conditions): the output is aligned with it. A cancel of
    `task` stops inside a metric, between its windows."""
    with _as_the_app_scores(task):
        return _fast_metrics(ref, deg, sr, task, original_mos, heard)


@contextmanager
def _as_the_app_scores(task) -> Iterator[None]:
    """Metrics on a worker thread of the app: a cancel of `task` stops inside a metric, and PESQ's C code runs in a
    child process (on the worker it held the GIL, and so the window, for seconds)."""
    from eval.interruptible import interruptible
    from eval.native_calls import in_child_process

    with interruptible(task.check if task is not None else None), in_child_process():
        yield


def _fast_metrics(ref: np.ndarray, deg: np.ndarray, sr: int, task, original_mos: bool,
                  heard: np.ndarray | None) -> dict[str, float | str]:
    from eval.metrics import FAST_METRICS, METRICS, MetricError, compute
    from eval.pair import prepare, score

    pair = prepare(ref, sr, deg, sr, align_to=heard)
    out: dict[str, float | str] = {}
    if pair.sanity.warnings:
        out["sanity"] = "; ".join(pair.sanity.warnings)
    # One step per metric, each announced (where a cancel stops it): on a long clip each takes minutes.
    steps = len(FAST_METRICS) + (2 if original_mos else 1)
    for i, name in enumerate(FAST_METRICS):
        if task is not None:
            task.report(i, steps, f"computing {METRICS[name].label}")
        out[METRICS[name].label] = _shown(score(pair, (name,))[name])
    # The no-reference MOS; the original's is the ceiling to read the decoded one against.
    label = METRICS["distill_mos"].label
    if task is not None:
        task.report(len(FAST_METRICS), steps, f"computing {label} of the decoded audio")
    out[f"{label} (decoded)"] = _shown(score(pair, ("distill_mos",))["distill_mos"])
    if original_mos:
        if task is not None:
            task.report(len(FAST_METRICS) + 1, steps, f"computing {label} of the original")
        try:
            out[f"{label} (original)"] = compute("distill_mos", ref, ref, sr)
        except MetricError as exc:
            out[f"{label} (original)"] = f"missing: {exc}"
    return out


def _shown(result: dict) -> float | str:
    return result["value"] if "value" in result else f"missing: {result['missing']}"


def stimulus_metrics(
    stimuli: dict[tuple[str, str], np.ndarray], clips: dict[str, tuple[np.ndarray, int]],
    heard: dict[tuple[str, str], np.ndarray | None], task=None,
) -> dict[tuple[str, str], dict[str, float]]:
    """The fast metrics and DistillMOS of each rendered stimulus against its clip (aligned with what its codec
    `heard`, where that was not the clip), for comparing with ratings.

    Missing values are left out; so is the unprocessed reference, whose scores are perfect by construction.
    """
    from eval.listening import REFERENCE

    keys = [key for key in stimuli if key[1] != REFERENCE]
    out = {}
    with _as_the_app_scores(task):
        for i, (clip, condition) in enumerate(keys):
            if task is not None:
                task.report(i, len(keys), f"measuring {clip} through {condition}")
            ref, sr = clips[clip]
            measured = _fast_metrics(ref, stimuli[(clip, condition)], sr, None, False, heard[(clip, condition)])
            out[(clip, condition)] = {label: v for label, v in measured.items() if isinstance(v, float)}
    return out


def speaker_similarity(ref: np.ndarray, deg: np.ndarray, sr: int, task=None) -> dict[str, float | str]:
    """Speaker similarity of the decoded signal to the original (loads the speaker model on first use), scored by
    `eval.pair` as batch reports are."""
    from eval.metrics import METRICS
    from eval.pair import prepare, score

    if task is not None:
        task.report(0, 0, "loading the speaker model and embedding both signals")
    try:
        return {METRICS["speaker_sim"].label: _shown(score(prepare(ref, sr, deg, sr), ("speaker_sim",))["speaker_sim"])}
    except ImportError as exc:
        return {METRICS["speaker_sim"].label: f"missing: {exc}"}


def asr_errors(ref: np.ndarray, deg: np.ndarray, sr: int, text: str, lang: str, task=None) -> dict[str, float | str]:
    """CER of the original and the decoded audio against the transcript, and their difference (dCER), counted by
    `eval.pair.asr_scores` as batch reports are.

    Without a transcript the original's ASR output is the reference, so CER(decoded) is what the codec changed.
    """
    from eval import asr
    from eval.pair import asr_scores, prepare

    if not lang:
        return {"CER": "missing: the clip's language is unknown: set it under 'This clip' in the clips panel"}
    if task is not None:
        task.report(0, 2, "transcribing the original")
    heard_original = asr.transcribe(ref, sr, lang)
    if task is not None:
        task.report(1, 2, "transcribing the decoded audio")
    pair = prepare(ref, sr, deg, sr)
    if pair.refusal("cer"):
        return {"CER": f"missing: {pair.refusal('cer')}"}
    heard_decoded = asr.transcribe(pair.raw, sr, lang)
    out: dict[str, float | str] = {"ASR (original)": heard_original, "ASR (decoded)": heard_decoded}
    scored = asr_scores(("cer",), text, lang, {"text": heard_original}, {"text": heard_decoded})
    if text.strip():
        labels = {"cer_orig": "CER original", "cer": "CER decoded", "dcer": "dCER"}
    else:  # as the batch reports' floor: what the codec changed in what ASR hears
        labels = {"cer": "CER decoded vs ASR(original)"}
        out["CER reference"] = "the ASR of the original: no transcript is set for this clip"
    for name, label in labels.items():
        out[label] = scored["metrics"][name] if name in scored["metrics"] else f"missing: {scored['missing'][name]}"
    return out
