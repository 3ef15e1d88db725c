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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.errors import UserError
from codec.files import write_text_atomic
from eval import run_folder, stats
from eval.metrics import METRICS
from eval.run_folder import ROWS, read_skipped

ASR_LABELS = {
    "cer": ("CER", False), "cer_orig": ("CER of original (ASR floor)", False), "dcer": ("dCER", False),
    "wer": ("WER", False), "wer_orig": ("WER of original (ASR floor)", False), "dwer": ("dWER", False),
}
HEADLINE = ("pesq_wb", "stoi", "speaker_sim", "cer")


def label(metric: str, manifest: dict | None = None) -> str:
    """Display name of a metric; the speaker metric is named after its model when the run manifest is given."""
    if metric == "speaker_sim" and manifest and "speaker_model" in manifest:
        return manifest["speaker_model"]["name"]
    return METRICS[metric].label if metric in METRICS else ASR_LABELS.get(metric, (metric, True))[0]


def higher_is_better(metric: str) -> bool:
    """Direction of a metric."""
    return METRICS[metric].higher_is_better if metric in METRICS else ASR_LABELS.get(metric, ("", True))[1]


@dataclass
class Run:
    """A run folder read back: its rows, its run manifest and (computed) summary."""

    out_dir: Path
    rows: list[dict]
    manifest: dict
    summary: dict


def load_run(out_dir: str | Path) -> Run:
    """Read a run folder (rows, manifest, the utterances that could not be read) and summarise it. Rows are
    taken by utterance and codec (the file holds them in the order the pool finished them, and bootstrap
    intervals must not depend on that); a pair's duplicates and lines that are not whole rows are left out and
    counted under "rows_left_out"."""
    out = Path(out_dir)
    if not (out / ROWS).is_file():
        raise UserError(f"{out}: not a run folder (no {ROWS}); run `lfsc-eval run ... --out {out}` first")
    read = run_folder.read_rows(out)
    rows = sorted(read.rows, key=lambda row: (row["utt_id"], row["codec"]))
    manifest = run_folder.read_manifest(out) or {}
    order = [c["name"] for c in manifest.get("codecs", [])]
    left_out = {"duplicates": read.duplicates, "unreadable": read.unreadable}
    return Run(out, rows, manifest, {**summarize(rows, order), "skipped": read_skipped(out), "rows_left_out": left_out})


def metric_names(rows: list[dict]) -> list[str]:
    """Metrics present in the rows, in a fixed display order."""
    seen = {m for r in rows for m in list(r["metrics"]) + list(r["missing"])}
    order = list(METRICS) + list(ASR_LABELS)
    return [m for m in order if m in seen]


def _group(rows: list[dict], metrics: list[str]) -> dict:
    out: dict = {"n": len(rows), "metrics": {}, "corpus": {}}
    for key in ("measured_bitrate", "rtf"):
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    for m in metrics:
        values = [r["metrics"][m] for r in rows if m in r["metrics"]]
        reasons = Counter(r["missing"][m] for r in rows if m in r["missing"])
        out["metrics"][m] = {**stats.mean_ci(values).to_dict(), "missing": sum(reasons.values()), "reasons": dict(reasons)}
    for kind in ("cer", "wer"):
        for name in (kind, f"{kind}_orig"):
            counted = [r["asr_counts"][name] for r in rows if name in r.get("asr_counts", {})]
            if counted:
                errors = [c["substitutions"] + c["deletions"] + c["insertions"] for c in counted]
                lengths = [c["hits"] + c["substitutions"] + c["deletions"] for c in counted]
                out["corpus"][name] = stats.ratio_ci(errors, lengths).to_dict()
        if kind in out["corpus"] and f"{kind}_orig" in out["corpus"]:
            out["corpus"][f"d{kind}"] = out["corpus"][kind]["value"] - out["corpus"][f"{kind}_orig"]["value"]
    return out


