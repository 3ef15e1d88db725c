"""Text normalisation and error counting for CER/WER."""

from __future__ import annotations

import pytest

from eval import asr, textnorm


@pytest.mark.parametrize("text, lang, expected", [
    ("Hello, World!  1, 2, 3.", "en", "hello world one two three"),
    ("Press the 21st key.", "en", "press the twenty first key"),
    ("Don’t stop", "en", "dont stop"),
    ("¿Qué hora es? Son las 3.", "es", "qué hora es son las tres"),
    ("L'homme a 42 ans « oui ».", "fr", "lhomme a quarante deux ans oui"),
    ("Привет, 5 минут!", "ru", "привет пять минут"),
    ("Ho 7 anni.", "it", "ho sette anni"),
    ("你好，世界！", "zh", "你好 世界"),
])
def test_normalize(text, lang, expected):
    assert textnorm.normalize(text, lang) == expected


def test_unsegmented_scripts_use_cer_without_spaces_and_have_no_wer():
    assert textnorm.for_cer("你好，世界！", "zh") == "你好世界"
    assert textnorm.for_cer("hello, world", "en") == "hello world"
    with pytest.raises(ValueError):
        asr.word_errors("你好", "你好", "zh")


def test_digits_and_words_agree_and_accents_count():
    assert asr.cer("one two three", "1, 2, 3.", "en") == 0.0
    assert asr.cer("qué", "que", "es") == pytest.approx(1 / 3)


def test_error_counts_are_exact_sums():
    e = asr.char_errors("abcd", "abxde", "en")
    assert (e.hits, e.substitutions, e.deletions, e.insertions) == (3, 1, 0, 1)
    assert e.reference_length == 4 and e.rate == pytest.approx(0.5)
    w = asr.word_errors("the cat sat", "the cat", "en")
    assert (w.hits, w.deletions, w.rate) == (2, 1, pytest.approx(1 / 3))
    empty = asr.char_errors("abc", "", "en")
    assert empty.deletions == 3 and empty.rate == 1.0
    with pytest.raises(ValueError):
        asr.char_errors("...", "abc", "en")
