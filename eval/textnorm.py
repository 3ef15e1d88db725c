"""Per-language text normalisation applied to reference and ASR transcripts before CER/WER.

Both texts go through the same steps, so a difference that survives them is an error the ASR made:
1. Unicode NFKC and lower case; every apostrophe variant (U+2018, U+2019, U+02BC, backtick, acute, prime) becomes
   "'", so contractions and elisions read the same whichever one a transcript uses.
2. Acronyms written with dots become one word ("P.B.X." -> "pbx"), as an ASR writes them.
3. Whisper's own normaliser for the language (whisper-normalizer's en, es, fr, ru, zh and ar ones, Spanish's rules
   for it, the basic one with marks kept elsewhere): brackets and parentheses dropped,
   punctuation and symbols to spaces, so elisions split ("n'a" -> "n a", as "n’a" and "nʼa" do); numbers read to
   digits with their language's separators ("1,000" en, "1.000" es/it, "1 000" fr/ru -> "1000"; "3,5" -> "3.5");
   in English also contractions expanded ("don't" -> "do not"), British spellings made American, fillers
   (uh, um) dropped, diacritics removed, and currency kept with its number ("five dollars" -> "$5"); in Russian
   "ё" -> "е" (optional in Russian spelling).
4. Digits spelt out by num2words in the language ("1000" -> "one thousand", "3.5" -> "tres punto cinco",
   "21st" -> "twenty first", "$5" -> "five dollars"). Where step 3 reads spelled numbers back to digits
   (`reads_numbers`: en, es, fr, it), "1,000", "1000" and "one thousand" all end as "one thousand". Steps 3 and 4
   run twice, so num2words' words are read back as the ASR's are: Whisper's English normaliser reads successive
   single digits as one number, so "1, 2, 3" and "one two three" both end as "one hundred and twenty three".
5. In Spanish and Italian "uno" and "una" become "un": Whisper's normaliser leaves the words for one (also the
   articles) as they are, while num2words spells the digit 1 "uno" whatever the noun ("1 mensaje" is "un mensaje").
6. Symbols left over (num2words' hyphens and commas) become spaces; whitespace runs fold to one space.
Accents are KEPT outside English: in es/fr/it they are spelling ("esta"/"está", "si"/"sí", "ou"/"où" are
different words), so an ASR that drops one made an error. `number_limit` says where numbers are not normalised
reliably (ru: num2words spells the masculine nominative, so "21 сообщения" read "двадцать одно" counts an error).

`for_cer(text, lang)` is the normalised text CER is computed on: for unsegmented scripts (zh, ja, th, lo,
my, km, bo) all spaces are removed; for other languages spaces are kept and count as characters.
WER is only defined for languages written with spaces between words (`has_words`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable

VERSION = ("lfsc-textnorm/2 (NFKC, lower, apostrophes unified, dotted acronyms joined, whisper-normalizer 0.1.15 "
           "per language, num2words digits, es/it uno/una -> un, symbols -> space, accents kept except en)")
UNSEGMENTED = frozenset({"zh", "ja", "th", "lo", "my", "km", "bo"})

_APOSTROPHES = str.maketrans(dict.fromkeys("\u2018\u2019\u02bc`\u00b4\u2032", "'"))
_DOTTED_ACRONYM = re.compile(r"(?<!\w)[^\W\d_](?:\.[^\W\d_])+\.?(?!\w)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_EN_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)\b")  # Whisper's English normaliser writes "twenty-first" "21st"
_MONEY = re.compile(r"([$£€¢])(\d+(?:\.\d+)?)")  # Whisper's English normaliser keeps these before their number
_CURRENCIES = {"$": "USD", "£": "GBP", "€": "EUR", "¢": "USD"}
_ONE = {"es": {"uno": "un", "una": "un"}, "it": {"uno": "un", "una": "un"}}


def _base(lang: str) -> str:
    return lang.lower().replace("_", "-").split("-")[0]


def _italian():
    from whisper_normalizer.international import SpanishTextNormalizer

    class ItalianTextNormalizer(SpanishTextNormalizer):
        """Spanish's rules in Italian: dots group thousands, commas separate decimals, un/uno/una stay words."""

        language = "it"

    return ItalianTextNormalizer()


