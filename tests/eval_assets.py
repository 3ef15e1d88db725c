"""Bundled speech for the eval tests (assets/speech via eval.manifest; $LFSC_TEST_MANIFEST points at another set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def manifest_path() -> Path:
    """The manifest the eval tests run on."""
    from codec.bundled_speech import default_manifest

    return Path(os.environ.get("LFSC_TEST_MANIFEST") or default_manifest())


def utterances(lang: str | None = None, count: int = 3, max_seconds: float = 6.0):
    """The `count` shortest utterances (of `lang`) between 1 s and `max_seconds`; skips when the set is absent."""
    from eval.manifest import load_manifest

    path = manifest_path()
    if not path.is_file():
        pytest.skip(f"bundled speech manifest {path} is not present")
    chosen = [u for u in load_manifest(path) if (lang is None or u.lang == lang) and 1.0 <= u.duration <= max_seconds and u.text.strip()]
    if len(chosen) < count:
        pytest.skip(f"{path} has fewer than {count} usable {lang or ''} utterances")
    # spread over languages first, then by duration, so a few utterances still cover several languages
    chosen.sort(key=lambda u: u.duration)
    by_lang: dict[str, list] = {}
    for u in chosen:
        by_lang.setdefault(u.lang, []).append(u)
    picked = []
    while len(picked) < count:
        for group in by_lang.values():
            if group and len(picked) < count:
                picked.append(group.pop(0))
    return picked
