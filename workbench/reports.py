"""Batch reports in the app: run the eval engine, read a run folder's rows, and turn a row back into audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.audio import fit_length, load_audio
from codec.interface import RoundTrip
from codec.spec import CodecSpec
from workbench.clip_model import Clip, RoundTripInfo

KEY_COLUMNS = [("utt_id", "utterance"), ("lang", "lang"), ("speaker", "speaker"), ("codec", "codec"),
               ("kbps", "kbps"), ("rtf", "RTF")]


@dataclass
class Report:
    """A run folder's rows, flattened for the table (the raw row stays under "row")."""

    title: str
    rows: list[dict]
    columns: list[tuple[str, str]]


def load_report(folder: str | Path) -> Report:
    """Read the per-utterance rows an eval run wrote into `folder` (through eval.report, like the HTML report)."""
    from eval.report import label, load_run, metric_names

    run = load_run(folder)
    rows = []
    for row in run.rows:
        raw = row.to_json()
        flat = {key: raw.get(key) for key, _ in KEY_COLUMNS}
        flat["kbps"] = raw["measured_bitrate"] / 1000 if raw.get("measured_bitrate") is not None else None
        flat.update(raw.get("metrics", {}))
        flat.update({"row": raw, "folder": run.out_dir})
        rows.append(flat)
    columns = KEY_COLUMNS + [(m, label(m, run.manifest)) for m in metric_names(run.rows)]
    codecs = sorted({r.get("codec") or "" for r in rows})
    title = f"{run.out_dir}: {len(rows)} rows, codecs {', '.join(codecs)}"
    if run.summary["skipped"]:
        title += f"; {len(run.summary['skipped'])} utterance(s) not evaluated: their audio cannot be read (skipped.json)"
    return Report(title, rows, columns)


def run_eval(codecs: list[str], folder: str | Path, utterances=None, metrics=None, task=None) -> Path:
    """Evaluate `utterances` (the bundled set by default) through `codecs` into `folder`, keeping decoded audio."""
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest
    from eval.runner import run
    from workbench.workers import Cancelled

    if utterances is None:
        utterances = load_manifest(default_manifest())
    result = run(
        utterances,
        codecs,
        folder,
        metrics=metrics,
        keep_audio=True,
        progress=task.progress.emit if task is not None else None,
        cancel=task.cancel_flag if task is not None else None,
        source="lfsc-workbench",
    )
    if result.cancelled:
        raise Cancelled
    return result.out_dir


def row_audio(row: dict) -> tuple[Clip, np.ndarray | None]:
    """The row's reference as a clip, and its decoded audio at the same rate and length when the run kept it."""
    raw, folder = row["row"], Path(row["folder"])
    audio = load_audio(raw["reference_audio"])
    clip = Clip(raw["utt_id"], audio.samples, audio.sample_rate, raw.get("text", ""), raw.get("lang", ""),
                Path(raw["reference_audio"]))
    if not raw.get("decoded_audio"):
        return clip, None
    decoded = load_audio(folder / raw["decoded_audio"], sample_rate=audio.sample_rate)
    return clip, fit_length(decoded.samples, len(audio.samples))


def row_roundtrip(row: dict, clip: Clip, decoded: np.ndarray) -> RoundTripInfo:
    """How the eval run made a row's decoded audio of `clip` (codec, times, payload, and what a codec under input
    conditions heard: those conditions on the clip, as the run applied them), for the metrics panel."""
    raw = row["row"]
    heard = CodecSpec.parse(raw["codec"]).heard(clip.samples, clip.sample_rate)
    result = RoundTrip(decoded, clip.sample_rate, raw["payload_bytes"], raw["duration"], raw["encode_seconds"],
                       raw["decode_seconds"], heard)
    return RoundTripInfo(raw["codec"], f"eval run {Path(row['folder']).name}", raw["nominal_bitrate"], result)
