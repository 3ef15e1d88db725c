"""The bundled speech set (assets/speech): manifest valid, audio decodes, metadata true, attribution present."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from codec.bundled_speech import default_manifest
from eval.manifest import DURATION_TOLERANCE, load_manifest

LANGS = ("en", "es", "fr", "it", "ru")
LICENSES = {"CC-BY-SA-3.0", "CC-BY-3.0", "LGPL-2.1", "BSD-style (CMU ARCTIC)"}
MAX_BYTES = 8_000_000
KEYS = {"audio_filepath", "text", "duration", "lang", "speaker", "sample_rate", "source", "license"}
SA = "CC-BY-SA-3.0"


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    lines = default_manifest().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def utterances():
    return load_manifest(default_manifest())


def test_bundled_manifest_validates_and_every_line_is_loaded(utterances, entries) -> None:
    assert len(utterances) == len(entries)
    assert len({u.id for u in utterances}) == len(utterances)


def test_every_language_has_at_least_15_utterances(utterances) -> None:
    counts = Counter(u.lang for u in utterances)
    assert set(counts) == set(LANGS)
    assert all(counts[lang] >= 15 for lang in LANGS), counts


def test_every_file_decodes_to_mono_16_bit_speech_of_the_declared_length(utterances) -> None:
    for utt in utterances:
        info = sf.info(str(utt.audio_path))
        assert (info.format, info.subtype, info.channels) == ("FLAC", "PCM_16", 1), utt.id
        samples, rate = sf.read(str(utt.audio_path), dtype="float32")
        assert rate == utt.sample_rate and len(samples) == info.frames, utt.id
        assert np.all(np.isfinite(samples)), utt.id
        assert np.abs(samples).max() > 0.05, f"{utt.id}: silent"
        assert np.mean(np.abs(samples) >= 0.999) < 1e-4, f"{utt.id}: clipped"


def test_manifest_durations_and_rates_match_the_file_headers(entries) -> None:
    root = default_manifest().parent
    for entry in entries:
        info = sf.info(str(root / entry["audio_filepath"]))
        assert abs(entry["duration"] - info.frames / info.samplerate) <= DURATION_TOLERANCE, entry["audio_filepath"]
        assert entry["sample_rate"] == info.samplerate == 16000, entry["audio_filepath"]


def test_every_line_carries_speaker_source_and_a_known_licence(entries) -> None:
    for entry in entries:
        assert set(entry) == KEYS, entry["audio_filepath"]
        assert entry["speaker"] and entry["source"], entry["audio_filepath"]
        assert entry["license"] in LICENSES, entry["audio_filepath"]
    pairs = {(e["lang"], e["license"]) for e in entries if e["source"].startswith("asterisk-core-sounds")}
    assert pairs == {("en", SA), ("es", SA), ("fr", SA), ("it", "CC-BY-3.0"), ("ru", "CC-BY-3.0")}


def test_transcripts_are_clean_sentences_with_numbers_as_words(utterances) -> None:
    for utt in utterances:
        assert utt.text == utt.text.strip() and "  " not in utt.text, utt.id
        assert utt.text[-1] in ".!?", utt.id
        assert not any(ch.isdigit() for ch in utt.text), utt.id
        # stage notes and the source's lost characters ("non pu? essere") must not survive
        assert not set(utt.text) & {"[", "]", "\ufffd"} and "?" not in utt.text[:-1], utt.id
        assert 2.0 <= utt.duration <= 8.0, utt.id


def test_attribution_names_every_source_package_and_licence(entries) -> None:
    text = (default_manifest().parent / "ATTRIBUTION.md").read_text(encoding="utf-8")
    for entry in entries:
        package = entry["source"].split()[0]
        assert package in text, package
    for licence in ("CC-BY-SA-3.0", "CC-BY-3.0", "LGPL-2.1", "Carnegie Mellon University"):
        assert licence in text


def test_bundled_set_stays_small() -> None:
    root = default_manifest().parent
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < MAX_BYTES


@pytest.mark.slow
def test_whisper_reads_the_bundled_transcripts(utterances) -> None:
    """The transcripts say what the audio says: Whisper-base agrees with them to within 2 % CER per language."""
    pytest.importorskip("faster_whisper")
    from eval import asr

    wrong, total = Counter(), Counter()
    for utt in utterances:
        samples, rate = sf.read(str(utt.audio_path), dtype="float32")
        errors = asr.char_errors(utt.text, asr.transcribe(samples, rate, utt.lang), utt.lang)
        wrong[utt.lang] += errors.substitutions + errors.deletions + errors.insertions
        total[utt.lang] += errors.reference_length
    rates = {lang: wrong[lang] / total[lang] for lang in total}
    assert all(rate <= 0.02 for rate in rates.values()), rates
