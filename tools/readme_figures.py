"""Every README figure that comes from an evaluation, rerun and printed in the README's own Markdown.

Usage: python tools/readme_figures.py [--only NAME ...] [--limit N] [--out ROOT] [--jobs J] [--cache DIR]

Each run goes through eval.runner.run, the engine of `lfsc-eval run`, with the codecs, input conditions and
metrics the README states for its figure, into ROOT/NAME (default runs/readme/NAME; a run folder there is
replaced, so the figures are always this code's; the eval cache makes a rerun fast). The figures are then read
from the run's summary.json, the report's own numbers, never recomputed here, and printed one section per
figure under the equivalent `lfsc-eval` command and the run's wall time.

  bundled     the `make run` table, the Whisper floor per language, the speaker model's chance levels
  distillmos  DistillMOS on 6 utterances: clean, Opus 6k, Codec2 1200
  sweep       the robustness sweep table, its gaps to the floors, the reverberant rows without PESQ
  anchors     PESQ-WB of the 7 kHz low-pass anchor on the bundled 16 kHz speech

--limit N caps every run at the first N utterances of the bundled set (into ROOT/NAME-limitN): a quick check of
this script, whose figures are then not the README's. Figures the README takes from tests or benchmarks
(identity sanity, evaluation cost, codec bitrates, performance) are not here.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from codec.errors import UserError, run_cli  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path("runs/readme")


# --- what the README quotes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    """One evaluation the README quotes: its codecs, input conditions and metrics (None: every metric), and the
    number of the bundled set's first utterances it covers (None: all of them)."""

    name: str
    what: str
    codecs: tuple[str, ...]
    conditions: tuple[str, ...] = ()
    metrics: tuple[str, ...] | None = None
    utterances: int | None = None
    keep_audio: bool = False


RUNS = {
    spec.name: spec for spec in (
        # README "Quick start" and "Evaluation": `make run` = tools/run.sh = `lfsc-eval run --out runs/bundled
        # --keep-audio --jobs 2` with its default codecs, named here so a configured LFSC checkpoint does not add one
        RunSpec("bundled", "the `make run` table, the Whisper floor per language and the speaker model's chance "
                "levels (README: Quick start, Evaluation)", ("opus-6k", "codec2-3200"), keep_audio=True),
        # README "Evaluation": "On the bundled speech it reads clean 4.35, Opus 6k 3.00, Codec2 1200 1.86 (6 utterances)"
        RunSpec("distillmos", "the DistillMOS sentence (README: Evaluation)", ("identity", "opus-6k", "codec2-1200"),
                metrics=("distill_mos",), utterances=6),
        # README "Robustness sweeps": the sweep table, the gaps below it, and the reverberant rows without PESQ
        RunSpec("sweep", "the sweep table and the gap figures below it (README: Robustness sweeps)",
                ("opus-6k", "codec2-3200"), conditions=("white10", "reverb0.6", "tel"),
                metrics=("pesq_wb", "stoi", "cer", "distill_mos")),
        # README "Listening tests": "a 7 kHz low-pass keeps 16 kHz speech at PESQ-WB 4.4"
        RunSpec("anchors", "the 7 kHz anchor's PESQ-WB (README: Listening tests)", ("lowpass-7k",), metrics=("pesq_wb",)),
    )
}

# How the README's prose names codecs.
SPOKEN = {"identity": "clean", "opus-6k": "Opus 6k", "opus-12k": "Opus 12k", "codec2-3200": "Codec2 3200",
          "codec2-1200": "Codec2 1200", "lowpass-7k": "a 7 kHz low-pass", "lowpass-3.5k": "a 3.5 kHz low-pass"}
# Column names and decimals as the README prints them.
LABELS = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "estoi": "ESTOI", "si_sdr": "SI-SDR",
          "mel_distance": "Mel distance", "stft_distance": "STFT distance", "f0_rmse": "F0 RMSE (cents)",
          "f0_corr": "F0 correlation", "vuv_error": "V/UV error", "speaker_sim": "GE2E similarity",
          "distill_mos": "DistillMOS", "cer": "CER", "wer": "WER"}
