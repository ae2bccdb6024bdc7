"""Hybrid retrieval: dense (FAISS or Qdrant) and BM25 (SQLite FTS5) candidates, fused.

Access control is enforced here, in code: the caller's filters become the set of
chunk ids it may see, dense search runs only over that set (FAISS: exact search with
an ID selector, never HNSW's leaky one; Qdrant: access groups as a payload filter in
its own query, the other filters as ids), BM25 joins the same filters in SQL, and
every returned chunk's groups are checked once more against SQLite before it leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from rag.embedding import BlendedEmbedder, Embedder
from rag.errors import RagError
from rag.retrieval.fusion import (
    FusionWeights,
    convex_fusion,
    maximal_marginal_relevance,
    reciprocal_rank_fusion,
)
from rag.store import DocumentStore
from rag.text import detect_language, fts_query
from rag.types import ChunkRecord, DocumentRecord, SearchFilters
from rag.vectors.backend import VectorBackend

MODES = ("hybrid", "dense", "bm25")


@dataclass
class SearchHit:
    chunk: ChunkRecord
    document: DocumentRecord
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "chunk_id": self.chunk.id,
            "document_id": self.document.id,
            "path": self.document.path,
            "title": self.document.title,
            "page": self.chunk.page_start,
            "page_end": self.chunk.page_end,
            "heading": self.chunk.heading,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 4),
            "bm25_score": None if self.bm25_score is None else round(self.bm25_score, 4),
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
        }


@dataclass
class SearchResult:
    hits: list[SearchHit]
    language: str
    timings: dict[str, float] = field(default_factory=dict)
    across_languages: bool = False  # searched again across languages (CrossLanguage)


@dataclass(frozen=True)
class CrossLanguage:
    """How a question is searched when most passages found for it are in another
    language: the multilingual encoder's share of the vector similarity, and BM25's
    weight (its words are the question's, which those passages do not hold; names and
    figures still match).

    Measured on spf's questions asked in English over its French corpus (25): hit@10
    0.72 with the question's own weights, 0.92 with the multilingual encoder alone and
    BM25 at 0.1; clapnq's asked in French over its English corpus, 0.92 -> 0.96
    (docs/benchmarks.md, bench/cross_language.py)."""

    multilingual: float = 1.0
    bm25: float = 0.1


@dataclass(frozen=True)
class _Asked:
    """One search request, as both of its rankings see it."""

    query: str
    k: int
    filters: SearchFilters
    mode: str
    fingerprint: str
    lang: str
    mmr_lambda: float | None
    match: str | None  # the FTS5 expression
    lexical: list[tuple[int, float]]  # the BM25 candidates


class Retriever:
    def __init__(
        self,
        store: DocumentStore,
        embedder: Embedder,
        index_loader: Callable[[], VectorBackend],
        weights: FusionWeights,
        candidates: int = 50,
        bm25_columns: tuple[float, float, float] = (1.0, 1.0, 1.0),
        cross_language: CrossLanguage | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self._index_loader = index_loader
        self._index: VectorBackend | None = None
        self._index_generation = -1
        self._lock = threading.Lock()
        self.weights = weights
        self.candidates = candidates
        self.bm25_columns = bm25_columns  # weights of the text, heading and title columns
        self.cross_language = cross_language

    def index(self) -> VectorBackend:
        """The vector index, reloaded (caught up) when the store has changed."""
        generation = self.store.generation
        if self._index is None or generation != self._index_generation:
            with self._lock:
                if self._index is None or generation != self._index_generation:
                    self._index = self._index_loader()
                    self._index_generation = generation
        return self._index

    def _allowed_ids(self, filters: SearchFilters, fingerprint: str) -> np.ndarray | None:
        if not filters.restricts:
            return None
        return self.store.allowed_chunk_ids(fingerprint, filters)

    def dense(
        self,
        query: str,
        k: int,
        filters: SearchFilters,
        fingerprint: str,
        vector: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        if filters.groups == ():
            return []
        index = self.index()
        groups: tuple[str, ...] | None = None
        if index.filters_by_groups:
            # Groups go into the backend's own query (Qdrant's payload filter); the
            # other filters still become chunk ids here.
            groups = filters.groups
            allowed = self._allowed_ids(replace(filters, groups=None), fingerprint)
        else:
            allowed = self._allowed_ids(filters, fingerprint)
        if allowed is not None and allowed.size == 0:
            return []
        if vector is None:
            vector = self.embedder.embed_query(query)
        ids, scores = index.search(vector, k, allowed, groups)
        return list(zip(ids.tolist(), scores.tolist(), strict=True))

    def bm25(self, match: str | None, k: int, filters: SearchFilters) -> list[tuple[int, float]]:
        """Top-k chunks for an FTS5 MATCH expression (see rag.text.fts_query)."""
        if match is None:
            return []
        return self.store.bm25_search(match, k, filters, self.bm25_columns)

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: str = "hybrid",
        fingerprint: str = "",
        lang: str | None = None,
        mmr_lambda: float | None = None,
    ) -> SearchResult:
        """Top-k chunks. With `mmr_lambda` (0..1), maximal marginal relevance picks
        them for diversity: 1 is pure relevance, lower values penalise chunks close
        to those already picked (Carbonell & Goldstein, 1998)."""
        if mode not in MODES:
            raise RagError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        filters = filters or SearchFilters()
        lang = lang or detect_language(query)
        with self.store.snapshot():  # every read below sees the same commit
            return self._search(query, k, filters, mode, fingerprint, lang, mmr_lambda)

    def _search(
        self,
        query: str,
        k: int,
        filters: SearchFilters,
        mode: str,
        fingerprint: str,
        lang: str,
        mmr_lambda: float | None,
    ) -> SearchResult:
        timings: dict[str, float] = {}
        match = fts_query(query, lang) if mode in ("hybrid", "bm25") else None
        lexical: list[tuple[int, float]] = []
        if mode in ("hybrid", "bm25"):
            t0 = time.perf_counter()
            lexical = self.bm25(match, max(self.candidates, k), filters)
            timings["bm25_s"] = time.perf_counter() - t0
        asked = _Asked(query, k, filters, mode, fingerprint, lang, mmr_lambda, match, lexical)
        hits = self._ranked(asked, self.weights, timings)
        cross = self.cross_language
        if cross is None or mode == "bm25" or not self.mostly_other_language(lang, hits):
            return SearchResult(hits, lang, timings)
        t0 = time.perf_counter()
        weights = replace(self.weights, bm25={**self.weights.bm25, lang: cross.bm25})
        hits = self._ranked(asked, weights, {}, multilingual=cross.multilingual)
        timings["cross_language_s"] = time.perf_counter() - t0
        return SearchResult(hits, lang, timings, across_languages=True)

    @staticmethod
    def mostly_other_language(lang: str, hits: list[SearchHit]) -> bool:
        """Are at least half of these passages in a language other than `lang`?"""
        other = sum(1 for hit in hits if detect_language(hit.chunk.text, default=lang) != lang)
        return bool(hits) and 2 * other >= len(hits)

    def _ranked(
        self,
        asked: _Asked,
        weights: FusionWeights,
        timings: dict[str, float],
        multilingual: float | None = None,
    ) -> list[SearchHit]:
        """Dense candidates, fused with the BM25 ones under `weights`, re-picked by
        MMR when asked, checked and hydrated. `multilingual` overrides the blended
        embedder's multilingual share of the question's vector."""
        query, k, filters, mode, lang = asked.query, asked.k, asked.filters, asked.mode, asked.lang
        dense: list[tuple[int, float]] = []
        vector: np.ndarray | None = None
        if mode in ("hybrid", "dense"):
            t0 = time.perf_counter()
            if multilingual is not None and isinstance(self.embedder, BlendedEmbedder):
                vector = self.embedder.embed_query(query, weight=multilingual)
            else:
                vector = self.embedder.embed_query(query)
            n = max(self.candidates, k)
            dense = self.dense(query, n, filters, asked.fingerprint, vector)
            timings["dense_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if mode == "hybrid" and weights.method == "convex":
            fused = self.fuse_scores(
                query, asked.match, lang, dense, asked.lexical, vector, weights
            )
        else:
            fused = reciprocal_rank_fusion(dense, asked.lexical, weights, lang)
        mmr = asked.mmr_lambda
        fused = fused[: k * 2] if mmr is None else self._mmr(fused, k * 2, mmr)
        hits = self._hydrate(fused, dense, asked.lexical, filters)[:k]
        timings["fuse_s"] = time.perf_counter() - t0
        return hits

    def _mmr(self, ranked: list[tuple[int, float]], n: int, lam: float) -> list[tuple[int, float]]:
        """Re-pick `n` of the ranked candidates by maximal marginal relevance."""
        if not ranked:
            return []
        vectors = self.store.embeddings([cid for cid, _ in ranked], self.embedder.dimension)
        return maximal_marginal_relevance(ranked, vectors, n, lam)

    def fuse_scores(
        self,
        query: str,
        match: str | None,
        lang: str,
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        vector: np.ndarray | None = None,
        weights: FusionWeights | None = None,
    ) -> list[tuple[int, float]]:
        """Convex fusion of both lists, each candidate scored by both: the cosines the
        dense list lacks come from the stored embeddings, the BM25 scores the lexical
        list lacks from FTS5."""
        union = list(dict.fromkeys([cid for cid, _ in dense] + [cid for cid, _ in lexical]))
        if not union:
            return []
        cosine = dict(dense)
        missing = [cid for cid in union if cid not in cosine]
        if missing:
            stored = self.store.embeddings(missing, self.embedder.dimension)
            if vector is None:
                vector = self.embedder.embed_query(query)
            for cid, embedding in stored.items():
                cosine[cid] = float(embedding @ vector)
        bm25 = dict(lexical)
        missing = [cid for cid in union if cid not in bm25]
        if missing:
            bm25.update(self._bm25_of(match, missing))
        return convex_fusion(union, cosine, bm25, (weights or self.weights).of(lang))

    def _bm25_of(self, match: str | None, chunk_ids: list[int]) -> dict[int, float]:
        """BM25 scores of given chunks (0 for those matching no query term)."""
        if match is None:
            return {}
        return self.store.bm25_scores(match, chunk_ids, self.bm25_columns)

    def _hydrate(
        self,
        fused: list[tuple[int, float]],
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        filters: SearchFilters,
    ) -> list[SearchHit]:
        chunks = self.store.get_chunks([cid for cid, _ in fused])
        docs: dict[int, DocumentRecord | None] = {}
        dense_at = {cid: (r, s) for r, (cid, s) in enumerate(dense, start=1)}
        bm25_at = {cid: (r, s) for r, (cid, s) in enumerate(lexical, start=1)}
        hits: list[SearchHit] = []
        for cid, score in fused:
            chunk = chunks.get(cid)
            # Deleted since the index was saved, or not this caller's: never returned.
            if chunk is None or not filters.allows(chunk):
                continue
            if chunk.document_id not in docs:
                docs[chunk.document_id] = self.store.get_document(chunk.document_id)
            doc = docs[chunk.document_id]
            if doc is None:
                continue
            d, b = dense_at.get(cid), bm25_at.get(cid)
            hits.append(
                SearchHit(
                    chunk,
                    doc,
                    score,
                    dense_rank=d[0] if d else None,
                    dense_score=d[1] if d else None,
                    bm25_rank=b[0] if b else None,
                    bm25_score=b[1] if b else None,
                )
            )
        return hits
