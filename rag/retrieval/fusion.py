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
    The default embedder is English-only, so the weights differ by language; the
    docs/benchmarks.md gives the measurements behind them.
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
    penalise candidates close to those already picked."""
    if not ranked:
        return []
    top = max(score for _, score in ranked) or 1.0
    pool = [(cid, score / top) for cid, score in ranked if cid in vectors]
    picked: Ranked = []
    while pool and len(picked) < n:
        best_i, best_value = 0, float("-inf")
        for i, (cid, relevance) in enumerate(pool):
            redundancy = max((float(vectors[cid] @ vectors[p]) for p, _ in picked), default=0.0)
            value = lam * relevance - (1 - lam) * redundancy
            if value > best_value:
                best_i, best_value = i, value
        cid, relevance = pool.pop(best_i)
        picked.append((cid, relevance * top))
    return picked
