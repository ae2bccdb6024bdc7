"""The one place that picks a vector backend from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.store import DocumentStore
from rag.vectors.backend import LoadReport, VectorBackend

if TYPE_CHECKING:
    from rag.settings import Settings


def open_vector_store(
    settings: Settings, store: DocumentStore, dimension: int, fingerprint: str
) -> tuple[VectorBackend, LoadReport]:
    """The backend chosen by RAG_INDEX__BACKEND, loaded and level with the store.
    Backends are imported here, on use: qdrant-client is an optional extra."""
    from rag.vectors.faiss_index import VectorIndex

    if settings.index.backend == "qdrant":
        if not fingerprint:  # nothing embedded yet: an empty stand-in, no collection made
            return VectorIndex(dimension, fingerprint), LoadReport("rebuilt", "store is empty")
        from rag.vectors.qdrant_index import QdrantIndex, connect_from_settings

        return QdrantIndex.load(
            store,
            connect_from_settings(settings),
            settings.index.qdrant_collection,
            dimension,
            fingerprint,
        )
    return VectorIndex.load(
        store, settings.index_dir, dimension, fingerprint, settings.index.faiss_threads
    )
