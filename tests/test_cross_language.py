"""A question whose passages are mostly in the other language is searched again with
the multilingual encoder's weight and BM25 nearly off (rag.retrieval.hybrid.CrossLanguage)."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.pipeline import IngestService
from rag.embedding import BlendedEmbedder
from rag.retrieval.service import SearchService
from rag.settings import Settings
from tests.fakes import BilingualEncoder, HashingEmbedder

FRENCH = {
    "teletravail.md": "# Télétravail\n\nLe télétravail est possible deux jours par semaine.\n",
    "logiciel.md": "# Logiciels\n\nLe logiciel Work Manager gère les tickets du support.\n",
    "hotel.md": "# Déplacements\n\nUne nuit d'hôtel à Paris est remboursée.\n",
}
ENGLISH = {
    "expenses.md": "# Expenses\n\nA hotel night in Paris is capped at 120 euros per night.\n",
}
QUESTION = "How many days can I work remotely per week?"


def embedder() -> BlendedEmbedder:
    return BlendedEmbedder(HashingEmbedder(64), BilingualEncoder(), {"en": 0.6, "fr": 0.7})  # type: ignore[arg-type]


def store(tmp_path_factory: pytest.TempPathFactory, files: dict[str, str]) -> Settings:
    root = tmp_path_factory.mktemp("cross")
    docs = root / "docs"
    docs.mkdir()
    for name, text in files.items():
        (docs / name).write_text(text, encoding="utf-8")
    settings = Settings(data_dir=root / "data")
    IngestService(settings, embedder=embedder()).run(docs, ["public"])
    return settings


@pytest.fixture(scope="module")
def french(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return store(tmp_path_factory, FRENCH)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return store(tmp_path_factory, {**FRENCH, **ENGLISH})


def search(settings: Settings, **retrieval: object) -> SearchService:
    settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update=retrieval)}
    )
    return SearchService(settings, embedder=embedder())


def test_english_question_over_french_passages_is_searched_across(french: Settings) -> None:
    result = search(french).search(QUESTION, k=3)
    assert result.across_languages and "cross_language_s" in result.timings
    assert result.hits[0].document.path.endswith("teletravail.md")


def test_across_languages_bm25_alone_does_not_lead(french: Settings) -> None:
    """ "work" is the only word of the question in a French passage (a product name):
    with BM25 at full weight it leads; searched across languages, the passage that
    means what the question asks does."""
    lexical_heavy = search(french, bm25_weight={"en": 5.0}, cross_language=False)
    assert lexical_heavy.search(QUESTION, k=3).hits[0].document.path.endswith("logiciel.md")
    across = search(french, bm25_weight={"en": 5.0}).search(QUESTION, k=3)
    assert across.across_languages
    assert across.hits[0].document.path.endswith("teletravail.md")


def test_a_question_in_the_passages_language_is_searched_once(french: Settings) -> None:
    result = search(french).search("Combien de jours de télétravail par semaine ?", k=3)
    assert not result.across_languages and "cross_language_s" not in result.timings
    assert result.hits[0].document.path.endswith("teletravail.md")


def test_mostly_same_language_passages_are_not_searched_again(mixed: Settings) -> None:
    result = search(mixed).search("What is the hotel cap in Paris per night?", k=1)
    assert result.hits[0].document.path.endswith("expenses.md")
    assert not result.across_languages


def test_cross_language_search_can_be_turned_off(french: Settings) -> None:
    result = search(french, cross_language=False).search(QUESTION, k=3)
    assert not result.across_languages and result.hits


def test_the_second_search_uses_the_multilingual_encoder_alone() -> None:
    blended = embedder()
    vector = blended.embed_query(QUESTION, weight=1.0)
    primary = blended.primary.dimension
    assert np.allclose(vector[:primary], 0.0), "no share for the English-only model"
    expected = blended.multilingual.encode([QUESTION])[0] * np.sqrt(2.0)
    assert np.allclose(vector[primary:], expected, atol=1e-6)