def _whisper_factories() -> dict[str, Callable[[], Callable[[str], str]]]:
    from whisper_normalizer import international
    from whisper_normalizer.english import EnglishTextNormalizer

    return {"en": EnglishTextNormalizer, "es": international.SpanishTextNormalizer,
            "fr": international.FrenchTextNormalizer, "it": _italian, "ru": international.RussianTextNormalizer,
            "zh": international.ChineseTextNormalizer, "ar": international.ArabicTextNormalizer}


# Languages whose Whisper normaliser reads spelled numbers back to digits (text2num), so that digits and words meet.
_READS_NUMBERS = frozenset({"en", "es", "fr", "it", "zh"})


@lru_cache(maxsize=None)
def _whisper(lang: str) -> Callable[[str], str]:
    """Whisper's normaliser for the language; the basic one (marks kept: they are vowels in many scripts) otherwise."""
    factory = _whisper_factories().get(lang)
    if factory is not None:
        return factory()
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer(preserve_marks=True)


@lru_cache(maxsize=None)
def numbers_supported(lang: str) -> bool:
    """Whether digits are spelt out for this language (num2words knows it)."""
    try:
        from num2words import num2words

        num2words(1, lang=_base(lang))
        return True
    except (ImportError, NotImplementedError, OverflowError):
        return False


def reads_numbers(lang: str) -> bool:
    """Whether spelled numbers and digits end in one form for this language (its normaliser reads words back)."""
    return _base(lang) in _READS_NUMBERS


def number_limit(lang: str) -> str:
    """What the normaliser cannot do with this language's numbers ("" when digits and spelled numbers meet)."""
    if reads_numbers(lang):
        return ""
    if numbers_supported(lang):
        return ("digits are spelt in num2words' one form (masculine nominative), and spelled numbers are not read "
                "back: a number the ASR spells in another gender or case counts as an error")
    return "digits are kept as digits: a number spelled on one side and written in digits on the other counts as an error"


def _spell(digits: str, lang: str) -> str:
    from num2words import num2words

    # a float, not a Decimal: num2words 0.5.14 drops a Decimal's fraction in Italian
    value = float(digits) if "." in digits else int(digits)
    try:
        return f" {num2words(value, lang=lang)} "
    except (NotImplementedError, OverflowError):
        return digits


def _money(match: re.Match, lang: str) -> str:
    from num2words import CONVERTER_CLASSES, num2words

    symbol, amount = match.groups()
    code = _CURRENCIES[symbol]
    if "." in amount:
        return f" {num2words(float(amount), lang=lang, to='currency', currency=code)} "
    forms = CONVERTER_CLASSES[lang].CURRENCY_FORMS[code][1 if symbol == "¢" else 0]
    return f" {num2words(int(amount), lang=lang)} {CONVERTER_CLASSES[lang].pluralize(int(amount), forms)} "


def _spell_numbers(text: str, lang: str) -> str:
    from num2words import num2words

    if lang == "en":
        text = _MONEY.sub(lambda m: _money(m, lang), text)
        text = _EN_ORDINAL.sub(lambda m: f" {num2words(int(m.group(1)), lang='en', to='ordinal')} ", text)
    return _NUMBER.sub(lambda m: _spell(m.group(0), lang), text)


def normalize(text: str, lang: str) -> str:
    """Normalise a transcript for scoring (see the module docstring for the exact steps)."""
    code = _base(lang)
    text = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    text = _DOTTED_ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text)
    # Twice: the second pass reads num2words' words back as the ASR's are read ("1, 2, 3" -> "one two three" ->
    # "123", which is what Whisper's English normaliser makes of a spoken "one two three").
    for _ in range(2):
        text = _whisper(code)(text)
        if numbers_supported(code):
            text = _spell_numbers(text, code)
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    ones = _ONE.get(code, {})
    return " ".join(ones.get(word, word) for word in text.split())


def has_words(lang: str) -> bool:
    """Whether the language separates words with spaces, so WER is meaningful."""
    return _base(lang) not in UNSEGMENTED


def for_cer(text: str, lang: str) -> str:
    """The normalised text CER is computed on (spaces removed for unsegmented scripts)."""
    text = normalize(text, lang)
    return text if has_words(lang) else text.replace(" ", "")
