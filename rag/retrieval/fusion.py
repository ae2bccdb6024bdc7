"""How dense and BM25 candidates are combined: pure functions over ranked lists and
scores, with no store or model (rag.retrieval.hybrid gathers what they need)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

FUSIONS = ("convex", "rrf")


@dataclass(frozen=True)
class FusionWeights:
    """How the dense and BM25 candidates are combined, with weights per language.

    convex: weighted sum of the cosine similarity and the BM25 score divided by the
      best BM25 score among the candidates, both computed for every candidate of
      either list (Bruch et al., "An Analysis of Fusion Functions for Hybrid
      Retrieval", 2022). It keeps how confident each list is, which rank fusion
      throws away.
    rrf: weighted reciprocal rank fusion (Cormack et al., 2009).
    The weights differ by language (they were set when the embedder was MiniLM alone,
    English-only); docs/benchmarks.md gives the measurements behind them.
    """

    dense: dict[str, float]
    bm25: dict[str, float]
    rrf_k: int = 60
    method: str = "convex"

    def of(self, lang: str) -> tuple[float, float]:
        """(dense, BM25) weights for a question in `lang` (1 each for other languages)."""
        return self.dense.get(lang, 1.0), self.bm25.get(lang, 1.0)


Ranked = list[tuple[int, float]]  # (chunk id, score), best first


def convex_fusion(
    union: Sequence[int],
    cosine: Mapping[int, float],
    bm25: Mapping[int, float],
    weights: tuple[float, float],
) -> Ranked:
    """Weighted sum of each candidate's cosine and its BM25 score divided by the best
    BM25 score among the candidates (missing scores count 0)."""
    best = max(bm25.values(), default=0.0)
    wd, wb = weights
    scores = {
        cid: wd * cosine.get(cid, 0.0) + wb * (bm25.get(cid, 0.0) / best if best > 0 else 0.0)
        for cid in union
    }
    return sorted(scores.items(), key=lambda item: -item[1])


def reciprocal_rank_fusion(
    dense: Ranked, lexical: Ranked, weights: FusionWeights, lang: str
) -> Ranked:
    """Weighted reciprocal rank fusion (Cormack et al., 2009); one list alone keeps
    its order."""
    wd, wb = weights.of(lang) if dense and lexical else (1.0, 1.0)
    scores: dict[int, float] = {}
    for rank, (cid, _) in enumerate(dense, start=1):
        scores[cid] = scores.get(cid, 0.0) + wd / (weights.rrf_k + rank)
    for rank, (cid, _) in enumerate(lexical, start=1):
        scores[cid] = scores.get(cid, 0.0) + wb / (weights.rrf_k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def maximal_marginal_relevance(
    ranked: Ranked, vectors: Mapping[int, np.ndarray], n: int, lam: float
) -> Ranked:
    """Re-pick `n` of the ranked candidates (those with a vector) by maximal marginal
    relevance (Carbonell & Goldstein, 1998): `lam` 1 is pure relevance, lower values
    penalise candidates close to those already picked.

    Each candidate keeps its highest similarity to the picked set, updated with one
    similarity per candidate after each pick: O(candidates x picks) similarities, each
    vector read once. (Recomputing every candidate's redundancy against the whole
    picked set on every pick was O(candidates^2 x picks): with RAG_RETRIEVAL__MAX_K
    and the candidate pool at their limits, a billion dot products for one search.)"""
    if not ranked:
        return []
    top = max(score for _, score in ranked) or 1.0
    pool = [(cid, score / top) for cid, score in ranked if cid in vectors]
    if not pool or n <= 0:
        return []
    matrix = np.stack([np.asarray(vectors[cid]) for cid, _ in pool])
    relevance = np.array([r for _, r in pool], dtype=np.float64)
    # Highest similarity to a picked candidate; -inf until something is picked (the
    # first pick is by relevance alone, as with an empty picked set before).
    redundancy = np.full(len(pool), -np.inf)
    left = np.ones(len(pool), dtype=bool)
    picked: Ranked = []
    while len(picked) < min(n, len(pool)):
        penalty = redundancy if picked else np.zeros(len(pool))
        value = lam * relevance - (1 - lam) * penalty
        value[~left] = -np.inf
        # The first of equal values, in ranked order, as the pool order decided before.
        best = int(np.flatnonzero(value == value[left].max())[0])
        left[best] = False
        cid, rel = pool[best]
        picked.append((cid, rel * top))
        redundancy = np.maximum(redundancy, (matrix @ matrix[best]).astype(np.float64))
    return picked
