"""Language labels as corpora and Lhotse manifests write them ('german', 'English', 'en_us', 'zh-CN', 'cmn_hans_cn'),
mapped to the ISO 639-1 codes our manifests use."""

from __future__ import annotations

import re

from eval.manifest import ISO_639_1

# Languages corpora name in words: MLS ('german', 'polish', ...), LibriSpeech ('English') and our bundled set's.
NAMES = {
    "dutch": "nl", "english": "en", "french": "fr", "german": "de", "italian": "it", "polish": "pl",
    "portuguese": "pt", "russian": "ru", "spanish": "es",
}
# ISO 639-3 codes corpora use for a language that ISO 639-1 names by its macrolanguage (FLEURS 'cmn_hans_cn').
THREE_LETTER = {"cmn": "zh"}


def iso_639_1(label: str) -> str | None:
    """The ISO 639-1 code a corpus's language label names (a name, or a code with a region or script after '-' or
    '_'), or None when it names none we know."""
    key = label.strip().lower()
    if key in NAMES:
        return NAMES[key]
    base = re.split(r"[-_]", key, maxsplit=1)[0]
    if base in ISO_639_1:
        return base
    return THREE_LETTER.get(base)
