"""Fusion functions (rag.retrieval.fusion) on their own: maximal marginal relevance
against the plain definition, and its cost on a large candidate pool."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.retrieval.fusion import Ranked, maximal_marginal_relevance


def reference_mmr(ranked: Ranked, vectors: Mapping[int, np.ndarray], n: int, lam: float) -> Ranked:
    """MMR as written in Carbonell & Goldstein: every candidate's redundancy is its
    highest similarity to the picked set, recomputed on each pick (the cubic
    implementation the retriever used before)."""
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


@st.composite
def candidates(draw: st.DrawFn) -> tuple[Ranked, dict[int, np.ndarray], int, float]:
    """Ranked candidates with small integer vectors (dot products are exact in any
    summation order, so ties are real ties) and some candidates without a vector."""
    size = draw(st.integers(0, 25))
    dim = draw(st.integers(1, 6))
    scores = draw(
        st.lists(st.integers(-5, 20).map(float), min_size=size, max_size=size).map(
            lambda s: sorted(s, reverse=True)
        )
    )
    ranked = [(cid, score) for cid, score in enumerate(scores)]
    vectors = {
        cid: np.array(draw(st.lists(st.integers(-3, 3), min_size=dim, max_size=dim)), np.float32)
        for cid in range(size)
        if draw(st.integers(0, 9)) > 0
    }
    n = draw(st.integers(0, size + 2))
    lam = draw(st.sampled_from([0.0, 0.25, 0.3, 0.5, 0.7, 1.0]))
    return ranked, vectors, n, lam


@settings(max_examples=300, deadline=None)
@given(candidates())
def test_mmr_picks_what_the_definition_picks(
    case: tuple[Ranked, dict[int, np.ndarray], int, float],
) -> None:
    ranked, vectors, n, lam = case
    assert maximal_marginal_relevance(ranked, vectors, n, lam) == reference_mmr(
        ranked, vectors, n, lam
    )


def test_mmr_on_random_embeddings_matches_the_definition() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        size, dim = int(rng.integers(1, 60)), 16
        matrix = rng.standard_normal((size, dim)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        scores = sorted(rng.random(size).tolist(), reverse=True)
        ranked = list(enumerate(scores))
        vectors = dict(enumerate(matrix))
        for lam in (0.3, 0.7):
            n = int(rng.integers(1, size + 1))
            got = maximal_marginal_relevance(ranked, vectors, n, lam)
            want = reference_mmr(ranked, vectors, n, lam)
            assert [c for c, _ in got] == [c for c, _ in want]


class CountingVectors(Mapping[int, np.ndarray]):
    """The stored embeddings, counting how often a vector is read."""

    def __init__(self, vectors: dict[int, np.ndarray]) -> None:
        self.vectors, self.reads = vectors, 0

    def __getitem__(self, cid: int) -> np.ndarray:
        self.reads += 1
        return self.vectors[cid]

    def __iter__(self) -> Iterator[int]:
        return iter(self.vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def __contains__(self, cid: object) -> bool:
        return cid in self.vectors


def test_a_large_pool_costs_one_read_per_vector() -> None:
    """The retriever's largest case: 2 x RAG_RETRIEVAL__CANDIDATES (1000) candidates
    and 2 x k picks. Before, every pick recomputed each candidate's similarity to every
    picked one: candidates^2 x picks / 2 reads (here, tens of millions)."""
    rng = np.random.default_rng(0)
    size, picks, dim = 2000, 200, 32
    matrix = rng.standard_normal((size, dim)).astype(np.float32)
    vectors = CountingVectors(dict(enumerate(matrix)))
    ranked = [(cid, 1.0 - cid / size) for cid in range(size)]
    small = CountingVectors(dict(enumerate(matrix[:200])))
    maximal_marginal_relevance(ranked[:200], small, 50, 0.5)
    assert small.reads <= 200, f"{small.reads} vector reads for 200 candidates"
    picked = maximal_marginal_relevance(ranked, vectors, picks, 0.5)
    assert len(picked) == picks and len({c for c, _ in picked}) == picks
    assert vectors.reads <= size
