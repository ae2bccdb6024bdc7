"""Search over one store: the service that `rag search`, `rag ask` and the API call."""

from __future__ import annotations

from rag.embedding import BlendedEmbedder, Embedder, create_embedder
from rag.errors import InvalidRequestError, StoreMismatchError
from rag.retrieval.fusion import FusionWeights
from rag.retrieval.hybrid import CrossLanguage, Retriever, SearchResult
from rag.settings import Settings
from rag.store import DocumentStore
from rag.types import SearchFilters
from rag.vectors.backend import VectorBackend
from rag.vectors.factory import open_vector_store


class SearchService:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        store: DocumentStore | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or create_embedder(settings.embedding)
        self.store = store or DocumentStore(settings.db_path)
        r = settings.retrieval
        self.retriever = Retriever(
            self.store,
            self.embedder,
            self._load_index,
            FusionWeights(r.dense_weight, r.bm25_weight, r.rrf_k, r.fusion),
            candidates=r.candidates,
            bm25_columns=(1.0, 1.0, r.bm25_title_weight),
            cross_language=(
                CrossLanguage(
                    settings.embedding.cross_language_weight, r.cross_language_bm25_weight
                )
                if r.cross_language and isinstance(self.embedder, BlendedEmbedder)
                else None
            ),
        )

    def fingerprint(self) -> str:
        """The store's index fingerprint, checked against this embedder.

        Ingest records it once every document is embedded with one set of settings.
        """
        fingerprint = self.store.get_meta("fingerprint")
        if fingerprint is None:
            return ""
        stored_model = fingerprint.split("||")[0]
        if stored_model != self.embedder.fingerprint:
            raise StoreMismatchError(
                f"This store was embedded with {stored_model}, but the embedder is now "
                f"{self.embedder.fingerprint}. Set RAG_EMBEDDING__MODEL back, or run "
                "`rag ingest` to re-embed the documents with the new model."
            )
        return fingerprint

    def _load_index(self) -> VectorBackend:
        index, _ = open_vector_store(
            self.settings, self.store, self.embedder.dimension, self.fingerprint()
        )
        return index

    def validate_question(self, question: str) -> str:
        question = question.strip()
        if not question:
            raise InvalidRequestError("The question is empty: type what you are looking for.")
        limit = self.settings.retrieval.max_question_chars
        if len(question) > limit:
            raise InvalidRequestError(
                f"The question is {len(question):,} characters long; the limit is {limit:,} "
                "(RAG_RETRIEVAL__MAX_QUESTION_CHARS). Ask a shorter question, or quote only "
                "the passage that matters.",
                limit="max_question_chars",
                maximum=limit,
            )
        return question

    def validate_k(self, k: int) -> None:
        limit = self.settings.retrieval.max_k
        if not 1 <= k <= limit:
            raise InvalidRequestError(
                f"k must be between 1 and {limit} (RAG_RETRIEVAL__MAX_K), not {k}.",
                limit="max_k",
                maximum=limit,
            )

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: SearchFilters | None = None,
        mode: str = "hybrid",
        mmr_lambda: float | None = None,
    ) -> SearchResult:
        query = self.validate_question(query)
        k = self.settings.retrieval.k if k is None else k
        self.validate_k(k)
        fingerprint = self.fingerprint()
        if not fingerprint:
            return SearchResult([], "fr", {})
        if mmr_lambda is not None and not 0.0 <= mmr_lambda <= 1.0:
            raise InvalidRequestError(f"mmr_lambda must be between 0 and 1, not {mmr_lambda}.")
        return self.retriever.search(query, k, filters, mode, fingerprint, mmr_lambda=mmr_lambda)
