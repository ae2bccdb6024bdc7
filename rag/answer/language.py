"""An answer sentence in the question's language.

Where the sources are in the other language than the question, the 1.5B model, asked
in the sources' language to answer in the question's, still writes some sentences in
the sources' language or half in each: the demo's "What are the IT support hours?"
got "Les IT support hours sont de 8 h 30 à 18 h, du lundi au vendredi [1]." Such a
verified sentence is translated by the LLM, and the translation replaces it only when
it says the same thing: in the question's language, the same figures, and close to the
sentence in the multilingual space. Otherwise the verified sentence stays as it is: a
right answer in the other language beats none.

No library does this: the translation is the service's own LLM, the check is the
verifier's own tools (figures, the multilingual encoder)."""

from __future__ import annotations

from rag.answer.evidence import Encode, numbers
from rag.text import detect_language

# A translation and its sentence, by the multilingual encoder: the embedded model's
# translations of seven sentences of the demo's handbook and FAQ scored 0.66-0.92 with
# their own sentence, at most 0.44 with another's.
LEAST_SIMILARITY = 0.6


def off_language(sentence: str, lang: str) -> bool:
    """Is the sentence, mostly, in another language than `lang`?"""
    return detect_language(sentence, default=lang) != lang


def cleaned(translation: str) -> str:
    """The translation's first line, without the quotes or label a model may add."""
    line = next((x for x in translation.strip().splitlines() if x.strip()), "").strip()
    head, colon, rest = line.partition(":")
    if colon and head.strip().lower() in {"translation", "traduction", "english", "anglais"}:
        line = rest.strip()
    return line.strip("\"'«» \u201c\u201d").strip()


def says_the_same(sentence: str, translation: str, lang: str, encode: Encode | None) -> bool:
    """Is `translation` the sentence, in `lang`, saying the same: the same figures
    (a time on the hour however written), close in the multilingual space? Without
    the encoder nothing vouches for it."""
    if not translation or encode is None or off_language(translation, lang):
        return False
    if numbers(translation) != numbers(sentence):
        return False
    vectors = encode([sentence, translation])
    return float(vectors[0] @ vectors[1]) >= LEAST_SIMILARITY