DIGITS = {"pesq_wb": 2, "pesq_nb": 2, "distill_mos": 2, "f0_rmse": 0, "si_sdr": 1}  # 3 for the others
# The `make run` table: (header, metric, with its bootstrap CI). Its CER, floor and dCER are the mean of
# utterances' rates, as the table has quoted them since it was first written (the sweep table quotes corpus CER).
BUNDLED_COLUMNS = (("PESQ-WB", "pesq_wb", True), ("PESQ-NB", "pesq_nb", True), ("STOI", "stoi", False),
                   ("Mel distance", "mel_distance", False), ("F0 RMSE (cents)", "f0_rmse", True),
                   ("V/UV error", "vuv_error", False), ("GE2E similarity", "speaker_sim", False),
                   ("DistillMOS", "distill_mos", True))
SWEEP_COLUMNS = ("pesq_wb", "stoi", "distill_mos")  # then corpus CER with its CI


# --- formatting: small pure functions of summary.json's contents ----------------------------------------------------

def fmt(value: float | None, digits: int = 3) -> str:
    """A number as the README prints it ("–" for none); no minus sign on a value that rounds to zero."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def digits(metric: str) -> int:
    """Decimals the README gives a metric."""
    return DIGITS.get(metric, 3)


def estimate(e: dict | None, places: int = 3, ci: bool = True) -> str:
    """A summary estimate ({value, low, high, n}): "1.98 [1.93, 2.03]", the value alone without an interval (or
    when `ci` is False), "–" without values."""
    if not e or not e.get("n"):
        return "–"
    text = fmt(e["value"], places)
    if ci and e.get("low") is not None and math.isfinite(e["low"]) and math.isfinite(e["high"]):
        text += f" [{fmt(e['low'], places)}, {fmt(e['high'], places)}]"
    return text


def metric(summary: dict, codec: str, name: str) -> dict | None:
    """A codec's mean-of-utterances estimate of a metric (None when the run did not compute it)."""
    return summary["codecs"][codec]["metrics"].get(name)


def spoken(codec: str) -> str:
    """A codec as the README's prose names it."""
    return SPOKEN.get(codec, codec)


def duration(seconds: float) -> str:
    """A wall time as the README gives it: "42 s", "4 min 58 s", "1 h 3 min"."""
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60} s"
    return f"{total // 3600} h {total % 3600 // 60} min"


def row(cells: list[str]) -> str:
    """A Markdown table row."""
    return "| " + " | ".join(cells) + " |"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table: header, rule, rows."""
    return [row(header), "|---" * len(header) + "|", *(row(r) for r in rows)]


def bundled_table(summary: dict) -> list[str]:
    """The `make run` table (README, Evaluation)."""
    codecs = list(summary["codecs"])
    floor = metric(summary, codecs[0], "cer_orig") if codecs else None
    header = ["codec", "measured kbit/s", *(h for h, _, _ in BUNDLED_COLUMNS),
              f"CER, mean of utterances (floor {estimate(floor, ci=False)})", "dCER, mean of utterances"]
    rows = []
    for codec in codecs:
        bitrate = summary["codecs"][codec]["measured_bitrate"]
        rows.append([codec, fmt(None if bitrate is None else bitrate / 1000, 2),
                     *(estimate(metric(summary, codec, m), digits(m), ci) for _, m, ci in BUNDLED_COLUMNS),
                     estimate(metric(summary, codec, "cer"), ci=False), estimate(metric(summary, codec, "dcer"), ci=False)])
    return table(header, rows)


def corpus_cer_line(summary: dict) -> str:
    """Corpus CER with its CI and floor per codec: what the report's headline gives beside the table's mean."""
    parts = []
    for codec, g in summary["codecs"].items():
        corpus = g.get("corpus", {})
        parts.append(f"{codec} {estimate(corpus.get('cer'))} (floor {estimate(corpus.get('cer_orig'), ci=False)}, "
                     f"dCER {fmt(corpus.get('dcer'))})")
    return "Corpus CER [95% CI] (the report's headline; the table gives the mean of utterances): " + "; ".join(parts) + "."


def whisper_floor_line(summary: dict) -> str:
    """Whisper's corpus CER on the originals per language (README, Evaluation). The originals are the same for
    every codec, so the first codec's floor is every codec's."""
    codecs = list(summary["by_language"])
    langs = summary["by_language"][codecs[0]] if codecs else {}
    parts = []
    for lang, g in langs.items():
        floor = g.get("corpus", {}).get("cer_orig")
        parts.append(f"{lang} {fmt(floor['value'] * 100, 1) if floor else '–'} %")
    return "Whisper-base CER on the bundled set's originals (the floor): " + ", ".join(parts) + "."


def speaker_chance_lines(summary: dict) -> list[str]:
    """The speaker model's similarity between the set's own references: different speakers (chance), one speaker,
    and the equal-error threshold."""
    chance = summary.get("speaker_chance")
    if not chance:
        return ["(no speaker similarity in this run, so no chance levels)"]
    lines = [f"{chance['model']} between the references of the set ({chance['utterances']} utterances, "
             f"{chance['speakers']} speaker{'' if chance['speakers'] == 1 else 's'}):", ""]
    rows = []
    for key, what in (("different", "different speakers (chance)"), ("same", "same speaker, another utterance")):
        spread = chance[key]
        rows.append([what, str(spread["pairs"]), fmt(spread["mean"]), fmt(spread["p5"]), fmt(spread["p95"])])
    lines += table(["pairs of references", "pairs", "mean", "5th percentile", "95th percentile"], rows)
    if chance.get("eer_threshold") is not None:
        lines += ["", f"Equal-error threshold {fmt(chance['eer_threshold'])} (EER {fmt(chance['eer'] * 100, 1)} %): "
                      "above it a pair is more likely one speaker than two."]
    if chance.get("note"):
        lines += ["", f"Note: {chance['note']}."]
    if chance.get("failed"):
        lines += ["", f"{len(chance['failed'])} reference(s) gave no embedding: " + "; ".join(
            f"{Path(path).name}: {why}" for path, why in chance["failed"].items())]
    return lines


def distillmos_sentence(summary: dict) -> str:
    """DistillMOS per codec in the README's words (README, Evaluation)."""
    codecs = summary["codecs"]
    values = ", ".join(f"{spoken(c)} {estimate(metric(summary, c, 'distill_mos'), 2, ci=False)}" for c in codecs)
    n = max((g["n"] for g in codecs.values()), default=0)
    return f"On the bundled speech it reads {values} ({n} utterances)"


