"""tools/readme_figures.py prints the README's tables and lines from a run's summary.json: from summaries holding the
README's own numbers it gives back the README's lines, character for character; a tiny real run wires each column
to its metric; and a rerun starts from an empty run folder."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from eval.report import summarize
from eval.row import Row
from eval.speaker_chance import _spread, equal_error

TOOL = Path(__file__).resolve().parent.parent / "tools" / "readme_figures.py"


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("readme_figures", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _rows(codecs: list[str], metrics: tuple[str, ...], asr: bool) -> list[Row]:
    """Two utterances (en, es) per codec, in the runner's row format: enough for eval.report.summarize to build a
    summary of the real structure, whose numbers the tests then set."""
    counts = {"hits": 9, "substitutions": 1, "deletions": 0, "insertions": 0}
    rows = []
    for codec in codecs:
        for i, lang in enumerate(("en", "es")):
            row = {"utt_id": f"{lang}/u{i}", "lang": lang, "speaker": f"s{i}", "text": "uno dos", "codec": codec,
                   "duration": 2.0, "nominal_bitrate": 6000.0, "measured_bitrate": 6000.0 + i, "rtf": 0.01,
                   "metrics": {m: 1.0 + i for m in metrics}, "missing": {},
                   "sanity": {"delay_compensated": False, "refuse": "", "resampled": False, "warnings": []}}
            if asr:
                row["asr_counts"] = {"cer": counts, "cer_orig": counts}
                row["metrics"].update(cer=0.1, cer_orig=0.1, dcer=0.0)
            rows.append(Row.from_json(row))
    return rows


def _set(e: dict, value: float, low: float | None = None, high: float | None = None) -> None:
    e.update(value=value, low=float("nan") if low is None else low, high=float("nan") if high is None else high)


README_BUNDLED = [
    "| codec | measured kbit/s | PESQ-WB | PESQ-NB | STOI | Mel distance | F0 RMSE (cents) | V/UV error | GE2E similarity | DistillMOS | CER, mean of utterances (floor 0.002) | dCER, mean of utterances |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    "| opus-6k | 6.40 | 1.98 [1.93, 2.03] | 2.84 [2.81, 2.88] | 0.911 | 0.147 | 22 [21, 23] | 0.051 | 0.822 | 2.48 [2.38, 2.58] | 0.042 | 0.040 |",
    "| codec2-3200 | 3.23 | 1.28 [1.25, 1.32] | 2.26 [2.20, 2.31] | 0.883 | 0.193 | 150 [124, 179] | 0.120 | 0.744 | 2.17 [2.10, 2.25] | 0.059 | 0.057 |",
]


def bundled_summary() -> dict:
    """A summary of the `make run` shape holding the README's numbers."""
    metrics = ("pesq_wb", "pesq_nb", "stoi", "mel_distance", "f0_rmse", "vuv_error", "speaker_sim", "distill_mos")
    summary = summarize(_rows(["opus-6k", "codec2-3200"], metrics, asr=True), ["opus-6k", "codec2-3200"])
    readme = {
        "opus-6k": (6403.0, (1.98, 1.93, 2.03), (2.84, 2.81, 2.88), 0.911, 0.147, (22.2, 21.1, 23.4), 0.051, 0.822,
                    (2.48, 2.38, 2.58), 0.0422, 0.0398, (0.038, 0.027, 0.050)),
        "codec2-3200": (3226.0, (1.28, 1.25, 1.32), (2.26, 2.20, 2.31), 0.883, 0.193, (149.7, 124.2, 178.8), 0.1204,
                        0.7438, (2.17, 2.10, 2.25), 0.059, 0.057, (0.057, 0.044, 0.072)),
    }
    for codec, (kbps, *values, corpus_cer) in readme.items():
        g = summary["codecs"][codec]
        g["measured_bitrate"] = kbps
        for name, value in zip((*metrics, "cer", "dcer"), values):
            _set(g["metrics"][name], *(value if isinstance(value, tuple) else (value,)))
        _set(g["metrics"]["cer_orig"], 0.0024)
        _set(g["corpus"]["cer"], *corpus_cer)
        _set(g["corpus"]["cer_orig"], 0.0026)
        g["corpus"]["dcer"] = corpus_cer[0] - 0.0026
        for lang, floor in (("en", 0.004), ("es", 0.0004)):
            _set(summary["by_language"][codec][lang]["corpus"]["cer_orig"], floor, 0.0, 0.01)
    summary["speaker_chance"] = {"model": "GE2E speaker similarity (resemblyzer 0.1.4)", "utterances": 4,
                                 "unlabelled": 0, "speakers": 2, "failed": {}, "same": _spread([0.8, 0.9]),
                                 "different": _spread([0.5, 0.6, 0.7]), "eer_threshold": None, "eer": None, "note": ""}
    summary["speaker_chance"]["eer_threshold"], summary["speaker_chance"]["eer"] = equal_error([0.8, 0.9], [0.5, 0.6, 0.7])
    return summary


