"""Where the bundled speech set lives (assets/speech: audio and a JSON-lines manifest), and a clip of it."""

from __future__ import annotations

import json
from pathlib import Path


def default_manifest() -> Path:
    """Path of the bundled multilingual speech manifest (assets/speech/manifest.jsonl)."""
    return Path(__file__).resolve().parent.parent / "assets" / "speech" / "manifest.jsonl"


def first_clip(lang: str = "en") -> Path | None:
    """The audio file of the bundled set's first utterance in `lang` (else its first); None when not bundled."""
    manifest = default_manifest()
    if not manifest.exists():
        return None
    entries = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = next((entry for entry in entries if entry["lang"] == lang), entries[0])
    return (manifest.parent / chosen["audio_filepath"]).resolve()