def sweep_name(codec: str) -> str:
    """A sweep row's name: a clean codec says so, a condition's floor is bold."""
    if "@" not in codec:
        return f"{codec} (clean)"
    if codec.startswith("identity@"):
        return f"**{codec}** (floor)"
    return codec


def sweep_table(summary: dict) -> list[str]:
    """The sweep table (README, Robustness sweeps), rows in the run's order: clean codecs, then per condition its
    floor and the codecs under it."""
    header = ["codec (input)", *(LABELS[m] for m in SWEEP_COLUMNS), "corpus CER [95% CI]"]
    rows = [[sweep_name(codec), *(estimate(metric(summary, codec, m), digits(m), ci=False) for m in SWEEP_COLUMNS),
             estimate(g.get("corpus", {}).get("cer"))] for codec, g in summary["codecs"].items()]
    return table(header, rows)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def gap_sentence(summary: dict, condition: str = "white10") -> str:
    """The gaps the README quotes below the sweep table: STOI with CIs and DistillMOS, per codec under `condition`."""
    gaps = {c: g for c, g in summary.get("robustness", {}).items() if c.endswith(f"@{condition}")}
    if not gaps:
        return f"(no codec under {condition} with its floor in this run)"
    names = {c: spoken(c.split("@", 1)[0]) for c in gaps}
    stoi = _join([f"{estimate(g['metrics'].get('stoi'))} for {names[c]}" for c, g in gaps.items()])
    mos = _join([estimate(g["metrics"].get("distill_mos"), 2, ci=False) for g in gaps.values()])
    return f"STOI gaps of {stoi}, DistillMOS gaps of {mos}."


def gap_table(summary: dict) -> list[str]:
    """Every conditioned codec's gap to its floor (codec minus identity under the same conditions, paired over
    utterances), with bootstrap 95% CIs: the report's "Under input conditions" table."""
    robustness = summary.get("robustness", {})
    shown = [m for m in summary["metrics"] if any(m in g["metrics"] for g in robustness.values())]
    header = ["codec", "floor", *(LABELS.get(m, m) + (" (mean of utterances)" if m in ("cer", "wer") else "")
                                  for m in shown)]
    rows = [[codec, g["floor"], *(estimate(g["metrics"].get(m), digits(m)) for m in shown)]
            for codec, g in robustness.items()]
    return table(header, rows)


