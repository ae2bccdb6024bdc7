"""Words of a text (rag.text): the spans the verifier quotes from a question."""

from __future__ import annotations

from rag.text import content_stems, content_words


def test_content_words_slice_back_to_the_words_of_the_text() -> None:
    text = "İSTANBUL : l'Indemnité de repas, 2,50 euros ?"
    words = content_words(text, "fr")
    spans = [text[s:e] for s, e, _ in words]
    assert spans == ["İSTANBUL", "Indemnité", "repas", "2", "50", "euros"]
    assert {stem for _, _, stem in words} == content_stems(text, "fr")
    assert content_words("de la le ?", "fr") == [] and content_words("", "en") == []