def summarize(rows: list[dict], codec_order: list[str] = ()) -> dict:
    """Per codec and per (codec, language): means with CIs, missing counts and corpus-level error rates. Codecs come
    in `codec_order` (the run's --codec order), then any others in name order: never in the order rows finished."""
    metrics = metric_names(rows)
    present = {r["codec"] for r in rows}
    codecs = [c for c in codec_order if c in present] + sorted(present - set(codec_order))
    summary: dict = {"metrics": metrics, "codecs": {}, "by_language": {}}
    for codec in codecs:
        mine = [r for r in rows if r["codec"] == codec]
        summary["codecs"][codec] = {**_group(mine, metrics), "nominal_bitrate": mine[0]["nominal_bitrate"]}
        langs = sorted({r["lang"] for r in mine})
        summary["by_language"][codec] = {lang: _group([r for r in mine if r["lang"] == lang], metrics) for lang in langs}
    summary["robustness"] = _gaps_to_floors(rows, metrics, codecs)
    summary["sanity"] = {
        "delay_compensated": sum(bool(r["sanity"]["delay_compensated"]) for r in rows),
        "refused": sum(bool(r["sanity"]["refuse"]) for r in rows),
        "resampled": sum(bool(r["sanity"]["resampled"]) for r in rows),
        "with_warnings": sum(bool(r["sanity"]["warnings"]) for r in rows),
    }
    return summary


def _gap_metrics(metrics: list[str]) -> list[str]:
    # The ASR floor is the clean original's for every codec, so dCER's gap would repeat CER's.
    return [m for m in metrics if m not in ("cer_orig", "wer_orig", "dcer", "dwer")]


def _gaps_to_floors(rows: list[dict], metrics: list[str], codecs: list[str]) -> dict:
    """For each codec under input conditions whose floor (identity under the same conditions) is in the run: codec
    minus floor per metric, paired over utterances, with a bootstrap 95% CI and p: what the codec adds to the loss
    the conditions cause (codec.conditions)."""
    by_codec: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_codec.setdefault(row["codec"], {})[row["utt_id"]] = row
    out = {}
    for codec in codecs:
        base, _, chain = codec.partition("@")
        floor = f"identity@{chain}"
        if not chain or base == "identity" or floor not in by_codec:
            continue
        mine, theirs = by_codec[codec], by_codec[floor]
        gaps = {}
        for metric in _gap_metrics(metrics):
            ids = [u for u in mine if u in theirs and metric in mine[u]["metrics"] and metric in theirs[u]["metrics"]]
            estimate, p = stats.paired_difference([theirs[u]["metrics"][metric] for u in ids],
                                                  [mine[u]["metrics"][metric] for u in ids])
            gaps[metric] = {**estimate.to_dict(), "p": p}
        out[codec] = {"floor": floor, "metrics": gaps}
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _ci(e: dict) -> str:
    if e["n"] == 0:
        return "–"
    if not np.isfinite(e["low"]):
        return _fmt(e["value"])
    return f"{_fmt(e['value'])} [{_fmt(e['low'])}, {_fmt(e['high'])}]"


CSV_FIXED = ("utt_id", "lang", "speaker", "codec", "duration", "nominal_bitrate", "measured_bitrate", "payload_bytes", "rtf")


