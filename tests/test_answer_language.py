"""A verified answer sentence put into the question's language (rag.answer.language)."""

from __future__ import annotations

from rag.answer.language import cleaned, off_language, says_the_same
from tests.fakes import BilingualEncoder

FRENCH = "Le télétravail est possible 2 jours par semaine."
ENGLISH = "Telework is possible 2 days per week."


def test_a_sentence_half_in_each_language_is_off_the_questions() -> None:
    assert off_language("Les IT support hours sont de 8 h 30 à 18 h, du lundi au vendredi.", "en")
    assert not off_language(ENGLISH, "en")


def test_the_translation_is_its_first_line_without_label_or_quotes() -> None:
    assert cleaned(f'Translation: "{ENGLISH}"\n\nI kept the figures.') == ENGLISH
    assert cleaned(f"« {ENGLISH} »") == ENGLISH


def test_a_translation_is_kept_only_when_it_says_the_same() -> None:
    encode = BilingualEncoder().encode
    assert says_the_same(FRENCH, ENGLISH, "en", encode)
    assert not says_the_same(FRENCH, ENGLISH.replace("2", "3"), "en", encode), "a figure"
    assert not says_the_same(FRENCH, FRENCH, "en", encode), "not translated"
    other = "A hotel night in Paris costs 2 euros."
    assert not says_the_same(FRENCH, other, "en", encode), "another meaning"
    assert not says_the_same(FRENCH, ENGLISH, "en", None), "nothing vouches for it"
    assert not says_the_same(FRENCH, "", "en", encode)
