"""Per-clip metrics for the panel, computed by the same `eval` functions (and sanity checks) as batch reports."""

from __future__ import annotations

import numpy as np


def fast_metrics(ref: np.ndarray, deg: np.ndarray, sr: int, task=None, original_mos: bool = True, codec: str = ""
                 ) -> dict[str, float | str]:
    """Every fast metric and DistillMOS (decoded, and original unless `original_mos` is false) by label: its value,
    or the reason it is missing; sanity findings come first. `codec` names what decoded it: one with input
    conditions is aligned with the input it heard, as eval does."""
    from codec.conditions import heard_by
    from eval.metrics import FAST_METRICS, METRICS, MetricError, compute
    from eval.sanity import check_pair

    sanity, aligned = check_pair(ref, sr, deg, sr, align_to=heard_by(codec, ref, sr))
    out: dict[str, float | str] = {}
    if sanity.warnings:
        out["sanity"] = "; ".join(sanity.warnings)
    for i, name in enumerate(FAST_METRICS):
        label = METRICS[name].label
        if task is not None:
            task.report(i, len(FAST_METRICS), f"computing {label}")
        if sanity.refuse:
            out[label] = f"missing: {sanity.refuse}"
            continue
        try:
            out[label] = compute(name, ref, aligned, sr)
        except MetricError as exc:
            out[label] = f"missing: {exc}"
    # The no-reference MOS needs no alignment; the original's is the ceiling to read the decoded one against.
    if task is not None:
        task.report(len(FAST_METRICS), len(FAST_METRICS), "computing DistillMOS")
    signals = {"decoded": deg, "original": ref} if original_mos else {"decoded": deg}
    for which, signal in signals.items():
        label = f"{METRICS['distill_mos'].label} ({which})"
        try:
            out[label] = compute("distill_mos", ref, signal, sr)
        except MetricError as exc:
            out[label] = f"missing: {exc}"
    return out


def stimulus_metrics(
    stimuli: dict[tuple[str, str], np.ndarray], clips: dict[str, tuple[np.ndarray, int]], task=None
) -> dict[tuple[str, str], dict[str, float]]:
    """The fast metrics and DistillMOS of each rendered stimulus against its clip, for comparing with ratings.

    Missing values are left out; so is the unprocessed reference, whose scores are perfect by construction.
    """
    from eval.listening import REFERENCE

    keys = [key for key in stimuli if key[1] != REFERENCE]
    out = {}
    for i, (clip, condition) in enumerate(keys):
        if task is not None:
            task.report(i, len(keys), f"measuring {clip} through {condition}")
        ref, sr = clips[clip]
        measured = fast_metrics(ref, stimuli[(clip, condition)], sr, original_mos=False, codec=condition)
        out[(clip, condition)] = {label: v for label, v in measured.items() if isinstance(v, float)}
    return out


def speaker_similarity(ref: np.ndarray, deg: np.ndarray, sr: int, task=None) -> dict[str, float | str]:
    """Speaker similarity of the decoded signal to the original (loads the speaker model on first use)."""
    from eval.metrics import METRICS, MetricError, compute

    if task is not None:
        task.report(0, 0, "loading the speaker model and embedding both signals")
    label = METRICS["speaker_sim"].label
    try:
        return {label: compute("speaker_sim", ref, deg, sr)}
    except (MetricError, ImportError) as exc:
        return {label: f"missing: {exc}"}


def asr_errors(ref: np.ndarray, deg: np.ndarray, sr: int, text: str, lang: str, task=None) -> dict[str, float | str]:
    """CER of the original and the decoded audio against the transcript, and their difference (dCER).

    Without a transcript the original's ASR output is the reference, so CER(decoded) is what the codec changed.
    """
    from eval import asr

    if not lang:
        return {"CER": "missing: the clip's language is unknown (pick it in the bundled list or set it on load)"}
    if task is not None:
        task.report(0, 2, "transcribing the original")
    heard_original = asr.transcribe(ref, sr, lang)
    if task is not None:
        task.report(1, 2, "transcribing the decoded audio")
    heard_decoded = asr.transcribe(deg, sr, lang)
    out: dict[str, float | str] = {"ASR (original)": heard_original, "ASR (decoded)": heard_decoded}
    if text:
        out["CER original"] = asr.cer(text, heard_original, lang)
        out["CER decoded"] = asr.cer(text, heard_decoded, lang)
        out["dCER"] = out["CER decoded"] - out["CER original"]
    else:
        out["CER decoded vs ASR(original)"] = asr.cer(heard_original, heard_decoded, lang)
    return out
