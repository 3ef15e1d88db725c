"""Per-language text normalisation applied to reference and ASR transcripts before CER/WER.

What `normalize(text, lang)` does, in order (VERSION names this exact recipe; every report records it):
1. Unicode NFKC (full-width forms, ligatures and compatibility characters folded).
2. Lower case (str.lower).
3. Numbers: every run of ASCII digits becomes words in the utterance's language with `num2words`
   ("21" -> "twenty-one" in en, "veintiuno" in es); English ordinals "1st/2nd/3rd/4th" become ordinal words.
   Decimal and thousands separators are not interpreted ("3.5" -> "three five" after step 5).
   Languages num2words does not know keep their digits (listed by `numbers_supported`).
4. Apostrophes (' and U+2019) are deleted, joining the pieces ("don't" -> "dont", "l'homme" -> "lhomme").
5. Every other Unicode punctuation (category P*) or symbol (S*) character becomes a space.
6. Whitespace runs fold to one space; leading and trailing space removed.
Accents and other diacritics are KEPT, so an accent error counts as a character error (Asterisk's Spanish
transcripts are written without accents, which shows up as CER against an accent-writing ASR).
Chinese is not converted between traditional and simplified script.

`for_cer(text, lang)` is the normalised text CER is computed on: for unsegmented scripts (zh, ja, th, lo,
my, km, bo) all spaces are removed; for other languages spaces are kept and count as characters.
WER is only defined for languages written with spaces between words (`has_words`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

VERSION = "lfsc-textnorm/1 (NFKC, lower, num2words digits, apostrophes joined, Unicode P*/S* -> space, accents kept)"
UNSEGMENTED = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo"})

_APOSTROPHES = "'\u2019\u02bc"
_DIGITS = re.compile(r"\d+")
_EN_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")


def _base(lang: str) -> str:
    return lang.lower().replace("_", "-").split("-")[0]


@lru_cache(maxsize=None)
def numbers_supported(lang: str) -> bool:
    """Whether digits are spelt out for this language (num2words knows it)."""
    try:
        from num2words import num2words

        num2words(1, lang=_base(lang))
        return True
    except (ImportError, NotImplementedError, OverflowError):
        return False


def _spell_numbers(text: str, lang: str) -> str:
    from num2words import num2words

    code = _base(lang)
    if code == "en":
        text = _EN_ORDINAL.sub(lambda m: f" {num2words(int(m.group(1)), lang='en', to='ordinal')} ", text)
    return _DIGITS.sub(lambda m: f" {num2words(int(m.group(0)), lang=code)} ", text)


def normalize(text: str, lang: str) -> str:
    """Normalise a transcript for scoring (see the module docstring for the exact steps)."""
    text = unicodedata.normalize("NFKC", text).lower()
    if numbers_supported(lang):
        text = _spell_numbers(text, lang)
        text = unicodedata.normalize("NFKC", text).lower()
    text = "".join("" if ch in _APOSTROPHES else " " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(text.split())


def has_words(lang: str) -> bool:
    """Whether the language separates words with spaces, so WER is meaningful."""
    return _base(lang) not in UNSEGMENTED


def for_cer(text: str, lang: str) -> str:
    """The normalised text CER is computed on (spaces removed for unsegmented scripts)."""
    text = normalize(text, lang)
    return text if has_words(lang) else text.replace(" ", "")