def test_the_make_run_table_is_the_readmes(figures):
    assert figures.bundled_table(bundled_summary()) == README_BUNDLED


def test_the_corpus_cer_line_gives_the_reports_headline_beside_the_tables_mean(figures):
    assert figures.corpus_cer_line(bundled_summary()) == (
        "Corpus CER [95% CI] (the report's headline; the table gives the mean of utterances): "
        "opus-6k 0.038 [0.027, 0.050] (floor 0.003, dCER 0.035); codec2-3200 0.057 [0.044, 0.072] (floor 0.003, dCER 0.054).")


def test_the_whisper_floor_line_is_the_readmes(figures):
    assert figures.whisper_floor_line(bundled_summary()) == \
        "Whisper-base CER on the bundled set's originals (the floor): en 0.4 %, es 0.0 %."


def test_speaker_chance_levels(figures):
    assert figures.speaker_chance_lines(bundled_summary()) == [
        "GE2E speaker similarity (resemblyzer 0.1.4) between the references of the set (4 utterances, 2 speakers):",
        "",
        "| pairs of references | pairs | mean | 5th percentile | 95th percentile |",
        "|---|---|---|---|---|",
        "| different speakers (chance) | 3 | 0.600 | 0.510 | 0.690 |",
        "| same speaker, another utterance | 2 | 0.850 | 0.805 | 0.895 |",
        "",
        "Equal-error threshold 0.750 (EER 0.0 %): above it a pair is more likely one speaker than two.",
    ]
    assert figures.speaker_chance_lines({"codecs": {}}) == ["(no speaker similarity in this run, so no chance levels)"]


def test_the_distillmos_sentence_is_the_readmes(figures):
    codecs = ["identity", "opus-6k", "codec2-1200"]
    rows = [r for codec in codecs for r in _rows([codec], ("distill_mos",), asr=False)]
    rows += [replace(rows[0], utt_id=f"en/extra{i}") for i in range(4)]  # identity's n is the most: 6
    summary = summarize(rows, codecs)
    for codec, value in zip(codecs, (4.351, 2.999, 1.857)):
        _set(summary["codecs"][codec]["metrics"]["distill_mos"], value)
    assert figures.distillmos_sentence(summary) == \
        "On the bundled speech it reads clean 4.35, Opus 6k 3.00, Codec2 1200 1.86 (6 utterances)"


SWEEP = ["opus-6k", "codec2-3200", "identity@white10", "opus-6k@white10", "codec2-3200@white10",
         "identity@reverb0.6", "opus-6k@reverb0.6", "codec2-3200@reverb0.6"]


