"""Content-hash cache of evaluation results, safe against SIGKILL.

An entry is keyed by (audio sha256, codec name + settings, metric name + version) and stored as one small JSON
file written through `codec.files.replacing` (a temporary name renamed over the target), so a run
killed at any moment leaves either the whole entry or none. Leftover temporary files are ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from codec.files import write_text_atomic


def default_dir() -> Path:
    """$LFSC_CACHE/eval, else $XDG_CACHE_HOME/lfsc-workbench/eval, else ~/.cache/lfsc-workbench/eval."""
    root = os.environ.get("LFSC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lfsc-workbench"
    )
    return Path(root) / "eval"


def audio_sha256(samples: np.ndarray, sample_rate: int) -> str:
    """Hash of the float32 samples and their rate (the content, independent of file name and format)."""
    h = hashlib.sha256(f"{int(sample_rate)}:".encode())
    h.update(np.ascontiguousarray(samples, dtype=np.float32).tobytes())
    return h.hexdigest()


def entry_key(audio_sha: str, codec_key: str, metric_key: str) -> str:
    """The file name of one cache entry."""
    return hashlib.sha256(f"{audio_sha}\n{codec_key}\n{metric_key}".encode()).hexdigest()


class Cache:
    """Entries under one folder; `root=None` disables caching (every lookup misses, nothing is written)."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, audio_sha: str, codec_key: str, metric_key: str) -> dict | None:
        """The stored entry, or None."""
        if self.root is None:
            self.misses += 1
            return None
        try:
            value = json.loads(self._path(entry_key(audio_sha, codec_key, metric_key)).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, audio_sha: str, codec_key: str, metric_key: str, value: dict) -> None:
        """Store an entry atomically."""
        if self.root is not None:
            write_text_atomic(self._path(entry_key(audio_sha, codec_key, metric_key)), json.dumps(value))
