"""The demo questions a newcomer asks first, answered by the real embedded models
(`slow`): the right sentence, no invented figure, and a question across languages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.answer.service import AnswerService
from rag.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnswerService]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root: Path = tmp_path_factory.mktemp("demo-answers")
    settings = Settings(data_dir=root / "data")
    ingest = IngestService(settings)
    for group, paths in write_demo_corpus(root / "docs").items():
        ingest.run(paths[0].parent, [group])
    service = AnswerService(settings)
    yield service
    service.close()


def test_marriage_leave_is_five_days_cited_on_page_two(demo: AnswerService) -> None:
    answer = demo.ask("Combien de jours de congé pour un mariage ?")
    body = answer.to_dict()
    assert answer.mode == "generative", body
    assert "5 jours" in answer.text and "25" not in answer.text, body
    assert body["all_citations_supported"] and answer.citations, body
    assert any(
        c.path.endswith("livret-accueil.pdf") and c.page == 2 and "mariage" in c.quote
        for c in answer.citations
    ), body


def test_an_invented_budget_is_not_found(demo: AnswerService) -> None:
    answer = demo.ask("Quel est le budget marketing 2031 ?")
    assert answer.mode == "not_found", answer.to_dict()
    assert "2031" not in answer.text and answer.citations == []


def test_english_question_over_the_french_handbook(demo: AnswerService) -> None:
    """Answered in English, citing the French sentence (the instructions are in the
    sources' language: with English ones the model declined)."""
    answer = demo.ask("How many days can I work remotely per week?")
    body = answer.to_dict()
    assert answer.mode == "generative" and answer.language == "en", body
    assert "2" in answer.text and body["all_citations_supported"], body
    assert any(
        c.path.endswith("livret-accueil.pdf") and c.page == 3 and "2 jours" in c.quote
        for c in answer.citations
    ), body


@pytest.mark.parametrize(
    ("question", "figure"),
    [
        ("How many days of leave for a civil partnership?", "4"),
        ("What is the marketing budget for 2031?", None),
    ],
)
def test_a_neighbouring_figure_is_not_served_across_languages(
    demo: AnswerService, question: str, figure: str | None
) -> None:
    """The handbook gives PACS leave 4 days beside marriage's 5, and the HR page a
    raise budget of 3 % (no marketing budget): English drafts binding the neighbouring
    figure to the question were served before the judge of mentions read sources in
    another language."""
    answer = demo.ask(question)
    body = answer.to_dict()
    if answer.mode == "generative":
        assert figure is not None and figure in answer.text, body
        assert "5" not in answer.text, body


def test_english_question_finds_its_sentence_lower_on_a_french_page(demo: AnswerService) -> None:
    """The insurance rate is the last sentence of page 4, after the password rules: a
    French passage is cut for an English question by closeness in the multilingual
    space, not by words it cannot share (the draft said 10 % without it)."""
    answer = demo.ask("How much of the health insurance does the employer pay?")
    body = answer.to_dict()
    assert answer.mode in ("generative", "extractive"), body
    assert "10" not in answer.text, body
    assert any(
        c.path.endswith("livret-accueil.pdf") and c.page == 4 and "60 %" in c.quote
        for c in answer.citations
    ), body
    if answer.mode == "generative":
        assert "60" in answer.text and body["all_citations_supported"], body


def test_the_daily_allowance_is_answered_from_its_sentence(demo: AnswerService) -> None:
    """The paid-leave sentence says "25 jours ... par an": a count of days, no daily
    figure. It was served as "The daily allowance for remote work is 25 days per year";
    later the prompt held the telework sentence ("2 jours par semaine") and not the
    2,50 euros one, and the labelled passages quoted the wrong one. A sentence counting
    by the period asked ("par jour") now leads its source, in the prompt and in the
    verifier's relevance across languages."""
    answer = demo.ask("What is the daily allowance for remote work?")
    body = answer.to_dict()
    assert answer.mode == "generative", body
    assert "25" not in answer.text and "2.50" in answer.text.replace(",", "."), body
    assert any(c.page == 3 and "2,50 euros" in c.quote for c in answer.citations), body
    assert body["all_citations_supported"], body


def test_a_monthly_ceiling_is_not_a_yearly_one(demo: AnswerService) -> None:
    """The handbook caps the telework allowance at 50 euros a month; asked for a yearly
    ceiling, the answer is not "50 euros par an"."""
    answer = demo.ask("Quel est le plafond annuel de l'indemnité de télétravail ?")
    body = answer.to_dict()
    assert not (answer.mode == "generative" and "par an" in answer.text), body


def test_the_telework_allowance_is_not_served_as_a_meal_allowance(demo: AnswerService) -> None:
    """No French sentence speaks of meals (the English expense policy does: 25 euros a
    meal). The telework allowance was served as "Le montant de l'indemnité de repas est
    de 2,50 euros par jour télétravaillé"; removed as off topic, it left the labelled
    passages. The answer is now written again from the meal sentence, the one the
    passages quote first."""
    answer = demo.ask("Quel est le montant de l'indemnité de repas ?")
    body = answer.to_dict()
    assert answer.mode == "generative", body
    assert "2,50" not in answer.text and "2.50" not in answer.text, body
    assert "25" in answer.text, body
    assert any(
        c.path.endswith("expense-policy.docx") and "25 euros per meal" in c.quote
        for c in answer.citations
    ), body
    assert body["all_citations_supported"], body


def test_a_section_of_a_short_policy_answers_its_own_question(demo: AnswerService) -> None:
    """The expense policy's sections were one chunk: its similarity to the question,
    0.32, made the English check refuse; and the question's "must", which no source
    holds, was put to the judge of mentions, which removed the right answer."""
    answer = demo.ask("Within how many days must expense reports be submitted?")
    body = answer.to_dict()
    assert answer.mode == "generative", body
    assert "30 days" in answer.text, body
    assert all(c.path.endswith("expense-policy.docx") and c.page == 1 for c in answer.citations)
    assert answer.citations, body


def test_telework_days_are_answered_not_only_quoted(demo: AnswerService) -> None:
    """The model, told that its sources hold the answer, repeated that line instead
    of answering; the answer was the labelled passages. It is now written again."""
    answer = demo.ask("Combien de jours de télétravail par semaine ?")
    body = answer.to_dict()
    assert answer.mode == "generative", body
    assert "2 jours" in answer.text, body
    assert any(c.path.endswith("livret-accueil.pdf") and c.page == 3 for c in answer.citations), (
        body
    )


def test_a_term_named_in_passing_is_not_given_a_definition(demo: AnswerService) -> None:
    """The handbook names the trial period only in "Le télétravail est possible…
    après la période d'essai"; the model made of it "La période d'essai est une
    période pendant laquelle un salarié peut travailler à distance", served as
    verified."""
    answer = demo.ask("Qu'est-ce que la période d'essai ?")
    body = answer.to_dict()
    assert answer.mode != "generative", body


@pytest.mark.parametrize(
    "question",
    [
        "Combien de temps dure la période d'essai avant le télétravail ?",
        "How long is the trial period before telework?",
        "Combien de temps dure le congé de paternité ?",
    ],
)
def test_how_long_a_term_named_in_passing_lasts_is_not_found(
    demo: AnswerService, question: str
) -> None:
    """The handbook names the trial period only as the time after which telework is
    allowed ("…jusqu'à 2 jours par semaine, après la période d'essai…"); the model
    answered that it lasts 2 days a week, in French and in English, served as
    verified. And paternity leave only besides the birth leave ("…3 jours, en plus du
    congé de paternité"): "3 jours, en plus du congé de paternité [1]" was served."""
    answer = demo.ask(question)
    body = answer.to_dict()
    assert answer.mode == "not_found", body