def sweep_summary() -> dict:
    """A sweep summary holding the README's numbers (the tel rows are left out: they repeat the pattern)."""
    summary = summarize(_rows(SWEEP, ("pesq_wb", "stoi", "distill_mos"), asr=True), SWEEP)
    readme = [(1.98, 0.911, 2.48, (0.038, 0.027, 0.050)), (1.28, 0.883, 2.17, (0.057, 0.044, 0.072)),
              (1.07, 0.894, 2.26, (0.064, 0.043, 0.088)), (1.09, 0.752, 1.44, (0.406, 0.345, 0.478)),
              (1.12, 0.774, 1.78, (0.503, 0.319, 0.846)), (1.17, 0.821, 2.84, (0.036, 0.026, 0.047)),
              (1.12, 0.721, 1.61, (0.440, 0.240, 0.750)), (1.10, 0.715, 1.54, (0.722, 0.396, 1.106))]
    for codec, (pesq, stoi, mos, cer) in zip(SWEEP, readme):
        g = summary["codecs"][codec]
        for name, value in (("pesq_wb", pesq), ("stoi", stoi), ("distill_mos", mos)):
            _set(g["metrics"][name], value)
        _set(g["corpus"]["cer"], *cer)
    gaps = summary["robustness"]
    _set(gaps["opus-6k@white10"]["metrics"]["stoi"], -0.142, -0.146, -0.138)
    _set(gaps["codec2-3200@white10"]["metrics"]["stoi"], -0.120, -0.127, -0.113)
    _set(gaps["opus-6k@white10"]["metrics"]["distill_mos"], -0.82, -0.9, -0.7)
    _set(gaps["codec2-3200@white10"]["metrics"]["distill_mos"], -0.48, -0.6, -0.4)
    for codec, missing in (("opus-6k@reverb0.6", 3), ("codec2-3200@reverb0.6", 5)):
        summary["codecs"][codec]["metrics"]["pesq_wb"]["missing"] = missing
        summary["codecs"][codec]["n"] = 85
    return summary


def test_the_sweep_table_is_the_readmes(figures):
    assert figures.sweep_table(sweep_summary()) == [
        "| codec (input) | PESQ-WB | STOI | DistillMOS | corpus CER [95% CI] |",
        "|---|---|---|---|---|",
        "| opus-6k (clean) | 1.98 | 0.911 | 2.48 | 0.038 [0.027, 0.050] |",
        "| codec2-3200 (clean) | 1.28 | 0.883 | 2.17 | 0.057 [0.044, 0.072] |",
        "| **identity@white10** (floor) | 1.07 | 0.894 | 2.26 | 0.064 [0.043, 0.088] |",
        "| opus-6k@white10 | 1.09 | 0.752 | 1.44 | 0.406 [0.345, 0.478] |",
        "| codec2-3200@white10 | 1.12 | 0.774 | 1.78 | 0.503 [0.319, 0.846] |",
        "| **identity@reverb0.6** (floor) | 1.17 | 0.821 | 2.84 | 0.036 [0.026, 0.047] |",
        "| opus-6k@reverb0.6 | 1.12 | 0.721 | 1.61 | 0.440 [0.240, 0.750] |",
        "| codec2-3200@reverb0.6 | 1.10 | 0.715 | 1.54 | 0.722 [0.396, 1.106] |",
    ]


def test_the_gap_figures_are_the_readmes(figures):
    summary = sweep_summary()
    assert figures.gap_sentence(summary) == ("STOI gaps of -0.142 [-0.146, -0.138] for Opus 6k and -0.120 [-0.127, "
                                             "-0.113] for Codec2 3200, DistillMOS gaps of -0.82 and -0.48.")
    assert figures.gap_sentence(summary, "pink5") == "(no codec under pink5 with its floor in this run)"
    table = figures.gap_table(summary)
    assert table[0] == "| codec | floor | PESQ-WB | STOI | DistillMOS | CER (mean of utterances) |"
    assert table[2].startswith("| opus-6k@white10 | identity@white10 | ") and " | -0.142 [-0.146, -0.138] | " in table[2]
    assert [line.split(" | ")[0] for line in table[2:]] == [
        "| opus-6k@white10", "| codec2-3200@white10", "| opus-6k@reverb0.6", "| codec2-3200@reverb0.6"]
    assert figures.missing_line(summary) == ("8 of the 170 coded reverberant rows without PESQ "
                                             "(opus-6k@reverb0.6, codec2-3200@reverb0.6; PESQ-WB)")


def test_number_formats(figures):
    assert [figures.duration(s) for s in (0.4, 42.4, 298.2, 780, 3725)] == ["0 s", "42 s", "4 min 58 s", "13 min 0 s", "1 h 2 min"]
    assert [figures.fmt(v, 2) for v in (None, float("nan"), -0.001, 2.345, -1.5)] == ["–", "–", "0.00", "2.35", "-1.50"]
    assert figures.estimate({"value": 1.0, "low": float("nan"), "high": float("nan"), "n": 1}) == "1.000"
    assert figures.estimate({"value": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}) == "–"
    assert figures.estimate(None) == "–"


