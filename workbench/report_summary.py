"""A run's summary for the Reports tab: per codec, over all clips and per language, the mean of every metric (the
numbers the HTML report shows, from eval.report)."""

from __future__ import annotations

from pathlib import Path

ALL = "all"  # the language column of a codec's row over every language


def summary_rows(report_rows: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """One row per codec over all its clips, then one per codec and language; and the table's columns."""
    from eval.report import label, summarize
    from eval.row import Row

    summary = summarize([Row.from_json(row["row"]) for row in report_rows])  # the table keeps each row as JSON
    metrics = summary["metrics"]
    rows = []
    for codec, group in summary["codecs"].items():
        rows.append(_row(codec, ALL, group, metrics))
        rows += [_row(codec, lang, by_lang, metrics) for lang, by_lang in summary["by_language"][codec].items()]
    columns = [("codec", "codec"), ("lang", "lang"), ("n", "clips"), ("kbps", "kbps")]
    return rows, columns + [(metric, label(metric)) for metric in metrics]


def _row(codec: str, lang: str, group: dict, metrics: list[str]) -> dict:
    bitrate = group.get("measured_bitrate")
    return {"codec": codec, "lang": lang or "(none)", "n": group["n"],
            "kbps": bitrate / 1000 if bitrate is not None else None,
            **{metric: group["metrics"][metric]["value"] for metric in metrics}}


def write_html(folder: Path, task=None) -> Path:
    """Write a run folder's report (a cancelled run has none) and give the path of its report.html."""
    from eval.report import write_report

    return write_report(folder).out_dir / "report.html"