def missing_line(summary: dict, condition_prefix: str = "reverb", name: str = "pesq_wb") -> str:
    """How many coded rows under a condition (identity's floors left out) have no value of a metric: the README's
    "8 of the 170 coded reverberant rows without PESQ"."""
    coded = [c for c in summary["codecs"]
             if any(part.startswith(condition_prefix) for part in c.split("@")[1:]) and not c.startswith("identity@")]
    missing = sum((metric(summary, c, name) or {}).get("missing", 0) for c in coded)
    total = sum(summary["codecs"][c]["n"] for c in coded)
    return f"{missing} of the {total} coded reverberant rows without PESQ ({', '.join(coded) or 'none'}; {LABELS[name]})"


def anchor_line(summary: dict, codec: str = "lowpass-7k") -> str:
    """The anchor's PESQ-WB in the README's words (one decimal), with the estimate behind it."""
    e = metric(summary, codec, "pesq_wb") if codec in summary["codecs"] else None
    value = fmt(e["value"], 1) if e and e["n"] else "–"
    return (f"{spoken(codec)} keeps 16 kHz speech at PESQ-WB {value} "
            f"(PESQ-WB {estimate(e, 3)}, {e['n'] if e else 0} utterances)")


# Per run, its figures: (title, lines from the summary).
FIGURES = {
    "bundled": (("The `make run` table (README: Evaluation)", lambda s: bundled_table(s) + ["", corpus_cer_line(s)]),
                ("The Whisper floor per language (README: Evaluation)", lambda s: [whisper_floor_line(s)]),
                ("Speaker-similarity chance levels of the bundled set", speaker_chance_lines)),
    "distillmos": (("The DistillMOS sentence (README: Evaluation)", lambda s: [distillmos_sentence(s)]),),
    "sweep": (("The sweep table (README: Robustness sweeps)", sweep_table),
              ("The gaps below it, under white10 (README: Robustness sweeps)", lambda s: [gap_sentence(s)]),
              ("Every gap to its floor, with 95% CIs (the report's \"Under input conditions\")", gap_table),
              ("Reverberant rows without PESQ (README: Robustness sweeps, alignment)", lambda s: [missing_line(s)])),
    "anchors": (("The 7 kHz anchor (README: Listening tests)", lambda s: [anchor_line(s)]),),
}


def command(spec: RunSpec, out_dir: Path, limit: int | None, jobs: int, cache: Path | None = None) -> str:
    """The `lfsc-eval run` command line that makes the same run."""
    parts = ["lfsc-eval run", *(f"--codec {c}" for c in spec.codecs), *(f"--condition {c}" for c in spec.conditions)]
    if spec.metrics:
        parts.append("--metrics " + " ".join(spec.metrics))
    count = utterance_count(spec, limit)
    if count is not None:
        parts.append(f"--limit {count}")
    if spec.keep_audio:
        parts.append("--keep-audio")
    parts.append(f"--jobs {jobs}")
    if cache is not None:
        parts.append(f"--cache {cache}")
    parts.append(f"--out {out_dir}")
    return " ".join(parts)


def utterance_count(spec: RunSpec, limit: int | None) -> int | None:
    """The first how many utterances of the bundled set a run covers (None: all)."""
    counts = [n for n in (spec.utterances, limit) if n is not None]
    return min(counts) if counts else None


def limit_note(limit: int | None) -> list[str]:
    """What the output says when --limit cut the runs short."""
    if limit is None:
        return []
    return [f"NOTE: --limit {limit}: every run covers at most the first {limit} utterances of the bundled set, so "
            "these are NOT the README's figures (a check of this script only).", ""]


# --- running -------------------------------------------------------------------------------------------------------

def run_folder(root: Path, name: str, limit: int | None) -> Path:
    """Where a run goes: ROOT/NAME, or ROOT/NAME-limitN for a cut-short check (so it never mixes with a full run)."""
    return root / (name if limit is None else f"{name}-limit{limit}")


def fresh(folder: Path) -> None:
    """Empty a run folder before its run, so no row of an earlier run (older code, other utterances) stays in the
    figures; refuse a folder that holds anything but a run."""
    from eval.run_folder import RUN_MANIFEST, has_rows

    if not folder.exists():
        return
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: choose another --out")
    if any(folder.iterdir()) and not ((folder / RUN_MANIFEST).is_file() or has_rows(folder)):
        raise UserError(f"{folder} holds something other than an eval run: not removing it; choose another --out")
    shutil.rmtree(folder)