def write_csv(rows: list[dict], path: Path) -> None:
    """One line per (utterance, codec): metrics, missing reasons, sanity findings, transcripts, audio path."""
    metrics = metric_names(rows)
    header = [*CSV_FIXED, *metrics, "missing", "delay_samples", "delay_method", "delay_confidence", "refused",
              "sanity_warnings", "text", "hyp_orig", "hyp", "decoded_audio", "cached"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for r in rows:
        s = r["sanity"]
        writer.writerow([
            *(r.get(k, "") for k in CSV_FIXED), *(r["metrics"].get(m, "") for m in metrics),
            "; ".join(f"{k}: {v}" for k, v in r["missing"].items()), s["delay_samples"], s["delay_method"],
            s["delay_confidence"], s["refuse"], "; ".join(s["warnings"]), r["text"], r.get("hyp_orig", ""),
            r.get("hyp", ""), r.get("decoded_audio", ""), r["cached"],
        ])
    write_text_atomic(path, buffer.getvalue())


def _markdown(run: Run) -> str:
    s, m = run.summary, run.manifest
    lines = [f"# Evaluation report: {run.out_dir.name}", ""]
    lines += [f"- input: {m.get('input', '')}", f"- normaliser: {m.get('normaliser', '')}",
              f"- resampler: {m.get('resampler', '')}", f"- device: {m.get('device', '')}"]
    if "speaker_model" in m:
        lines.append(f"- speaker similarity: {m['speaker_model']['name']}")
    if "asr" in m:
        lines.append(f"- ASR: {m['asr']['model_id']}")
    lines.append("- mel/STFT distance: NeMo's multi-resolution mel / STFT reconstruction losses at 22.05 kHz "
                 "(lfsc_spec.md §5.1), most likely the LFSC model card's 'Mel distance' and 'STFT distance'")
    left_out = s.get("rows_left_out", {})
    if left_out.get("duplicates"):
        lines.append(f"- **{left_out['duplicates']} duplicated row(s) in {ROWS} left out**: the first row of each "
                     "utterance and codec is counted, once")
    if left_out.get("unreadable"):
        lines.append(f"- **{left_out['unreadable']} line(s) of {ROWS} that are not whole rows left out** (cut short "
                     "by a kill, or damaged)")
    if s["skipped"]:
        lines.append(f"- **not evaluated: {len(s['skipped'])} utterance(s) whose audio could not be read** (listed at "
                     "the end; no number here includes them)")
    lines += ["", "Means with bootstrap 95% CIs over utterances; (n missing) where some values could not be computed.", ""]
    metrics = s["metrics"]
    lines.append("| codec | n | nominal kbps | measured kbps | " + " | ".join(label(x, m) for x in metrics) + " |")
    lines.append("|---" * (4 + len(metrics)) + "|")
    for codec, g in s["codecs"].items():
        cells = []
        for x in metrics:
            e = g["metrics"][x]
            cells.append(_ci(e) + (f" ({e['missing']} missing)" if e["missing"] else ""))
        lines.append(f"| {codec} | {g['n']} | {g['nominal_bitrate'] / 1000:.2f} | {_fmt((g['measured_bitrate'] or 0) / 1000, 2)} | " + " | ".join(cells) + " |")
    if s.get("robustness"):
        shown = _gap_metrics(metrics)
        lines += ["", "## Under input conditions: the gap to each condition's floor", "",
                  "Codec minus identity under the same conditions (the conditions alone), paired over utterances, with "
                  "bootstrap 95% CIs: what the codec adds to the loss the conditions cause. Metrics compare with the "
                  "clean input; the sign follows the metric (for PESQ or STOI, below zero is a loss).", "",
                  "| codec | floor | " + " | ".join(label(x, m) for x in shown) + " |", "|---" * (2 + len(shown)) + "|"]
        for codec, gap in s["robustness"].items():
            lines.append(f"| {codec} | {gap['floor']} | " + " | ".join(_ci(gap["metrics"][x]) for x in shown) + " |")
    for kind in ("cer", "wer"):
        if kind not in metrics:
            continue
        lines += ["", f"## {kind.upper()} per language (corpus-level = sum of edits / sum of reference length)", "",
                  f"| codec | lang | n | corpus {kind.upper()} | mean per-utt {kind.upper()} | corpus floor (original) | corpus d{kind.upper()} |",
                  "|---|---|---|---|---|---|---|"]
        for codec, langs in s["by_language"].items():
            for lang, g in langs.items():
                c = g["corpus"]
                lines.append(f"| {codec} | {lang} | {g['n']} | {_ci(c[kind]) if kind in c else '–'} | "
                             f"{_ci(g['metrics'][kind])} | {_ci(c[kind + '_orig']) if kind + '_orig' in c else '–'} | "
                             f"{_fmt(c.get('d' + kind))} |")
    lines += ["", "## Per language", ""]
    for x in [m for m in metrics if m not in ("cer_orig", "wer_orig")]:
        lines += [f"### {label(x, m)}", "", "| codec | " + " | ".join(_langs(s)) + " |", "|---" * (1 + len(_langs(s))) + "|"]
        for codec, langs in s["by_language"].items():
            lines.append(f"| {codec} | " + " | ".join(_ci(langs[l]["metrics"][x]) if l in langs else "–" for l in _langs(s)) + " |")
        lines.append("")
    missing = [(codec, x, g["metrics"][x]) for codec, g in s["codecs"].items() for x in metrics if g["metrics"][x]["missing"]]
    if missing:
        lines += ["## Missing values (excluded from means)", "", "| codec | metric | count | reasons |", "|---|---|---|---|"]
        for codec, x, e in missing:
            lines.append(f"| {codec} | {label(x, m)} | {e['missing']} | " + "; ".join(f"{k} ({v})" for k, v in e["reasons"].items()) + " |")
    san = s["sanity"]
    lines += ["", f"Sanity: {san['delay_compensated']} delays compensated, {san['refused']} pairs refused for intrusive "
              f"metrics, {san['resampled']} decoded files resampled, {san['with_warnings']} pairs with warnings.", ""]
    if s["skipped"]:
        lines += ["## Utterances skipped (their audio could not be read in the last run, which tries them again)", "",
                  "| utterance | audio | reason |", "|---|---|---|"]
        for utt_id, entry in s["skipped"].items():
            lines.append(f"| {utt_id} | {entry['audio']} | {entry['reason'].replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def _langs(summary: dict) -> list[str]:
    return sorted({lang for langs in summary["by_language"].values() for lang in langs})


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(run: Run) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    s = run.summary
    codecs = list(s["codecs"])
    langs = _langs(s)
    shown = [m for m in HEADLINE if m in s["metrics"]]
    out: list[tuple[str, str]] = []
    if shown:
        fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
        width = 0.8 / max(1, len(codecs))
        for ax, metric in zip(axes[0], shown):
            for i, codec in enumerate(codecs):
                es = [s["by_language"][codec].get(l, {}).get("metrics", {}).get(metric) for l in langs]
                means = [e["value"] if e and e["n"] else np.nan for e in es]
                err = [[max(0.0, e["value"] - e["low"]) if e and np.isfinite(e["low"]) else 0 for e in es],
                       [max(0.0, e["high"] - e["value"]) if e and np.isfinite(e["high"]) else 0 for e in es]]
                ax.bar(np.arange(len(langs)) + i * width, means, width, yerr=err, capsize=2, label=codec)
            ax.set_xticks(np.arange(len(langs)) + width * (len(codecs) - 1) / 2, langs)
            ax.set_title(label(metric, run.manifest) + (" (lower is better)" if not higher_is_better(metric) else ""))
        axes[0][0].legend(fontsize=7)
        out.append(("Per language, mean with bootstrap 95% CI", _png(fig)))
    dist = [m for m in s["metrics"] if m not in ("cer_orig", "wer_orig")]
    if dist:
        cols = min(4, len(dist))
        nrows = (len(dist) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
        for ax, metric in zip(axes.flat, dist):
            data = [[r["metrics"][metric] for r in run.rows if r["codec"] == c and metric in r["metrics"]] for c in codecs]
            ax.boxplot([d if d else [np.nan] for d in data], tick_labels=codecs)
            ax.set_title(label(metric))
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        for ax in list(axes.flat)[len(dist):]:
            ax.axis("off")
        out.append(("Distributions over utterances", _png(fig)))
    coded = [c for c in codecs if s["codecs"][c]["nominal_bitrate"] > 0 and s["codecs"][c]["measured_bitrate"]]
    if coded and shown:
        fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
        for ax, metric in zip(axes[0], shown):
            for c in coded:
                e = s["codecs"][c]["metrics"][metric]
                x = s["codecs"][c]["measured_bitrate"] / 1000
                ax.errorbar([x], [e["value"]], yerr=[[e["value"] - e["low"]], [e["high"] - e["value"]]] if np.isfinite(e["low"]) else None, fmt="o")
                ax.annotate(c, (x, e["value"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.set_xlabel("measured kbit/s")
            ax.set_title(label(metric, run.manifest))
        out.append(("Bitrate vs quality (codecs with a bitstream; identity and anchors left out)", _png(fig)))
    return out


def _worst(run: Run, n: int = 5) -> str:
    parts = []
    for metric in [m for m in ("cer", "pesq_wb", "speaker_sim") if m in run.summary["metrics"]]:
        hib = higher_is_better(metric)
        for codec in run.summary["codecs"]:
            scored = [r for r in run.rows if r["codec"] == codec and metric in r["metrics"]]
            scored.sort(key=lambda r: r["metrics"][metric], reverse=not hib)
            if not scored:
                continue
            parts.append(f"<h3>{html.escape(codec)}: worst {html.escape(label(metric))}</h3><table><tr><th>utterance</th>"
                         "<th>lang</th><th>value</th><th>reference</th><th>decoded</th><th>text / ASR</th></tr>")
            for r in scored[:n]:
                decoded = f'<audio controls preload="none" src="{html.escape(r["decoded_audio"])}"></audio>' if r.get("decoded_audio") else "(not kept: --keep-audio)"
                ref = f'<audio controls preload="none" src="{html.escape(Path(r["reference_audio"]).as_uri())}"></audio>'
                text = html.escape(r["text"]) + ("<br><i>" + html.escape(r.get("hyp", "")) + "</i>" if r.get("hyp") else "")
                parts.append(f"<tr><td>{html.escape(r['utt_id'])}</td><td>{r['lang']}</td><td>{_fmt(r['metrics'][metric])}</td>"
                             f"<td>{ref}</td><td>{decoded}</td><td>{text}</td></tr>")
            parts.append("</table>")
    return "\n".join(parts)


def _html(run: Run, markdown: str) -> str:
    body = [f"<h1>Evaluation report: {html.escape(run.out_dir.name)}</h1>"]
    body.append("<pre class='md'>" + html.escape(markdown) + "</pre>")
    for title, png in _plots(run):
        body.append(f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{png}'>")
    body.append("<h2>Worst utterances</h2>" + _worst(run))
    body.append("<h2>Run manifest</h2><details><summary>versions, models, settings</summary><pre>"
                + html.escape(json.dumps(run.manifest, indent=2)) + "</pre></details>")
    style = "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px} pre.md{white-space:pre-wrap;font-size:12px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run.out_dir.name)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>"


def write_report(out_dir: str | Path) -> Run:
    """Write rows.csv, summary.json, summary.md and report.html for a run folder."""
    run = load_run(out_dir)
    write_csv(run.rows, run.out_dir / "rows.csv")
    write_text_atomic(run.out_dir / "summary.json", json.dumps(run.summary, indent=2, allow_nan=True))
    markdown = _markdown(run)
    write_text_atomic(run.out_dir / "summary.md", markdown)
    write_text_atomic(run.out_dir / "report.html", _html(run, markdown))
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
        rows_a = {r["utt_id"]: r for r in a.rows if r["codec"] == ca}
        rows_b = {r["utt_id"]: r for r in b.rows if r["codec"] == cb}
        common = [u for u in rows_a if u in rows_b]
        entry: dict = {"codec_a": ca, "codec_b": cb, "utterances": len(common), "metrics": {}}
        for metric in [m for m in metric_names(a.rows + b.rows) if m not in ("cer_orig", "wer_orig")]:
            both = [u for u in common if metric in rows_a[u]["metrics"] and metric in rows_b[u]["metrics"]]
            groups = {"all": both}
            for u in both:
                groups.setdefault(rows_a[u]["lang"], []).append(u)
            per = {}
            for group, ids in groups.items():
                estimate, p = stats.paired_difference([rows_a[u]["metrics"][metric] for u in ids],
                                                      [rows_b[u]["metrics"][metric] for u in ids])
                per[group] = {**estimate.to_dict(), "p": p}
            entry["metrics"][metric] = {"higher_is_better": higher_is_better(metric), "groups": per}
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
                lines.append(f"| {label(metric)} | {group} | {e['n']} | {_ci(e)} | {_fmt(e['p'])} | {better} |")
        lines.append("")
    return "\n".join(lines)
