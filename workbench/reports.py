"""Batch reports in the app: run the eval engine, read a run folder's rows, and turn a row back into audio."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.audio import load_audio
from codec.errors import UserError
from workbench.clip_model import Clip

KEY_COLUMNS = [("utt_id", "utterance"), ("lang", "lang"), ("speaker", "speaker"), ("codec", "codec"),
               ("kbps", "kbps"), ("rtf", "RTF")]
ASR_LABELS = {
    "cer": "CER", "cer_orig": "CER orig", "dcer": "dCER", "wer": "WER", "wer_orig": "WER orig", "dwer": "dWER"
}


@dataclass
class Report:
    """A run folder's rows, flattened for the table (the raw row stays under "row")."""

    title: str
    rows: list[dict]
    columns: list[tuple[str, str]]


def load_report(folder: str | Path) -> Report:
    """Read the per-utterance rows an eval run wrote into `folder`."""
    from eval.metrics import METRICS
    from eval.runner import ROWS

    folder = Path(folder)
    path = folder / ROWS
    if not path.is_file():
        raise UserError(f"{folder}: no {ROWS} here: pick a folder written by 'lfsc-eval run' or start a new run")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed run; the runner rewrites it on resume
        flat = {key: raw.get(key) for key, _ in KEY_COLUMNS if key in raw}
        flat["kbps"] = raw["measured_bitrate"] / 1000 if raw.get("measured_bitrate") is not None else None
        flat.update(raw.get("metrics", {}))
        flat.update({"row": raw, "folder": folder})
        rows.append(flat)
    present = {key for row in rows for key in row}
    metric_columns = [(m, spec.label) for m, spec in METRICS.items() if m in present]
    metric_columns += [(k, label) for k, label in ASR_LABELS.items() if k in present]
    codecs = sorted({r.get("codec", "") for r in rows})
    title = f"{folder}: {len(rows)} rows, codecs {', '.join(codecs)}"
    return Report(title, rows, KEY_COLUMNS + metric_columns)


def run_eval(codecs: list[str], folder: str | Path, utterances=None, metrics=None, task=None) -> Path:
    """Evaluate `utterances` (the bundled set by default) through `codecs` into `folder`, keeping decoded audio."""
    from eval.manifest import default_manifest, load_manifest
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
    from codec.registry import fit_length

    decoded = load_audio(folder / raw["decoded_audio"], sample_rate=audio.sample_rate)
    return clip, fit_length(decoded.samples, len(audio.samples))
