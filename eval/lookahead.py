"""The lookahead sweep (`lfsc-eval lookahead`): LFSC coded live with each lookahead, against whole-file coding.

For every utterance and lookahead, the clip is pushed through a live stream (codec.streaming) in blocks of an
audio callback's size at its own rate, as the app's live mode would, and compared with the whole-file round trip:
how many of the tokens the stream committed are the whole file's (token agreement), how far its audio is from the
whole file's (SNR, dB), and its quality against the input through eval.pair, the scoring path of `lfsc-eval run`
(the same numbers as a run's). The stream's algorithmic latency is the most input it holds back, at the clip's rate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from codec.errors import UserError

DEFAULT_METRICS = ("pesq_wb", "stoi", "mel_distance")
BLOCK_SECONDS = 0.02  # what an audio callback hands over at a time
SNR_CEILING = 150.0  # dB: float rounding apart, the stream's audio is the whole file's
FILES = ("lookahead.json", "lookahead.md", "lookahead.png")


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """SNR of `other` against `reference` in dB, at most SNR_CEILING (equal signals)."""
    noise = float(np.sum((np.asarray(other, np.float64) - reference) ** 2))
    power = float(np.sum(np.asarray(reference, np.float64) ** 2))
    if noise == 0.0:
        return SNR_CEILING
    return min(SNR_CEILING, 10.0 * math.log10(max(power, 1e-30) / noise))


def streamed(codec, audio: np.ndarray, rate: int, lookahead: int | None, hop: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """`audio` at `rate` coded live by LFSC `codec` in BLOCK_SECONDS blocks: the decoded audio, the tokens the
    stream committed and its latency in samples at `rate`."""
    from codec.streaming import at_rate

    sent: list[np.ndarray] = []
    stream = at_rate(codec.native_stream(lookahead, hop, sent=sent.append), rate)
    block = max(1, round(BLOCK_SECONDS * rate))
    out = [stream.push(audio[i : i + block]) for i in range(0, len(audio), block)]
    out.append(stream.flush())
    return np.concatenate(out), np.concatenate(sent, axis=1), stream.latency


def measure_utterance(codec, audio: np.ndarray, rate: int, lookaheads: Sequence[int], hop: int | None,
                      metrics: Sequence[str]) -> dict:
    """One clip: the whole-file round trip's quality, and each lookahead's latency, deviation and quality."""
    from codec.audio import resample
    from eval import pair

    def quality(decoded: np.ndarray) -> dict:  # {metric: value or None}, and why each None is missing
        scored = pair.score(pair.prepare(audio, rate, decoded, rate), tuple(metrics))
        values = {name: result.get("value") for name, result in scored.items()}
        return {**values, "missing": {name: r["missing"] for name, r in scored.items() if "missing" in r}}

    whole = codec.roundtrip(audio, rate).audio
    whole_tokens = codec.tokens(resample(audio, rate, codec.sample_rate))
    rows = []
    for lookahead in lookaheads:
        decoded, tokens, latency = streamed(codec, audio, rate, lookahead, hop)
        rows.append({"lookahead": lookahead, "latency_samples": latency, "latency_ms": 1000.0 * latency / rate,
                     "token_agreement": float(np.mean(tokens == whole_tokens)), "snr_vs_whole_db": snr_db(whole, decoded),
                     "quality": quality(decoded)})
    return {"whole": quality(whole), "lookaheads": rows}


def sweep(codec, utterances: Sequence, lookaheads: Sequence[int], hop: int | None = None,
          metrics: Sequence[str] = DEFAULT_METRICS, progress: Callable[[str], None] | None = None) -> dict:
    """Every utterance through every lookahead (`measure_utterance`), and the means over the utterances."""
    from codec.audio import load_audio
    from codec.lfsc_codec import LFSCCodec

    if not isinstance(codec, LFSCCodec):
        raise UserError(f"{codec.name}: the lookahead sweep measures LFSC codecs (lfsc, lfsc-bf16)")
    from eval.metrics import FAST_METRICS

    unknown = [name for name in metrics if name not in FAST_METRICS]
    if unknown:
        raise UserError(f"the lookahead sweep computes the signal metrics {', '.join(FAST_METRICS)}; not "
                        f"{', '.join(unknown)}")
    if not lookaheads or min(lookaheads) < 0:
        raise UserError("--lookahead takes frame counts of 0 or more")
    per_utterance, skipped = {}, {}
    for utt in utterances:
        try:
            clip = load_audio(utt.audio_path)
        except UserError as exc:
            skipped[utt.id] = str(exc)
            continue
        per_utterance[utt.id] = measure_utterance(codec, clip.samples, clip.sample_rate, lookaheads, hop, metrics)
        if progress is not None:
            progress(utt.id)
    if not per_utterance:
        raise UserError("no utterance could be read: nothing to measure")
    return {"codec": codec.name, "settings": codec.settings, "hop_frames": hop, "block_seconds": BLOCK_SECONDS,
            "metrics": list(metrics), "summary": summarize(per_utterance, lookaheads, metrics),
            "utterances": per_utterance, "skipped": skipped}


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(present)) if present else None


def summarize(per_utterance: dict, lookaheads: Sequence[int], metrics: Sequence[str]) -> dict:
    """Means over the utterances: the whole file's quality, and per lookahead its latency (the clips' rates may
    differ: the mean of their latencies in ms), deviation and quality."""
    results = list(per_utterance.values())
    whole = {name: _mean([r["whole"][name] for r in results]) for name in metrics}
    rows = []
    for i, lookahead in enumerate(lookaheads):
        mine = [r["lookaheads"][i] for r in results]
        rows.append({"lookahead": lookahead, "latency_ms": _mean([m["latency_ms"] for m in mine]),
                     "token_agreement": _mean([m["token_agreement"] for m in mine]),
                     "snr_vs_whole_db": _mean([m["snr_vs_whole_db"] for m in mine]),
                     "quality": {name: _mean([m["quality"][name] for m in mine]) for name in metrics}})
    return {"utterances": len(results), "whole": whole, "lookaheads": rows}


def markdown(document: dict) -> str:
    """The sweep's table: one row per lookahead, the whole file's quality last."""
    summary, metrics = document["summary"], document["metrics"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"# Lookahead sweep: {document['codec']}, {summary['utterances']} utterances",
             "", f"Pushed in {1000 * document['block_seconds']:g} ms blocks; deviation is against whole-file coding "
             f"(SNR {SNR_CEILING:g} dB = equal up to float rounding).", "",
             "| lookahead (frames) | latency (ms) | token agreement | SNR vs whole (dB) | " + " | ".join(metrics) + " |",
             "|" + "---|" * (4 + len(metrics))]
    for row in summary["lookaheads"]:
        cells = [str(row["lookahead"]), f"{row['latency_ms']:.1f}", fmt(row["token_agreement"]),
                 f"{row['snr_vs_whole_db']:.1f}", *(fmt(row["quality"][name]) for name in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| whole file | - | 1 | - | " + " | ".join(fmt(summary["whole"][name]) for name in metrics) + " |")
    scored = [q for r in document["utterances"].values() for q in (r["whole"], *(x["quality"] for x in r["lookaheads"]))]
    missing = {name: why for q in scored for name, why in q["missing"].items()}
    if missing:
        lines += ["", "Missing (as in `lfsc-eval run`): " + "; ".join(f"{k}: {v}" for k, v in sorted(missing.items()))]
    if document["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v})" for k, v in document["skipped"].items())]
    return "\n".join(lines) + "\n"


def plot(document: dict, path: Path) -> None:
    """Latency against each quality metric and the deviation from whole-file coding, as a PNG."""
    from matplotlib.figure import Figure  # not pyplot: no global figure registry or backend switch

    summary = document["summary"]
    latency = [row["latency_ms"] for row in summary["lookaheads"]]
    panels = [(name, [row["quality"][name] for row in summary["lookaheads"]], summary["whole"][name])
              for name in document["metrics"]]
    panels += [("token agreement", [row["token_agreement"] for row in summary["lookaheads"]], 1.0),
               ("SNR vs whole file (dB)", [row["snr_vs_whole_db"] for row in summary["lookaheads"]], None)]
    fig = Figure(figsize=(3.2 * len(panels), 3.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, values, whole) in zip(axes[0], panels):
        ax.plot(latency, [np.nan if v is None else v for v in values], "o-")
        for x, y, row in zip(latency, values, summary["lookaheads"]):
            if y is not None:
                ax.annotate(str(row["lookahead"]), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
        if whole is not None:
            ax.axhline(whole, color="grey", linestyle="--", linewidth=1, label="whole file")
            ax.legend(fontsize=7)
        ax.set_xlabel("algorithmic latency (ms)")
        ax.set_title(name, fontsize=9)
    fig.suptitle(f"{document['codec']}: latency vs quality (labels: lookahead frames)", fontsize=10)
    fig.savefig(path, format="png", dpi=90)


def check_out(out: Path) -> None:
    """A UserError when `out` already holds a sweep's files: nothing is overwritten."""
    taken = [name for name in FILES if (out / name).exists()]
    if taken:
        raise UserError(f"{out}: already holds a lookahead sweep ({', '.join(taken)}): give a new --out")


def write(document: dict, out: Path) -> str:
    """Write lookahead.json, lookahead.md and lookahead.png into `out` (created); the Markdown. A folder that
    already holds a sweep is refused: nothing is overwritten."""
    from codec.files import write_text_atomic

    check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    report = markdown(document)
    write_text_atomic(out / "lookahead.json", json.dumps(document, indent=2))
    write_text_atomic(out / "lookahead.md", report)
    plot(document, out / "lookahead.png")
    return report
