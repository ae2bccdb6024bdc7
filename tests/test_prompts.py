"""How the answer's prompt is put together from the retrieved passages."""

from __future__ import annotations

from types import SimpleNamespace

from rag.answer.prompts import build_prompt


def words(text: str) -> int:
    return len(text.split())


def hit(doc: int, text: str, title: str = "Congés") -> SimpleNamespace:
    return SimpleNamespace(
        document=SimpleNamespace(id=doc, title=f"{title} {doc}"),
        chunk=SimpleNamespace(text=text, page_start=1, page_end=1),
    )


QUESTION = "Combien de jours de congé pour un mariage ?"
A = "Le mariage donne droit à 5 jours de congé."
B = "Le PACS donne droit à 4 jours de congé."
C = "La naissance donne droit à 3 jours de congé."


def user(prompt) -> str:  # type: ignore[no-untyped-def]
    return prompt.messages[-1]["content"]


def test_sentences_shared_by_overlapping_chunks_are_given_once() -> None:
    # Neighbouring chunks overlap: the second one starts with the first one's end.
    hits = [hit(1, f"{A} {B}"), hit(1, f"{B} {C}")]
    prompt = build_prompt(QUESTION, hits, "fr", words, 4096, 384)  # type: ignore[arg-type]
    assert user(prompt).count(B) == 1
    assert f"[2] (p. 1)\n{C}" in user(prompt), "same document as [1]: its title is not repeated"
    assert prompt.sources == 2 and prompt.repeats == 0


def test_a_passage_with_nothing_new_gives_its_place_to_the_next_hit() -> None:
    hits = [hit(1, f"{A} {B}"), hit(2, B), hit(3, C), hit(4, "Autre chose.")]
    prompt = build_prompt(QUESTION, hits, "fr", words, 4096, 384, limit=2)  # type: ignore[arg-type]
    assert prompt.hits == [hits[0], hits[2]] and prompt.repeats == 1
    assert "[2] Congés 3 (p. 1)\n" + C in user(prompt), "numbered in order, no gap"
    assert "Autre chose" not in user(prompt), "the limit holds"
    assert prompt.left_out == 0


def test_sources_that_do_not_fit_are_counted() -> None:
    hits = [hit(n, f"Phrase {n} " + "mot " * 40) for n in range(1, 6)]
    prompt = build_prompt(QUESTION, hits, "fr", words, 600, 384, limit=4)  # type: ignore[arg-type]
    assert 0 < prompt.sources < 4
    assert prompt.left_out == 4 - prompt.sources
