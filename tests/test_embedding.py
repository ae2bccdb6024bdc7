"""The blended embedder: one vector holding the retrieval model's and the multilingual
encoder's, weighed per question language at query time."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding import BlendedEmbedder, create_embedder
from rag.settings import EmbeddingSettings
from tests.fakes import BilingualEncoder, HashingEmbedder

PASSAGES = [
    "Le télétravail est possible jusqu'à 2 jours par semaine.",
    "Hotel nights are capped at 120 euros in Paris.",
]


@pytest.mark.parametrize("question", ["How many remote days per week?", "Quel plafond d'hôtel ?"])
def test_similarity_is_the_weighted_sum_of_both_cosines(question: str) -> None:
    primary, multilingual = HashingEmbedder(16), BilingualEncoder()
    blended = BlendedEmbedder(primary, multilingual, {"fr": 0.7, "en": 0.6})  # type: ignore[arg-type]
    docs = blended.embed_documents(PASSAGES)
    assert docs.shape == (2, 16 + multilingual.dimension)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5), "passages are unit vectors"
    w = blended.weight(question)
    assert w == (0.6 if question.startswith("How") else 0.7)
    expected = (1 - w) * (primary.embed_documents(PASSAGES) @ primary.embed_query(question)) + w * (
        multilingual.encode(PASSAGES) @ multilingual.encode([question])[0]
    )
    assert np.allclose(docs @ blended.embed_query(question), expected, atol=1e-5)


def test_an_english_question_finds_the_french_passage_through_the_multilingual_part() -> None:
    blended = BlendedEmbedder(HashingEmbedder(64), BilingualEncoder(), {"en": 1.0})  # type: ignore[arg-type]
    scores = blended.embed_documents(PASSAGES) @ blended.embed_query("How many remote days a week?")
    assert scores[0] > scores[1]


def test_the_multilingual_encoder_can_be_turned_off() -> None:
    settings = EmbeddingSettings(multilingual="")
    assert not isinstance(create_embedder(settings), BlendedEmbedder)
    assert isinstance(create_embedder(EmbeddingSettings()), BlendedEmbedder)
