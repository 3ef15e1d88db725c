"""What a batch run from the app covers: the clips (bundled, chosen in the library, or one's own folder or
manifest), narrowed to some languages, and a rough time for it."""

from __future__ import annotations

from pathlib import Path

from codec.errors import UserError

ALL_LANGUAGES = "all languages"
# Seconds of work per second of audio and per codec on a 2-core CPU, as benchmarks/eval_bench.py measured them
# (README, "Cost"): 0.43 for every metric, of which 0.23 is Whisper's CER on both signals; a codec such as LFSC on a
# CPU adds its own real-time factor on top.
SECONDS_PER_AUDIO_SECOND = {"fast": 0.2, "all": 0.43}


def load_source(path: str | Path) -> list:
    """The utterances of one's own folder of audio (sidecar .txt transcripts) or of a .jsonl manifest."""
    from eval.manifest import load_folder, load_manifest

    path = Path(path).expanduser()
    return load_folder(path) if path.is_dir() else load_manifest(path)


def languages(utterances: list) -> list[str]:
    """The languages the utterances are in, for the filter ('' for clips of no stated language)."""
    return sorted({u.lang for u in utterances})


def aim(utterances: list, language: str = ALL_LANGUAGES) -> list:
    """The utterances in `language` (all of them for ALL_LANGUAGES); refused when none is left."""
    chosen = [u for u in utterances if language == ALL_LANGUAGES or u.lang == language]
    if not chosen:
        raise UserError("no clip is left to evaluate: choose other clips or another language")
    return chosen


def estimate_seconds(utterances: list, runs: int, all_metrics: bool) -> float:
    """A rough time for `runs` codecs (conditions included) over the utterances."""
    audio = sum(u.duration for u in utterances)
    return audio * runs * SECONDS_PER_AUDIO_SECOND["all" if all_metrics else "fast"]


def describe(utterances: list, runs: int, all_metrics: bool) -> str:
    """One line: how many clips and round trips, how much audio, and about how long."""
    audio = sum(u.duration for u in utterances)
    seconds = estimate_seconds(utterances, runs, all_metrics)
    about = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{max(seconds, 1):.0f} s"
    return (f"{len(utterances)} clips ({audio:.0f} s of audio) x {runs} codec runs = {len(utterances) * runs} round "
            f"trips: roughly {about} on a CPU")
