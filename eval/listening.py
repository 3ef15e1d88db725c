"""MUSHRA results (ITU-R BS.1534-3) from rating rows: scores per condition, the post-screening of listeners and the
agreement of objective metrics with the ratings, for one session (the app) or pooled over listeners (`lfsc-eval
mushra`). A row is one rating of one stimulus; keys beyond `ROW_FIELDS` are the stimulus's measured metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codec.errors import UserError
from eval.stats import MIN_PAIRS_FOR_CI, nested_mean_ci, rank_correlation

KIND = "mushra"
REFERENCE = "reference"  # the unprocessed clip, as a condition of any listening test (A/B, ABX, MUSHRA)
LOW_ANCHOR, MID_ANCHOR = "lowpass-3.5k", "lowpass-7k"
ANCHOR_CUTOFFS = {LOW_ANCHOR: 3500, MID_ANCHOR: 7000}  # Hz, the low-pass anchors of BS.1534-3
ROW_FIELDS = ("kind", "seed", "listener", "session", "index", "clip", "stimulus", "condition", "score", "seconds")
SCREENING_SHARE = 0.15  # a listener failing on more than 15% of the items is excluded
RULE = ("ITU-R BS.1534-3: exclude a listener who rates the hidden reference below 90, or the mid-range anchor "
        "above 90, for more than 15% of the items")


def anchors_for(sample_rate: int) -> tuple[str, ...]:
    """The anchors that take something audible away at this rate: a cutoff below 80% of the Nyquist frequency (the
    7 kHz anchor barely touches 16 kHz audio and leaves 8 kHz audio as it is)."""
    return tuple(anchor for anchor, cutoff in ANCHOR_CUTOFFS.items() if cutoff < 0.8 * sample_rate / 2)


def _item_means(rows: list[dict], value: str = "score") -> dict[tuple[str, str, str], float]:
    """The mean of `value` per (session, clip, condition): repeats of an item are one measurement, not several. A
    session is a pooled file (`pool` tags its rows), so two listeners with the same or no name stay apart."""
    grouped: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        grouped.setdefault((row.get("session", ""), row["clip"], row["condition"]), []).append(row[value])
    return {key: float(np.mean(values)) for key, values in grouped.items()}


def scores(rows: list[dict]) -> dict[str, dict]:
    """Mean rating per condition over items (clips per listener; repeats averaged) with a bootstrap 95% CI: over
    one listener's items, or, pooled, over listeners and then their items (`nested_mean_ci`), since one listener's
    ratings share that listener's use of the scale. The reference and anchors first, then the codecs in the order
    they first appear."""
    by_condition: dict[str, dict[str, list[float]]] = {}
    for (session, _, condition), value in _item_means(rows).items():
        by_condition.setdefault(condition, {}).setdefault(session, []).append(value)
    fixed = [REFERENCE, LOW_ANCHOR, MID_ANCHOR]
    order = sorted(by_condition, key=lambda c: fixed.index(c) if c in fixed else len(fixed))
    return {condition: nested_mean_ci(list(by_condition[condition].values())).to_dict() for condition in order}


def post_screening(rows: list[dict]) -> dict:
    """One listener's post-screening over items (clips, repeats averaged): the share with the hidden reference
    below 90 and, where the test has the 7 kHz mid-range anchor, with it above 90 (None without it)."""
    means = _item_means(rows)
    reference = [value < 90 for (_, _, condition), value in means.items() if condition == REFERENCE]
    anchor = [value > 90 for (_, _, condition), value in means.items() if condition == MID_ANCHOR]
    reference_low = float(np.mean(reference)) if reference else 0.0
    anchor_high = float(np.mean(anchor)) if anchor else None
    excluded = reference_low > SCREENING_SHARE or (anchor_high is not None and anchor_high > SCREENING_SHARE)
    return {"items": len(reference), "hidden_reference_below_90": reference_low, "mid_anchor_above_90": anchor_high,
            "excluded": excluded, "rule": RULE}


def metric_labels(rows: list[dict]) -> list[str]:
    """The measured metrics the rows carry, in the order they first appear."""
    return list(dict.fromkeys(key for row in rows for key, value in row.items()
                              if key not in ROW_FIELDS and value is not None))


def agreement(rows: list[dict], leave_out: tuple[str, ...] = (REFERENCE,)) -> dict[str, dict]:
    """Spearman's rho (bootstrap 95% CI) between each metric and the mean rating per stimulus.

    A stimulus is a (clip, condition) pair, its ratings averaged over each listener's repeats and then over
    listeners. The hidden reference is always left out: its metrics are perfect by construction and would inflate
    every correlation. Leaving out the anchors too leaves the codecs' stimuli (with one codec, that compares clips).
    """
    kept = [row for row in rows if row["condition"] not in (REFERENCE, *leave_out)]
    out = {}
    for label in metric_labels(kept):
        measured = [row for row in kept if row.get(label) is not None and np.isfinite(row[label])]
        ratings: dict[tuple[str, str], list[float]] = {}
        values: dict[tuple[str, str], list[float]] = {}
        for which, means in ((ratings, _item_means(measured)), (values, _item_means(measured, label))):
            for (_, clip, condition), mean in means.items():
                which.setdefault((clip, condition), []).append(mean)
        keys = list(ratings)
        out[label] = rank_correlation([np.mean(ratings[k]) for k in keys], [np.mean(values[k]) for k in keys]).to_dict()
    return out


def summarize(rows: list[dict]) -> dict:
    """Scores per condition, and metric agreement over the codecs alone and with the anchors."""
    return {"scores": scores(rows), "agreement_codecs": agreement(rows, leave_out=tuple(ANCHOR_CUTOFFS)),
            "agreement": agreement(rows)}


def load_sessions(paths: list[str | Path]) -> list[dict]:
    """Saved MUSHRA results (the app's JSON files), each as {"path", "summary", "trials"}."""
    sessions = []
    for path in map(Path, paths):
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            kind = saved["summary"]["kind"]
            trials = saved["trials"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: not a saved listening-test result ({type(exc).__name__}: {exc}); pass the "
                            ".json files the app writes to blind-tests/") from None
        if kind != KIND:
            raise UserError(f"{path}: a {kind!r} test, not MUSHRA; pass only MUSHRA results")
        if saved["summary"].get("finished") is False:
            raise UserError(f"{path}: an unfinished test ({saved['summary'].get('answered')} of "
                            f"{saved['summary'].get('trials')} trials); pass only finished results")
        if any(s["path"] == str(path.resolve()) for s in sessions):
            raise UserError(f"{path}: given twice; each file is one listener's session")
        conditions = sorted({row["condition"] for row in trials})
        if sessions and conditions != sessions[0]["conditions"]:
            raise UserError(f"{path}: its conditions ({', '.join(conditions)}) differ from those of "
                            f"{sessions[0]['path']} ({', '.join(sessions[0]['conditions'])}); pool sessions of one "
                            "test design")
        sessions.append({"path": str(path.resolve()), "summary": saved["summary"], "trials": trials,
                         "conditions": conditions})
    if not sessions:
        raise UserError("no results given: pass one or more MUSHRA .json files")
    return sessions


def pool(sessions: list[dict], keep_excluded: bool = False) -> dict:
    """Pool listeners' sessions: post-screen each, leave out the excluded (unless kept), summarize the rest."""
    listeners = []
    rows = []
    for session in sessions:
        screening = post_screening(session["trials"])
        listeners.append({"path": session["path"], "listener": session["summary"].get("listener", ""),
                          "trials": session["summary"].get("trials"), **screening})
        if keep_excluded or not screening["excluded"]:
            rows += [{**row, "session": session["path"]} for row in session["trials"]]
    if not rows:
        raise UserError("every listener is excluded by post-screening; pass --keep-excluded to pool them anyway")
    kept = sum(keep_excluded or not listener["excluded"] for listener in listeners)
    return {"kind": KIND, "listeners": listeners, "pooled_listeners": kept, "ratings": len(rows), **summarize(rows)}


def _interval(estimate: dict, digits: int) -> str:
    if np.isnan(estimate["value"]):
        return "none (too few stimuli, or one side constant)"
    if np.isnan(estimate["low"]):
        return f"{estimate['value']:.{digits}f}"
    return f"{estimate['value']:.{digits}f} [{estimate['low']:.{digits}f}, {estimate['high']:.{digits}f}]"


def describe(summary: dict) -> str:
    """Scores per condition (best first) and metric agreement as text."""
    lines = ["Mean score [95% CI] per condition (n = items):"]
    width = max(len(c) for c in summary["scores"])
    for condition, estimate in sorted(summary["scores"].items(), key=lambda kv: -kv[1]["value"]):
        lines.append(f"  {condition:<{width}}  {_interval(estimate, 1)}  (n = {estimate['n']})")
    for key, which in (("agreement_codecs", "the codecs' stimuli"), ("agreement", "the codecs' and anchors' stimuli")):
        if summary[key]:
            lines += ["", f"Agreement of objective metrics with the ratings over {which} (Spearman's rho, with a "
                          f"95% CI from {MIN_PAIRS_FOR_CI} stimuli up; a lower-is-better metric agrees with a "
                          "negative rho):"]
            lines += [f"  {label}: {_interval(estimate, 2)} (n = {estimate['n']})" for label, estimate in summary[key].items()]
    return "\n".join(lines)


def describe_screening(screening: dict, who: str = "this listener") -> str:
    """One line on a listener's post-screening."""
    verdict = "is EXCLUDED by" if screening["excluded"] else "passes"
    anchor = ("no 7 kHz anchor at this bandwidth" if screening["mid_anchor_above_90"] is None
              else f"7 kHz anchor above 90 in {screening['mid_anchor_above_90']:.0%}")
    line = (f"Post-screening: {who} {verdict} the ITU-R BS.1534-3 rule (hidden reference below 90 in "
            f"{screening['hidden_reference_below_90']:.0%} of {screening['items']} items, {anchor}; the limit is 15%).")
    if screening["items"] < 7:
        line += " With fewer than 7 items, a single slip is more than 15%."
    return line