@dataclass
class Done:
    """A finished run: its folder, summary.json, wall time and cache use."""

    folder: Path
    summary: dict
    seconds: float
    cache_hits: int
    cache_misses: int
    utterances: int


def evaluate(spec: RunSpec, folder: Path, limit: int | None, jobs: int, cache: Path | None = None,
             progress_bar: bool = False) -> Done:
    """Run `spec` through eval.runner.run (the engine of `lfsc-eval run`) into a fresh `folder` and read back the
    report's summary.json."""
    import json

    from codec.spec import sweep
    from codec.bundled_speech import default_manifest
    from eval.manifest import load_manifest
    from eval.runner import run

    manifest = default_manifest()
    utterances = load_manifest(manifest)
    count = utterance_count(spec, limit)
    if count is not None:
        utterances = utterances[:count]
    codecs = sweep(list(spec.codecs), list(spec.conditions)) if spec.conditions else list(spec.codecs)
    fresh(folder)
    start = time.perf_counter()
    result = run(utterances, codecs, folder, metrics=list(spec.metrics) if spec.metrics else None,
                 keep_audio=spec.keep_audio, jobs=jobs, cache_dir=cache or True, show_progress_bar=progress_bar,
                 source=f"manifest {Path(manifest).resolve()}")
    seconds = time.perf_counter() - start
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return Done(folder, summary, seconds, result.cache_hits, result.cache_misses, len(utterances))


def section(spec: RunSpec, done: Done, cmd: str, limited: bool = False) -> list[str]:
    """A run's figures under its command and wall time; `limited`: --limit cut the run short."""
    codecs = len(done.summary["codecs"])
    lines = [f"## {spec.name}: {spec.what}", "", f"    {cmd}", "",
             *(["(--limit: these are not the README's figures)", ""] if limited else []),
             f"{done.utterances} utterances x {codecs} codec{'' if codecs == 1 else 's'}, "
             f"{'metrics ' + ' '.join(spec.metrics) if spec.metrics else 'every metric'}: wall time "
             f"{duration(done.seconds)} on {os.cpu_count()} CPUs (eval cache: {done.cache_hits} hits, "
             f"{done.cache_misses} misses; an empty cache is all misses). Report: {done.folder / 'report.html'}", ""]
    skipped = done.summary.get("skipped") or {}
    if skipped:
        lines += [f"WARNING: {len(skipped)} utterance(s) could not be read and are not in these figures: "
                  + ", ".join(skipped), ""]
    for title, figure in FIGURES[spec.name]:
        lines += [f"### {title}", "", *figure(done.summary), ""]
    return lines


def _revision() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(RUNS), metavar="NAME",
                        help=f"rerun only these ({', '.join(RUNS)}; default: all, in that order)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most the first N utterances per run: a quick check, not the README's figures")
    parser.add_argument("--out", type=Path, default=DEFAULT_ROOT, metavar="ROOT", help=f"root of the run folders (default {DEFAULT_ROOT})")
    parser.add_argument("--jobs", type=int, default=2, metavar="J", help="processes for the CPU metrics (default 2, as make run)")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="eval cache folder (default: lfsc-eval's, so reruns are fast)")
    args = parser.parse_args(argv)

    def body() -> int:
        if args.limit is not None and args.limit < 1:
            raise UserError(f"--limit must be at least 1, got {args.limit}")
        names = [name for name in RUNS if name in (args.only or RUNS)]
        print(f"# README figures ({_revision()}, {time.strftime('%Y-%m-%d')})", "", *limit_note(args.limit), sep="\n",
              flush=True)
        status = 0
        for name in names:
            spec = RUNS[name]
            folder = run_folder(args.out, name, args.limit)
            cmd = command(spec, folder, args.limit, args.jobs, args.cache)
            print(f"readme_figures: running {name}: {cmd}", file=sys.stderr, flush=True)
            done = evaluate(spec, folder, args.limit, args.jobs, args.cache, progress_bar=sys.stderr.isatty())
            print("\n".join(section(spec, done, cmd, limited=args.limit is not None)), flush=True)
            status |= bool(done.summary.get("skipped"))
        return status

    return run_cli("readme_figures", body)


if __name__ == "__main__":
    sys.exit(main())
