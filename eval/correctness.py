"""Answer correctness against reference answers, without a judge.

Token F1 (SQuAD, Rajpurkar et al. 2016, `evaluate-v2.0.py`): answer and reference are
lower-cased, stripped of punctuation and articles (English and French ones here) and
compared as bags of tokens; F1 of the overlap, the best over the references.

Semantic similarity (ragas `SemanticSimilarity`; Risch et al., "Semantic Answer
Similarity for Evaluating Question Answering Models", 2021): cosine similarity of the
answer's and the reference's embeddings, the best over the references.

The embeddings are the `yardstick`'s: one model, whatever the search is configured
with, so a figure means the same across configurations and against its baseline.

Citation markers `[n]` are removed from the answer before either is computed.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from rag.embedding import Embedder, retrieval_model

_ARTICLES = re.compile(r"\b(a|an|the|le|la|les|l|un|une|des|du|de|d)\b", flags=re.IGNORECASE)
_MARKERS = re.compile(r"\[\s*\d+(?:\s*[,;\-–]\s*\d+)*\s*\]")
_PUNCTUATION = set(string.punctuation) | {"«", "»", "’", "…", "–", "—"}


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", _MARKERS.sub("", text)).strip()


def normalise(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.lower()).replace("’", " ").replace("'", " ")
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text)
    return _ARTICLES.sub(" ", text).split()


def token_f1(answer: str, references: Sequence[str]) -> float:
    predicted = normalise(strip_markers(answer))
    best = 0.0
    for reference in references:
        gold = normalise(reference)
        common = sum((Counter(predicted) & Counter(gold)).values())
        if not common:
            continue
        precision, recall = common / len(predicted), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denominator) if denominator else 0.0


def yardstick(embedder: Embedder) -> Embedder:
    """The model the eval measures answers with: the search's retrieval model
    (MiniLM by default) without the multilingual part a blended embedder adds. Scored
    through the blend, spf's semantic similarity read 0.415 where MiniLM alone read
    0.475 for the same answers (the multilingual encoder's cosines run lower), so the
    figure moved with the search's configuration rather than with the answers; the
    first baseline's 0.62 was MiniLM's."""
    return retrieval_model(embedder)


def semantic_similarity(embedder: Embedder, answer: str, references: Sequence[str]) -> float:
    if not references:
        return 0.0
    vectors = embedder.embed_documents([strip_markers(answer), *references])
    return max(cosine(vectors[0], v) for v in vectors[1:])
