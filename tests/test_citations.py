from __future__ import annotations

import pytest

from rag.answer.citations import best_quote, parse_citations, support_score


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Cinq jours [1].", [[1]]),
        ("Cinq jours [1, 2].", [[1, 2]]),
        ("Cinq jours [1][2].", [[1, 2]]),
        ("Cinq jours [1; 3].", [[1, 3]]),
        ("Cinq jours [1-3].", [[1, 2, 3]]),
        ("Cinq jours. [2]", [[2]]),
        ("Cinq jours [1]. Quatre pour un PACS [2].", [[1], [2]]),
        ("Pas de citation ici.", [[]]),
    ],
)
def test_marker_forms(answer: str, expected: list[list[int]]) -> None:
    parsed = parse_citations(answer, n_sources=3)
    assert [s.sources for s in parsed.statements] == expected
    assert parsed.dropped == []


def test_out_of_range_numbers_are_dropped_and_reported() -> None:
    parsed = parse_citations("Cinq jours [1, 7]. Quatre jours [9]. Rien [0].", n_sources=2)
    assert parsed.dropped == [0, 7, 9]
    assert parsed.text == "Cinq jours [1]. Quatre jours. Rien."
    assert [s.sources for s in parsed.statements] == [[1], [], []]


def test_statement_text_has_no_markers() -> None:
    parsed = parse_citations("Le mariage donne droit à 5 jours [1].", n_sources=1)
    assert parsed.statements[0].text == "Le mariage donne droit à 5 jours."


def test_support_is_high_for_a_faithful_statement_and_low_otherwise() -> None:
    passage = "Le mariage du salarié donne droit à 5 jours de congé payé."
    assert (
        support_score("Un mariage donne droit à cinq jours, soit 5 jours de congés.", passage, "fr")
        > 0.6
    )
    assert support_score("Le PACS donne droit à 4 jours.", passage, "fr") < 0.5
    assert (
        support_score(
            "Hotels are capped at 120 euros.", "Hotel nights are capped at 120 euros.", "en"
        )
        == 1.0
    )


def test_best_quote_is_the_matching_sentence_with_offsets() -> None:
    passage = (
        "Horaires de 8 h à 19 h. Le mariage donne droit à 5 jours. La mutuelle est prise en charge."
    )
    quote, start, end = best_quote("mariage 5 jours", passage, "fr")
    assert quote == "Le mariage donne droit à 5 jours."
    assert passage[start:end] == quote


def test_sentences_ignore_hard_wrapped_lines_and_dotted_names() -> None:
    from rag.text import sentences

    text = (
        "Les mots de passe comptent au moins\n14 caractères. Un courriel suspect se "
        "signale à securite@nordlys.example.\n\nMutuelle\nLa mutuelle est prise en charge."
    )
    parts = [text[s:e] for s, e in sentences(text)]
    assert parts == [
        "Les mots de passe comptent au moins\n14 caractères.",
        "Un courriel suspect se signale à securite@nordlys.example.",
        "Mutuelle\nLa mutuelle est prise en charge.",
    ]


def test_focus_keeps_the_most_related_sentences_most_related_first() -> None:
    from rag.answer.prompts import focus

    passage = (
        "Chaque salarié acquiert 25 jours de congés payés par an. Le fractionnement donne "
        "droit à 2 jours. Le mariage du salarié donne droit à 5 jours de congé payé."
    )
    kept = focus(
        passage, "Combien de jours de congé pour un mariage ?", "fr", 20, lambda t: len(t.split())
    )
    assert kept == (
        "Le mariage du salarié donne droit à 5 jours de congé payé. "
        "Le fractionnement donne droit à 2 jours."
    ), "the best sentence comes first, the 25-day one does not fit"
    from rag.answer.evidence import term_weights
    from rag.text import content_stems, sentences

    weights = term_weights(
        content_stems("Combien de jours de congé pour un mariage ?", "fr"),
        [content_stems(passage[s:e], "fr") for s, e in sentences(passage)],
    )
    assert weights["mariag"] > weights["jour"], "the rare word weighs more"
    whole = focus(passage, "Combien de jours de congé pour un mariage ?", "fr", 0, len)
    assert whole.startswith("Chaque salarié"), "budget 0: the whole passage, in order"


