"""Reports from a run folder: per-utterance CSV, summary JSON, Markdown, self-contained HTML with plots; run comparison.

Means carry percentile-bootstrap 95% CIs over utterances (eval.stats). Missing values are excluded from means and
counted with their reasons. CER/WER are given both corpus-level (sum of edits / sum of reference lengths) and as
the mean of per-utterance rates; "_orig" is ASR on the original audio (the floor) and "d" the codec's delta.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codec.errors import UserError
from codec.files import write_text_atomic
from codec.spec import CodecSpec
from eval import run_folder, speaker_chance, stats, textnorm
from eval.cache import Cache
from eval.metrics import METRICS, WAVEFORM_METRICS
from eval.row import Row
from eval.run_folder import ROWS, read_skipped
from eval.sanity import MIN_CORRELATION

ASR_LABELS = {
    "cer": ("CER", False), "cer_orig": ("ASR floor CER", False), "dcer": ("dCER", False),
    "wer": ("WER", False), "wer_orig": ("ASR floor WER", False), "dwer": ("dWER", False),
}
AGGREGATES = {"mean": "mean of utterances", "corpus": "corpus"}  # how an error rate is pooled over utterances
HEADLINE = ("pesq_wb", "stoi", "speaker_sim", "cer")  # the metrics plotted
# The headline tables, as a results section groups them: (title, [(metric, aggregate)]). A metric no table names
# goes to a last one, so none is lost.
TABLES = (
    ("Signal quality", [(m, "mean") for m in ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "mel_distance",
                                              "stft_distance", "distill_mos")]),
    ("Intelligibility: ASR error rates", [("cer", "corpus"), ("cer", "mean"), ("cer_orig", "corpus"), ("dcer", "corpus"),
                                          ("dcer", "mean"), ("wer", "corpus"), ("wer", "mean"), ("dwer", "corpus")]),
    ("Voice and prosody", [(m, "mean") for m in ("speaker_sim", "f0_rmse", "f0_corr", "vuv_error")]),
)


def label(metric: str, manifest: dict | None = None, aggregate: str = "") -> str:
    """The one display name of a metric: the speaker metric is named after its model when the run manifest is
    given; `aggregate` ("mean" or "corpus") adds how an error rate was pooled over utterances."""
    if metric == "speaker_sim" and manifest and "speaker_model" in manifest:
        name = manifest["speaker_model"]["name"]
    else:
        name = METRICS[metric].label if metric in METRICS else ASR_LABELS.get(metric, (metric, True))[0]
    return f"{name} ({AGGREGATES[aggregate]})" if aggregate and metric in ASR_LABELS else name


def higher_is_better(metric: str) -> bool:
    """Direction of a metric."""
    return METRICS[metric].higher_is_better if metric in METRICS else ASR_LABELS.get(metric, ("", True))[1]


@dataclass
class Run:
    """A run folder read back: its rows, its run manifest and (computed) summary."""

    out_dir: Path
    rows: list[Row]
    manifest: dict
    summary: dict


def load_run(out_dir: str | Path) -> Run:
    """Read a run folder (rows, manifest, the utterances that could not be read) and summarise it. Rows are
    taken by utterance and codec (the file holds them in the order the pool finished them, and bootstrap
    intervals must not depend on that); a pair's duplicates and lines that are not whole rows are left out and
    counted under "rows_left_out"."""
    out = Path(out_dir)
    if not run_folder.has_rows(out):
        raise UserError(f"{out}: not a run folder (no {ROWS}); run `lfsc-eval run ... --out {out}` first")
    read = run_folder.read_rows(out)
    rows = sorted(read.rows, key=lambda row: row.key)
    manifest = run_folder.read_manifest(out) or {}
    order = [c["name"] for c in manifest.get("codecs", [])]
    left_out = {"duplicates": read.duplicates, "unreadable": read.unreadable}
    summary = {**summarize(rows, order), "skipped": read_skipped(out), "rows_left_out": left_out,
               "waveform_warnings": waveform_warnings(rows, manifest)}
    return Run(out, rows, manifest, summary)


def waveform_warnings(rows: list[Row], manifest: dict) -> dict[str, str]:
    """Per codec, why its waveform metrics (SI-SDR) say nothing about its quality; codecs where they do are absent."""
    parametric = {c["name"] for c in manifest.get("codecs", []) if c.get("waveform_matching") is False}
    out = {}
    for codec in sorted({r.codec for r in rows}):
        scored = [r for r in rows if r.codec == codec and any(m in r.metrics for m in WAVEFORM_METRICS)]
        # the sanity step falls back on the energy envelope when the waveforms do not correlate
        loose = sum(r.sanity["delay_method"] == "envelope" for r in scored)
        reasons = ["a parametric codec: it sends no phase, so its waveform cannot match"] if codec in parametric else []
        if loose:
            reasons.append(f"{loose} of {len(scored)} pairs aligned by their energy envelope only (waveform "
                           f"correlation below {MIN_CORRELATION})")
        if reasons:
            out[codec] = "; ".join(reasons)
    return out


def _number_limits(rows: list[Row]) -> dict[str, dict]:
    """Languages of the run whose numbers the normaliser cannot read reliably, with how many references hold digits."""
    references = {r.utt_id: r for r in rows}.values()
    out = {}
    for lang in sorted({r.lang for r in references if r.lang}):
        limit = textnorm.number_limit(lang)
        if limit:
            texts = [r.text for r in references if r.lang == lang]
            out[lang] = {"limit": limit, "references": len(texts),
                         "references_with_digits": sum(any(ch.isdigit() for ch in t) for t in texts)}
    return out


def metric_names(rows: list[Row]) -> list[str]:
    """Metrics present in the rows, in a fixed display order."""
    seen = {m for r in rows for m in list(r.metrics) + list(r.missing)}
    order = list(METRICS) + list(ASR_LABELS)
    return [m for m in order if m in seen]


def _group(rows: list[Row], metrics: list[str]) -> dict:
    out: dict = {"n": len(rows), "metrics": {}, "corpus": {}}
    for key in ("measured_bitrate", "rtf"):
        values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
        out[key] = float(np.mean(values)) if values else None
    for m in metrics:
        values = [r.metrics[m] for r in rows if m in r.metrics]
        reasons = Counter(r.missing[m] for r in rows if m in r.missing)
        out["metrics"][m] = {**stats.mean_ci(values).to_dict(), "missing": sum(reasons.values()), "reasons": dict(reasons)}
    for kind in ("cer", "wer"):
        for name in (kind, f"{kind}_orig"):
            counted = [r.asr_counts[name] for r in rows if name in (r.asr_counts or {})]
            if counted:
                errors = [c["substitutions"] + c["deletions"] + c["insertions"] for c in counted]
                lengths = [c["hits"] + c["substitutions"] + c["deletions"] for c in counted]
                out["corpus"][name] = stats.ratio_ci(errors, lengths).to_dict()
        if kind in out["corpus"] and f"{kind}_orig" in out["corpus"]:
            out["corpus"][f"d{kind}"] = out["corpus"][kind]["value"] - out["corpus"][f"{kind}_orig"]["value"]
    return out


def summarize(rows: list[Row], codec_order: list[str] = ()) -> dict:
    """Per codec and per (codec, language): means with CIs, missing counts and corpus-level error rates. Codecs come
    in `codec_order` (the run's --codec order), then any others in name order: never in the order rows finished."""
    metrics = metric_names(rows)
    present = {r.codec for r in rows}
    codecs = [c for c in codec_order if c in present] + sorted(present - set(codec_order))
    summary: dict = {"metrics": metrics, "codecs": {}, "by_language": {}}
    for codec in codecs:
        mine = [r for r in rows if r.codec == codec]
        summary["codecs"][codec] = {**_group(mine, metrics), "nominal_bitrate": mine[0].nominal_bitrate}
        langs = sorted({r.lang for r in mine})
        summary["by_language"][codec] = {lang: _group([r for r in mine if r.lang == lang], metrics) for lang in langs}
    summary["robustness"] = _gaps_to_floors(rows, metrics, codecs)
    if "cer" in metrics or "wer" in metrics:
        summary["number_limits"] = _number_limits(rows)
    summary["sanity"] = {
        "delay_compensated": sum(bool(r.sanity["delay_compensated"]) for r in rows),
        "refused": sum(bool(r.sanity["refuse"]) for r in rows),
        "resampled": sum(bool(r.sanity["resampled"]) for r in rows),
        "with_warnings": sum(bool(r.sanity["warnings"]) for r in rows),
    }
    return summary


def _gap_metrics(metrics: list[str]) -> list[str]:
    # The ASR floor is the clean original's for every codec, so dCER's gap would repeat CER's.
    return [m for m in metrics if m not in ("cer_orig", "wer_orig", "dcer", "dwer")]


def _gaps_to_floors(rows: list[Row], metrics: list[str], codecs: list[str]) -> dict:
    """For each codec under input conditions whose floor (identity under the same conditions) is in the run: codec
    minus floor per metric, paired over utterances, with a bootstrap 95% CI and p: what the codec adds to the loss
    the conditions cause (codec.conditions)."""
    by_codec: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_codec.setdefault(row.codec, {})[row.utt_id] = row
    out = {}
    for codec in codecs:
        spec = CodecSpec.parse(codec)
        floor = str(spec.floor)
        if not spec.conditioned or spec.is_floor or floor not in by_codec:
            continue
        mine, theirs = by_codec[codec], by_codec[floor]
        gaps = {}
        for metric in _gap_metrics(metrics):
            ids = [u for u in mine if u in theirs and metric in mine[u].metrics and metric in theirs[u].metrics]
            estimate, p = stats.paired_difference([theirs[u].metrics[metric] for u in ids],
                                                  [mine[u].metrics[metric] for u in ids])
            gaps[metric] = {**estimate.to_dict(), "p": p}
        out[codec] = {"floor": floor, "metrics": gaps}
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _digits(value: float) -> int:
    """Decimals for a table value: three below 10, fewer for larger values (cents, dB), whose last digits are noise."""
    return 3 if not np.isfinite(value) or abs(value) < 10 else 2 if abs(value) < 100 else 1


def _ci(e: dict) -> str:
    if e["n"] == 0:
        return "–"
    if not np.isfinite(e["low"]):
        return _fmt(e["value"])
    return f"{_fmt(e['value'])} [{_fmt(e['low'])}, {_fmt(e['high'])}]"


CSV_FIXED = ("utt_id", "lang", "speaker", "codec", "duration", "nominal_bitrate", "measured_bitrate", "payload_bytes", "rtf")


def _blank(value: object) -> object:
    return "" if value is None else value


def write_csv(rows: list[Row], path: Path) -> None:
    """One line per (utterance, codec): metrics, missing reasons, sanity findings, transcripts, audio path."""
    metrics = metric_names(rows)
    header = [*CSV_FIXED, *metrics, "missing", "delay_samples", "delay_method", "delay_confidence", "refused",
              "sanity_warnings", "text", "hyp_orig", "hyp", "decoded_audio", "cached"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for r in rows:
        s = r.sanity
        writer.writerow([
            *(_blank(getattr(r, k)) for k in CSV_FIXED), *(r.metrics.get(m, "") for m in metrics),
            "; ".join(f"{k}: {v}" for k, v in r.missing.items()), s["delay_samples"], s["delay_method"],
            s["delay_confidence"], s["refuse"], "; ".join(s["warnings"]), r.text, r.hyp_orig or "",
            r.hyp or "", r.decoded_audio or "", r.cached,
        ])
    write_text_atomic(path, buffer.getvalue())


@dataclass
class Cell:
    """One table cell: the value as shown, what qualifies it (interval, missing count) and its sort key."""

    text: str
    detail: str = ""
    sort: float | None = None


@dataclass
class Table:
    """A table both renderers draw: Markdown in summary.md, sortable HTML in report.html."""

    title: str
    header: list[str]
    rows: list[list[Cell]]
    reference_rows: list[list[Cell]] = field(default_factory=list)  # levels to read the rows against; not sorted
    notes: list[str] = field(default_factory=list)


Block = tuple[str, object]  # ("h1" | "h2" | "p", text), ("ul", [text]) or ("table", Table)


def _estimate_cell(e: dict | float | None, flagged: bool = False) -> Cell:
    """A mean or corpus rate with its interval and missing count; a bare float is a difference with no interval."""
    if e is None:
        return Cell("–")
    if isinstance(e, float):
        return Cell(_fmt(e, _digits(e)), sort=e)
    mark = " †" if flagged else ""
    digits = _digits(e["value"])
    detail = f"[{_fmt(e['low'], digits)}, {_fmt(e['high'], digits)}]" if e["n"] and np.isfinite(e["low"]) else ""
    if e.get("missing"):
        detail = f"{detail} ({e['missing']} missing)".strip()
    return Cell(_fmt(e["value"], digits) + mark, detail, e["value"] if e["n"] else None)


def _headline_columns(run: Run) -> list[tuple[str, list[tuple[str, str]]]]:
    present = run.summary["metrics"]
    tables = [(title, [(x, how) for x, how in columns if x in present]) for title, columns in TABLES]
    named = {x for _, columns in TABLES for x, _ in columns}
    rest = [(x, "mean") for x in present if x not in named and x not in ASR_LABELS]
    return [(title, columns) for title, columns in tables + [("Other metrics", rest)] if columns]


def _headline(run: Run) -> list[Table]:
    s, m = run.summary, run.manifest
    warnings = s.get("waveform_warnings", {})
    chance = s.get("speaker_chance")
    out = []
    for i, (title, columns) in enumerate(_headline_columns(run)):
        header = ["codec", *(["n", "kbit/s measured (nominal)"] if i == 0 else []), *(label(x, m, how) for x, how in columns)]
        table = Table(title, header, [])
        for codec, g in s["codecs"].items():
            first = []
            if i == 0:
                kbps = g["measured_bitrate"] / 1000 if g["measured_bitrate"] is not None else None
                first = [Cell(str(g["n"]), sort=g["n"]), Cell(_fmt(kbps, 2), f"({g['nominal_bitrate'] / 1000:.3g})", kbps)]
            cells = [_estimate_cell(g["corpus"].get(x) if how == "corpus" else g["metrics"][x],
                                    codec in warnings and x in WAVEFORM_METRICS) for x, how in columns]
            table.rows.append([Cell(codec), *first, *cells])
        names = [x for x, _ in columns]
        flagged = [x for x in names if x in WAVEFORM_METRICS]
        if flagged and any(codec in warnings for codec in s["codecs"]):
            verb = "compares" if len(flagged) == 1 else "compare"
            table.notes.append(f"† {' and '.join(label(x, m) for x in flagged)} {verb} waveforms sample by sample, so "
                               "it says nothing about quality where the waveform cannot match: "
                               + "; ".join(f"{codec}: {why}" for codec, why in warnings.items() if codec in s["codecs"]) + ".")
        if "speaker_sim" in names and chance:
            table.reference_rows = _chance_rows(chance, len(header), header.index(label("speaker_sim", m)))
        out.append(table)
    return out


def _chance_rows(chance: dict, width: int, column: int) -> list[list[Cell]]:
    """The speaker model's levels on the run's references, as rows under the codecs' similarity."""
    levels = []
    for key, what, pct, pct_name in (("different", "different speakers (chance)", "p95", "95th"),
                                     ("same", "same speaker, another utterance", "p5", "5th")):
        spread = chance[key]
        if spread["pairs"]:
            levels.append((Cell(what, f"({spread['pairs']} pairs)"),
                           Cell(_fmt(spread["mean"]), f"({pct_name} percentile {_fmt(spread[pct])})", spread["mean"])))
    if chance["eer_threshold"] is not None:
        levels.append((Cell("equal-error threshold"), Cell(_fmt(chance["eer_threshold"]), f"(EER {chance['eer']:.1%})")))
    rows = []
    for name, value in levels:
        row = [Cell("") for _ in range(width)]
        row[0], row[column] = name, value
        rows.append(row)
    return rows


def _chance_paragraphs(chance: dict) -> list[str]:
    name, different, same = chance["model"], chance["different"], chance["same"]
    levels = []
    if different["pairs"]:
        levels.append(f"two utterances of different speakers of this set {_fmt(different['mean'])} on average (95th "
                      f"percentile {_fmt(different['p95'])}; {different['pairs']} pairs, {chance['speakers']} speakers)")
    if same["pairs"]:
        levels.append(f"two utterances of one speaker {_fmt(same['mean'])} (5th percentile {_fmt(same['p5'])}; "
                      f"{same['pairs']} pairs)")
    out = [f"{name} scores " + ", and ".join(levels) + "." if levels else f"{name}: no pairs of references to score."]
    if chance["eer_threshold"] is not None:
        out[0] += (f" The equal-error threshold is {_fmt(chance['eer_threshold'])} (EER {chance['eer']:.1%}): above "
                   "it a pair is more likely one speaker than two.")
    out.append("A codec's similarity compares each utterance with its own decoded version (identical audio: 1). Read "
               "it against these levels, not against the range 0 to 1: below the same-speaker level, the codec changes "
               "the voice more than another utterance of the same speaker does; near the different-speaker level, the "
               "model hears someone else.")
    if chance["note"]:
        out.append(f"Note: {chance['note']}.")
    if chance["failed"]:
        out.append(f"{len(chance['failed'])} reference(s) gave no embedding and are left out: "
                   + "; ".join(f"{Path(path).name}: {why}" for path, why in chance["failed"].items()))
    return out


def _setup(run: Run) -> list[str]:
    s, m = run.summary, run.manifest
    references = {r.utt_id: r for r in run.rows}.values()
    langs = Counter(r.lang for r in references)
    items = [f"input: {m.get('input', '')}",
             f"utterances: {len(references)} ({', '.join(f'{lang} {n}' for lang, n in sorted(langs.items()))}), "
             f"{len({r.speaker for r in references if r.speaker})} speaker label(s)",
             f"codecs: {', '.join(s['codecs'])}"]
    if "asr" in m:
        items.append(f"ASR: {m['asr']['model_id']}")
    if "speaker_model" in m:
        items.append(f"speaker similarity: {m['speaker_model']['name']}")
    items += [f"text normaliser: {m.get('normaliser', '')}", f"resampler: {m.get('resampler', '')}",
              f"device: {m.get('device', '')}",
              "mel/STFT distance: NeMo's multi-resolution mel / STFT reconstruction losses at 22.05 kHz "
              "(lfsc_spec.md §5.1), most likely the LFSC model card's 'Mel distance' and 'STFT distance'"]
    left_out = s.get("rows_left_out", {})
    if left_out.get("duplicates"):
        items.append(f"{left_out['duplicates']} duplicated row(s) in {ROWS} left out: the first row of each "
                     "utterance and codec is counted, once")
    if left_out.get("unreadable"):
        items.append(f"{left_out['unreadable']} line(s) of {ROWS} that are not whole rows left out (cut short "
                     "by a kill, or damaged)")
    if s["skipped"]:
        items.append(f"not evaluated: {len(s['skipped'])} utterance(s) whose audio could not be read (listed at "
                     "the end; no number here includes them)")
    return items


def _summary_blocks(run: Run) -> list[Block]:
    """Title, set-up, the headline tables and the speaker chance level: what a results section leads with."""
    s, m = run.summary, run.manifest
    blocks: list[Block] = [("h1", f"Evaluation report: {run.out_dir.name}"), ("ul", _setup(run)), ("h2", "Results")]
    blocks.append(("p", "Means over utterances with bootstrap 95% CIs in brackets, and (n missing) where some values "
                        "could not be computed. Error rates are pooled two ways: corpus = all edits / all reference "
                        "characters (or words), so long utterances weigh more; mean of "
                        "utterances = the mean of each utterance's rate. The ASR floor is the error rate on the "
                        "original audio, and d the codec's rate minus the floor."))
    blocks += [("table", table) for table in _headline(run)]
    chance = s.get("speaker_chance")
    if chance:
        blocks.append(("h2", f"{label('speaker_sim', m)} against chance on this set"))
        blocks += [("p", text) for text in _chance_paragraphs(chance)]
    if s.get("robustness"):
        shown = _gap_metrics(s["metrics"])
        table = Table("Under input conditions: the gap to each condition's floor",
                      ["codec", "floor", *(label(x, m, "mean") for x in shown)], [])
        for codec, gap in s["robustness"].items():
            table.rows.append([Cell(codec), Cell(gap["floor"]), *(_estimate_cell(gap["metrics"][x]) for x in shown)])
        table.notes.append("Codec minus identity under the same conditions (the conditions alone), paired over "
                           "utterances, with bootstrap 95% CIs: what the codec adds to the loss the conditions cause. "
                           "Metrics compare with the clean input; the sign follows the metric (for PESQ or STOI, below "
                           "zero is a loss).")
        blocks.append(("table", table))
    return blocks


def _detail_blocks(run: Run) -> list[Block]:
    """Per-language tables, missing values, sanity, normalisation and skipped utterances."""
    s, m = run.summary, run.manifest
    blocks: list[Block] = [("h2", "Per language")]
    for kind in ("cer", "wer"):
        if kind not in s["metrics"]:
            continue
        floor, delta = f"{kind}_orig", f"d{kind}"
        table = Table(f"{label(kind)} per language", ["codec", "lang", "n", label(kind, m, "corpus"), label(kind, m, "mean"),
                                                      label(floor, m, "corpus"), label(delta, m, "corpus")], [])
        for codec, langs in s["by_language"].items():
            for lang, g in langs.items():
                c = g["corpus"]
                table.rows.append([Cell(codec), Cell(lang), Cell(str(g["n"]), sort=g["n"]), _estimate_cell(c.get(kind)),
                                   _estimate_cell(g["metrics"][kind]), _estimate_cell(c.get(floor)),
                                   _estimate_cell(c.get(delta))])
        blocks.append(("table", table))
    langs = _langs(s)
    warnings = s.get("waveform_warnings", {})
    for x in [x for x in s["metrics"] if x not in ("cer_orig", "wer_orig")]:
        table = Table(label(x, m, "mean"), ["codec", *langs], [])
        for codec, by_lang in s["by_language"].items():
            flagged = codec in warnings and x in WAVEFORM_METRICS
            table.rows.append([Cell(codec), *(_estimate_cell(by_lang[lang]["metrics"][x], flagged) if lang in by_lang
                                              else Cell("–") for lang in langs)])
        blocks.append(("table", table))
    missing = [(codec, x, g["metrics"][x]) for codec, g in s["codecs"].items() for x in s["metrics"] if g["metrics"][x]["missing"]]
    if missing:
        table = Table("Missing values (excluded from means)", ["codec", "metric", "count", "reasons"], [])
        for codec, x, e in missing:
            table.rows.append([Cell(codec), Cell(label(x, m)), Cell(str(e["missing"]), sort=e["missing"]),
                               Cell("; ".join(f"{k} ({v})" for k, v in e["reasons"].items()))])
        blocks.append(("table", table))
    san = s["sanity"]
    blocks += [("h2", "Checks"),
               ("p", f"Sanity: {san['delay_compensated']} delays compensated, {san['refused']} pairs refused for "
                     f"intrusive metrics, {san['resampled']} decoded files resampled, {san['with_warnings']} pairs with "
                     "warnings.")]
    if "number_limits" in s:
        text = f"Text normalisation ({m.get('normaliser', '')}): digits and spelled numbers are compared in one form"
        limits = s["number_limits"]
        if limits:
            text += " except in " + "; ".join(
                f"{lang}, where {v['limit']} ({v['references_with_digits']} of {v['references']} references hold digits)"
                for lang, v in limits.items())
        blocks.append(("p", text + "."))
    if s["skipped"]:
        table = Table("Utterances skipped (their audio could not be read in the last run, which tries them again)",
                      ["utterance", "audio", "reason"], [])
        for utt_id, entry in s["skipped"].items():
            table.rows.append([Cell(utt_id), Cell(entry["audio"]), Cell(entry["reason"])])
        blocks.append(("table", table))
    return blocks


def _markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for kind, content in blocks:
        if kind == "h1":
            lines += [f"# {content}", ""]
        elif kind == "h2":
            lines += [f"## {content}", ""]
        elif kind == "p":
            lines += [content, ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in content] + [""]
        else:
            lines += _markdown_table(content) + [""]
    return "\n".join(lines)


def _markdown_table(table: Table) -> list[str]:
    def cell(c: Cell) -> str:
        return f"{c.text} {c.detail}".strip().replace("|", "/")

    lines = [f"### {table.title}", "", "| " + " | ".join(table.header) + " |", "|---" * len(table.header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows + table.reference_rows]
    return lines + (["", *table.notes] if table.notes else [])


def _langs(summary: dict) -> list[str]:
    return sorted({lang for langs in summary["by_language"].values() for lang in langs})


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _title(text: str) -> str:
    return textwrap.fill(text, 34)  # subplot titles wider than their axes would run into the next one


def _grid(count: int, columns: int, width: float, height: float):
    # A bare Figure, not pyplot: reports are written on worker threads (the app's), and pyplot's global figure
    # registry and backend switching are not thread-safe.
    from matplotlib.figure import Figure

    cols = min(columns, count)
    rows = (count + cols - 1) // cols
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    return fig, list(axes.flat)[:count]


def _chance_lines(ax, metric: str, summary: dict) -> None:
    """The speaker model's different- and same-speaker means across a speaker-similarity plot."""
    chance = summary.get("speaker_chance")
    if metric != "speaker_sim" or not chance:
        return
    for key, what, style in (("different", "different speakers", "--"), ("same", "same speaker", ":")):
        if chance[key]["pairs"]:
            ax.axhline(chance[key]["mean"], color="0.4", linestyle=style, linewidth=1,
                       label=f"{what}, other utterance (mean)" if key == "same" else f"{what} (mean: chance)")


def _legend(fig, axes) -> None:
    """One legend for the figure, below it, with every labelled line or bar once (inside, it would cover data)."""
    entries: dict = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=min(4, len(entries)),
                   fontsize=8)


def _plots(run: Run) -> list[tuple[str, str]]:
    s = run.summary
    dist = [x for x in s["metrics"] if x not in ("cer_orig", "wer_orig")]
    # A run without the headline metrics (say SI-SDR and DistillMOS only) plots what it measured instead.
    shown = [x for x in HEADLINE if x in s["metrics"]] or [x for x in dist if x in METRICS][:len(HEADLINE)]
    coded = [c for c in s["codecs"] if s["codecs"][c]["nominal_bitrate"] > 0 and s["codecs"][c]["measured_bitrate"]]
    out: list[tuple[str, str]] = []
    if shown:
        out.append(("Per language, mean with bootstrap 95% CI", _per_language_plot(run, shown)))
    if dist:
        out.append(("Distributions over utterances", _distribution_plot(run, dist)))
    if coded and shown:
        out.append(("Bitrate vs quality (codecs with a bitstream; identity and anchors left out)",
                    _bitrate_plot(run, shown, coded)))
    return out


def _per_language_plot(run: Run, shown: list[str]) -> str:
    """Bars of each codec's mean per language, with their intervals (a PNG, base64)."""
    s, m = run.summary, run.manifest
    codecs, langs = list(s["codecs"]), _langs(s)
    fig, axes = _grid(len(shown), 2, 5.0, 3.2)
    width = 0.8 / max(1, len(codecs))
    for ax, metric in zip(axes, shown):
        for i, codec in enumerate(codecs):
            es = [s["by_language"][codec].get(lang, {}).get("metrics", {}).get(metric) for lang in langs]
            means = [e["value"] if e and e["n"] else np.nan for e in es]
            err = [[max(0.0, e["value"] - e["low"]) if e and np.isfinite(e["low"]) else 0 for e in es],
                   [max(0.0, e["high"] - e["value"]) if e and np.isfinite(e["high"]) else 0 for e in es]]
            ax.bar(np.arange(len(langs)) + i * width, means, width, yerr=err, capsize=2, label=codec)
        ax.set_xticks(np.arange(len(langs)) + width * (len(codecs) - 1) / 2, langs)
        ax.set_title(_title(label(metric, m, "mean") + ("" if higher_is_better(metric) else " (lower is better)")), fontsize=10)
        _chance_lines(ax, metric, s)
    _legend(fig, axes)
    return _png(fig)


def _distribution_plot(run: Run, dist: list[str]) -> str:
    """Box plots of each metric's values over utterances, per codec (a PNG, base64)."""
    s, m = run.summary, run.manifest
    codecs = list(s["codecs"])
    warnings = s.get("waveform_warnings", {})
    fig, axes = _grid(len(dist), 3, 4.4, 3.0)
    for ax, metric in zip(axes, dist):
        data = [[r.metrics[metric] for r in run.rows if r.codec == c and metric in r.metrics] for c in codecs]
        ticks = [c + (" †" if c in warnings and metric in WAVEFORM_METRICS else "") for c in codecs]
        ax.boxplot([d if d else [np.nan] for d in data], tick_labels=ticks)
        ax.set_title(_title(label(metric, m)), fontsize=10)
        _chance_lines(ax, metric, s)
        ax.tick_params(axis="x", labelsize=8, labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
    _legend(fig, axes)
    return _png(fig)


def _bitrate_plot(run: Run, shown: list[str], coded: list[str]) -> str:
    """Each coded codec's mean against its measured bitrate (a PNG, base64)."""
    import matplotlib.ticker

    s, m = run.summary, run.manifest
    fig, axes = _grid(len(shown), 2, 5.0, 3.2)
    for ax, metric in zip(axes, shown):
        for i, c in enumerate(coded):
            e = s["codecs"][c]["metrics"][metric]
            bounds = [[e["value"] - e["low"]], [e["high"] - e["value"]]] if np.isfinite(e["low"]) else None
            ax.errorbar([s["codecs"][c]["measured_bitrate"] / 1000], [e["value"]], yerr=bounds, fmt="osD^vP*X"[i % 8],
                        color=f"C{i % 10}", capsize=2, label=f"{c} ({s['codecs'][c]['nominal_bitrate'] / 1000:.3g} nominal)")
        ax.set_xscale("log")
        ax.margins(x=0.2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="both", labelsize=8)
        ax.set_xlabel("measured kbit/s")
        ax.set_title(_title(label(metric, m, "mean")), fontsize=10)
        _chance_lines(ax, metric, s)
    _legend(fig, axes)
    return _png(fig)


def _worst(run: Run, n: int = 5) -> str:
    parts = []
    for metric in [x for x in ("cer", "pesq_wb", "speaker_sim") if x in run.summary["metrics"]]:
        hib = higher_is_better(metric)
        name = html.escape(label(metric, run.manifest))
        for codec in run.summary["codecs"]:
            scored = [r for r in run.rows if r.codec == codec and metric in r.metrics]
            scored.sort(key=lambda r: r.metrics[metric], reverse=not hib)
            if not scored:
                continue
            parts.append(f"<h3>{html.escape(codec)}: worst {name}</h3><div class='wide'><table><tr><th>utterance</th>"
                         f"<th>lang</th><th>{name}</th><th>reference</th><th>decoded</th><th>text / ASR</th></tr>")
            for r in scored[:n]:
                decoded = f'<audio controls preload="none" src="{html.escape(r.decoded_audio)}"></audio>' if r.decoded_audio else "(not kept: --keep-audio)"
                ref = f'<audio controls preload="none" src="{html.escape(Path(r.reference_audio).as_uri())}"></audio>'
                text = html.escape(r.text) + ("<br><i>" + html.escape(r.hyp) + "</i>" if r.hyp else "")
                parts.append(f"<tr><td>{html.escape(r.utt_id)}</td><td>{html.escape(r.lang)}</td>"
                             f"<td>{_fmt(r.metrics[metric])}</td><td>{ref}</td><td>{decoded}</td><td>{text}</td></tr>")
            parts.append("</table></div>")
    return "\n".join(parts)


def _html_cell(c: Cell) -> str:
    sort = f" data-sort='{c.sort:.17g}'" if c.sort is not None and np.isfinite(c.sort) else ""
    detail = f"<br><span class='d'>{html.escape(c.detail)}</span>" if c.detail else ""
    return f"<td{sort}>{html.escape(c.text)}{detail}</td>"


def _html_table(table: Table) -> str:
    head = "".join(f"<th title='sort'>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in table.rows)
    foot = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in table.reference_rows)
    notes = "".join(f"<p class='note'>{html.escape(note)}</p>" for note in table.notes)
    return (f"<div class='tile'><h3>{html.escape(table.title)}</h3><div class='wide'><table class='sortable'><thead><tr>"
            f"{head}</tr></thead><tbody>{body}</tbody>{f'<tfoot>{foot}</tfoot>' if foot else ''}</table></div>{notes}</div>")


def _html_blocks(blocks: list[Block]) -> str:
    parts = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in content) + "</ul>")
        else:
            parts.append(_html_table(content))
    return "\n".join(parts)


STYLE = ("body{font-family:sans-serif;margin:1.5em auto;padding:0 1.5em;max-width:1800px;line-height:1.35} "
         "p,li{max-width:75em} table{border-collapse:collapse;margin-bottom:.4em} "
         "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top;text-align:left} "
         "th{background:#f2f2f2;cursor:pointer;max-width:10em;font-weight:600} td .d{color:#666;font-size:11px} "
         "tfoot td{background:#f7f7f7;font-style:italic} .wide{overflow-x:auto} p.note{font-size:12px;color:#444} "
         ".tile{display:inline-block;vertical-align:top;max-width:100%;margin-right:2em} "
         "img{max-width:100%;height:auto}")
# Click a header to sort its table by that column (numbers by value, the rest as text); reference rows stay below.
SORT_SCRIPT = """
for (const table of document.querySelectorAll('table.sortable')) {
  table.querySelectorAll('thead th').forEach((th, column) => th.addEventListener('click', () => {
    const up = th.dataset.order !== 'up';
    th.dataset.order = up ? 'up' : 'down';
    const key = row => row.cells[column].dataset.sort !== undefined ? Number(row.cells[column].dataset.sort) : row.cells[column].textContent;
    const rows = [...table.tBodies[0].rows].sort((a, b) => {
      const x = key(a), y = key(b);
      const order = typeof x !== typeof y ? (typeof x === 'number' ? -1 : 1) : typeof x === 'number' ? x - y : x.localeCompare(y);
      return up ? order : -order;
    });
    table.tBodies[0].append(...rows);
  }));
}
"""


def _html(run: Run) -> str:
    body = [_html_blocks(_summary_blocks(run)), "<h2>Figures</h2>"]
    for title, png in _plots(run):
        body.append(f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>")
    body.append(_html_blocks(_detail_blocks(run)))
    body.append("<h2>Worst utterances</h2>" + _worst(run))
    body.append("<h2>Run manifest</h2><details><summary>versions, models, settings</summary><pre>"
                + html.escape(json.dumps(run.manifest, indent=2)) + "</pre></details>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run.out_dir.name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SORT_SCRIPT}</script></body></html>")


def _cache(manifest: dict) -> Cache:
    """The cache the run used (none when it ran without one)."""
    folder = manifest.get("cache", "disabled")
    return Cache(None if folder == "disabled" else Path(folder))


def write_report(out_dir: str | Path) -> Run:
    """Write rows.csv, summary.json, summary.md and report.html for a run folder; with speaker similarity, the
    speaker model's chance level on the run's references too (eval.speaker_chance)."""
    run = load_run(out_dir)
    if "speaker_sim" in run.summary["metrics"]:
        scored = [r for r in run.rows if "speaker_sim" in r.metrics or "speaker_sim" in r.missing]
        references = [(r.reference_audio, r.speaker) for r in scored]
        run.summary["speaker_chance"] = speaker_chance.chance_level(references, _cache(run.manifest))
    write_csv(run.rows, run.out_dir / "rows.csv")
    write_text_atomic(run.out_dir / "summary.json", json.dumps(run.summary, indent=2, allow_nan=True))
    write_text_atomic(run.out_dir / "summary.md", _markdown(_summary_blocks(run) + _detail_blocks(run)))
    write_text_atomic(run.out_dir / "report.html", _html(run))
    return run


def compare(run_a: str | Path, run_b: str | Path) -> dict:
    """Paired per-utterance differences (B - A) per codec pair, metric and language, with bootstrap CIs."""
    a, b = load_run(run_a), load_run(run_b)
    codecs_a, codecs_b = list(a.summary["codecs"]), list(b.summary["codecs"])
    for run, codecs in ((a, codecs_a), (b, codecs_b)):
        if not codecs:
            why = "every utterance was skipped (see skipped.json)" if run.summary["skipped"] else "let `lfsc-eval run` finish first"
            raise UserError(f"{run.out_dir}: the run holds no rows: {why}")
    shared = [c for c in codecs_a if c in codecs_b]
    if shared:
        pairs = [(c, c) for c in shared]
    elif len(codecs_a) == 1 or len(codecs_b) == 1:
        pairs = [(ca, cb) for ca in codecs_a for cb in codecs_b]
    else:
        raise UserError("the runs share no codec and both hold several: compare runs with common codecs, or one with a single codec")
    out: dict = {"a": str(a.out_dir), "b": str(b.out_dir), "pairs": []}
    for ca, cb in pairs:
        rows_a = {r.utt_id: r for r in a.rows if r.codec == ca}
        rows_b = {r.utt_id: r for r in b.rows if r.codec == cb}
        common = [u for u in rows_a if u in rows_b]
        entry: dict = {"codec_a": ca, "codec_b": cb, "utterances": len(common), "metrics": {}}
        for metric in [m for m in metric_names(a.rows + b.rows) if m not in ("cer_orig", "wer_orig")]:
            both = [u for u in common if metric in rows_a[u].metrics and metric in rows_b[u].metrics]
            groups = {"all": both}
            for u in both:
                groups.setdefault(rows_a[u].lang, []).append(u)
            per = {}
            for group, ids in groups.items():
                estimate, p = stats.paired_difference([rows_a[u].metrics[metric] for u in ids],
                                                      [rows_b[u].metrics[metric] for u in ids])
                per[group] = {**estimate.to_dict(), "p": p}
            entry["metrics"][metric] = {"label": label(metric, a.manifest), "higher_is_better": higher_is_better(metric),
                                        "groups": per}
        out["pairs"].append(entry)
    return out


def compare_markdown(result: dict) -> str:
    """Human-readable comparison table."""
    lines = [f"B - A, paired over utterances; A = {result['a']}, B = {result['b']}", ""]
    for entry in result["pairs"]:
        lines += [f"## {entry['codec_a']} (A) vs {entry['codec_b']} (B): {entry['utterances']} common utterances", "",
                  "| metric | group | n | mean B-A [95% CI] | p | better |", "|---|---|---|---|---|---|"]
        for metric, m in entry["metrics"].items():
            for group, e in m["groups"].items():
                significant = np.isfinite(e["low"]) and (e["low"] > 0 or e["high"] < 0)
                better = ("B" if (e["value"] > 0) == m["higher_is_better"] else "A") if significant else "–"
                lines.append(f"| {m['label']} | {group} | {e['n']} | {_ci(e)} | {_fmt(e['p'])} | {better} |")
        lines.append("")
    return "\n".join(lines)