def test_commands_name_the_readmes_runs(figures):
    root = Path("runs/readme")
    sweep = figures.RUNS["sweep"]
    assert figures.command(sweep, root / "sweep", None, 2) == (
        "lfsc-eval run --codec opus-6k --codec codec2-3200 --condition white10 --condition reverb0.6 --condition tel "
        "--metrics pesq_wb stoi cer distill_mos --jobs 2 --out runs/readme/sweep")
    assert figures.command(figures.RUNS["bundled"], root / "bundled", None, 2) == \
        "lfsc-eval run --codec opus-6k --codec codec2-3200 --keep-audio --jobs 2 --out runs/readme/bundled"
    distillmos = figures.RUNS["distillmos"]
    assert figures.command(distillmos, root / "distillmos", None, 1) == (
        "lfsc-eval run --codec identity --codec opus-6k --codec codec2-1200 --metrics distill_mos --limit 6 --jobs 1 "
        "--out runs/readme/distillmos")
    assert "--limit 4 " in figures.command(distillmos, root / "x", 4, 1)  # --limit caps the README's own count
    assert "--limit 6 " in figures.command(distillmos, root / "x", 40, 1)
    assert figures.run_folder(root, "sweep", 4) == root / "sweep-limit4"
    assert figures.limit_note(4)[0].startswith("NOTE: --limit 4:") and "NOT the README's figures" in figures.limit_note(4)[0]
    assert figures.limit_note(None) == []


def test_a_tiny_real_run_fills_each_column_from_its_metric(figures, tmp_path):
    """lowpass-7k clean and under white noise, with identity as the floor, on 2 bundled utterances: the printed
    cells are summary.json's values, and an earlier run's rows in the folder are gone."""
    spec = figures.RunSpec("sweep", "a check", ("lowpass-7k",), conditions=("white10",), metrics=("pesq_wb", "stoi"),
                           utterances=2)
    folder = tmp_path / "runs" / "sweep"
    folder.mkdir(parents=True)
    (folder / "rows.jsonl").write_text(json.dumps({"utt_id": "stale", "codec": "lowpass-7k"}) + "\n")
    done = figures.evaluate(spec, folder, None, 1, cache=tmp_path / "cache")
    summary = json.loads((folder / "summary.json").read_text())
    assert done.summary == summary and done.utterances == 2 and done.cache_misses > 0
    assert list(summary["codecs"]) == ["lowpass-7k", "identity@white10", "lowpass-7k@white10"]
    assert all(g["n"] == 2 for g in summary["codecs"].values())  # the stale row went with the old folder

    table = figures.sweep_table(summary)
    for line, codec in zip(table[2:], summary["codecs"]):
        m = summary["codecs"][codec]["metrics"]
        assert line.split(" | ")[1:] == [f"{m['pesq_wb']['value']:.2f}", f"{m['stoi']['value']:.3f}", "–", "– |"], line
    assert table[2].startswith("| lowpass-7k (clean) | ") and table[3].startswith("| **identity@white10** (floor) | ")
    gap = summary["robustness"]["lowpass-7k@white10"]["metrics"]["stoi"]
    assert figures.gap_table(summary)[2] == (
        f"| lowpass-7k@white10 | identity@white10 | {figures.estimate(summary['robustness']['lowpass-7k@white10']['metrics']['pesq_wb'], 2)} "
        f"| {gap['value']:.3f} [{gap['low']:.3f}, {gap['high']:.3f}] |")

    text = "\n".join(figures.section(spec, done, "lfsc-eval run ..."))
    assert "    lfsc-eval run ...\n" in text and "2 utterances x 3 codecs, metrics pesq_wb stoi: wall time " in text
    assert "### The sweep table" in text and "0 of the 0 coded reverberant rows" in text


def test_a_folder_that_is_no_run_is_not_removed(figures, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="other than an eval run"):
        figures.fresh(tmp_path)
    assert (tmp_path / "notes.txt").is_file()