def test_focus_cuts_a_run_on_sentence_to_its_matching_words() -> None:
    from rag.answer.prompts import focus

    filler = " ".join(f"pièce{i}" for i in range(60))
    passage = f"{filler} le mariage donne droit à 5 jours {filler}"
    kept = focus(passage, "Combien de jours pour un mariage ?", "fr", 20, lambda t: len(t.split()))
    assert len(kept.split()) <= 20, "a sentence over the budget no longer fills the source"
    assert "mariage" in kept


TELEWORK = (
    "Le télétravail est possible jusqu'à 2 jours par semaine, après la période d'essai. "
    "Une indemnité de 2,50 euros est versée par jour télétravaillé, dans la limite de "
    "50 euros par mois."
)


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.parametrize(
    ("question", "kept_first"),
    [
        ("Quel est le montant journalier de l'indemnité de télétravail ?", "Une indemnité"),
        ("Combien de jours de télétravail par semaine ?", "Le télétravail"),
    ],
)
def test_focus_puts_first_the_sentence_counting_by_the_period_asked(
    question: str, kept_first: str
) -> None:
    from rag.answer.prompts import focus

    kept = focus(TELEWORK, question, "fr", 20, words)
    assert kept.startswith(kept_first), kept
    assert words(kept) <= 20, "the budget still cuts the other sentence away"


def test_focus_across_languages_ranks_by_closeness_and_the_rate_asked() -> None:
    from rag.answer.prompts import focus

    def close(parts: list[str]) -> list[float]:  # the real encoder's cosines
        return [{"Le": 0.36, "Une": 0.26}[p.split()[0]] for p in parts]

    # The telework sentence is closer; the allowance one, counting per day, counts
    # twice for a question asking a daily figure, and comes first.
    daily = focus(TELEWORK, "What is the daily allowance?", "en", 20, words, closeness=close)
    assert daily.startswith("Une indemnité") and "2 jours" not in daily
    plain = focus(TELEWORK, "What about remote work?", "en", 20, words, closeness=close)
    assert plain.startswith("Le télétravail") and "2,50" not in plain


def test_long_titles_are_shortened_in_the_prompt_only() -> None:
    from types import SimpleNamespace

    from rag.answer.prompts import PROMPT_TITLE_CHARS, _source_block

    title = "Les conditions d'achat des timbres fiscaux dus pour le séjour d'un étranger " * 2
    hit = SimpleNamespace(
        document=SimpleNamespace(title=title), chunk=SimpleNamespace(page_start=1, page_end=1)
    )
    # The line after the fence's opening tag: "[1] <title> (p. 1)".
    first_line = _source_block(1, hit, "texte", "fr").splitlines()[1]  # type: ignore[arg-type]
    assert first_line.endswith("… (p. 1)") and len(first_line) <= PROMPT_TITLE_CHARS + 12


@pytest.mark.parametrize(
    "pointer",
    [
        "This is supported by sources [1] and [2].",
        "Sources [1] and [2] support this answer.",
        "Cette information est confirmée par les sources [1] et [2].",
    ],
)
def test_a_sentence_that_only_points_at_sources_cites_the_one_before(pointer: str) -> None:
    parsed = parse_citations(f"Le congé dure 5 jours. {pointer}", 3)
    [statement] = parsed.statements
    assert statement.text == "Le congé dure 5 jours." and statement.sources == [1, 2]


def test_a_sentence_with_content_keeps_its_own_citations() -> None:
    parsed = parse_citations("Le congé dure 5 jours. Il est payé par l'employeur [2].", 3)
    assert [s.sources for s in parsed.statements] == [[], [2]]
