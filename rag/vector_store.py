"""The vector store interface, the load logic both backends share, and the one place
that picks a backend from settings.

FAISS (rag.vector_index, the embedded default) and Qdrant (rag.qdrant_index, for
scale-out) hold the same thing: a cache of the chunk embeddings kept in SQLite,
keyed by chunk id. They are loaded the same way, by `load_synced`: a missing or
foreign index is rebuilt from SQLite without re-embedding, and a sound but stale
one catches up (chunk ids only grow, so new chunks are "id > max_chunk_id";
deleted ones are ids it holds that SQLite no longer has).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from rag.store import DocumentStore

if TYPE_CHECKING:
    from rag.settings import Settings

log = logging.getLogger(__name__)

NO_SAVED_INDEX = "no saved index"


@dataclass(frozen=True)
class LoadReport:
    """How the index came to be in memory: 'loaded', 'caught_up' or 'rebuilt'."""

    action: str
    reason: str = ""
    added: int = 0
    removed: int = 0


class VectorSearcher(Protocol):
    """What retrieval needs: nearest chunk ids to a query vector."""

    @property
    def filters_by_groups(self) -> bool:
        """True if `search` evaluates access groups itself (the backend keeps them as
        payload); False if the caller must fold them into `allowed_ids`."""
        ...

    def __len__(self) -> int: ...

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        groups: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (chunk ids, inner-product scores), best first; only among
        `allowed_ids` and chunks of documents in one of `groups` when given."""
        ...


class VectorWriter(Protocol):
    """What ingest needs: the index follows each committed store transaction."""

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add these chunks' vectors; an id already held is replaced."""
        ...

    def remove(self, ids: Sequence[int] | np.ndarray) -> int: ...

    def set_document_groups(self, document_id: int, groups: Sequence[str]) -> None:
        """A document's access groups changed in SQLite without re-embedding."""
        ...

    def persist(self, generation: int) -> None:
        """Make the current state durable, recording the store generation it matches."""
        ...


class VectorBackend(VectorSearcher, VectorWriter, Protocol):
    """A whole backend, with what loading and catching up need."""

    dimension: int
    fingerprint: str
    max_chunk_id: int  # the largest chunk id ever added

    def ids(self) -> np.ndarray: ...


B = TypeVar("B", bound=VectorBackend)


def fill(index: VectorBackend, store: DocumentStore, fingerprint: str, dimension: int) -> int:
    """Copy every stored embedding of `fingerprint` into `index`; returns how many."""
    added = 0
    for ids, vectors in store.iter_embeddings(fingerprint, dimension):
        index.upsert(ids, vectors)
        added += len(ids)
    return added


def catch_up(
    index: VectorBackend, store: DocumentStore, fingerprint: str, dimension: int
) -> tuple[int, int]:
    """Bring a sound but stale index level with the store; returns (added, removed)."""
    added = 0
    for ids, vectors in store.iter_embeddings(fingerprint, dimension, index.max_chunk_id):
        index.upsert(ids, vectors)
        added += len(ids)
    # The index's ids are read before SQLite's: a chunk another process adds to a
    # shared index (Qdrant) in between was committed to SQLite first, so it is never
    # taken for a deleted one.
    held = index.ids()
    live = store.chunk_ids(fingerprint)
    removed = index.remove(np.setdiff1d(held, live, assume_unique=True))
    if len(held) - removed < len(live):
        # Holes below max_chunk_id: never seen with FAISS (one writer, ids only grow),
        # possible in an external store that lost points (a restored Qdrant volume).
        missing = np.setdiff1d(live, held, assume_unique=True)
        for start in range(0, len(missing), 500):
            part = missing[start : start + 500].tolist()
            stored = store.embeddings(part, dimension)
            found = [cid for cid in part if cid in stored]
            if found:
                vectors = np.stack([stored[cid] for cid in found])
                index.upsert(np.asarray(found, dtype=np.int64), vectors)
                added += len(found)
    return added, removed


def load_synced(
    store: DocumentStore,
    dimension: int,
    fingerprint: str,
    open_saved: Callable[[], tuple[B | None, str, int | None]],
    create: Callable[[], B],
) -> tuple[B, LoadReport]:
    """The saved index brought up to date with the store, or a rebuilt one.

    `open_saved` returns the saved index (or None and the reason it is unusable) and
    the store generation it was saved at; `create` makes an empty one.
    """
    index, problem, generation = open_saved()
    if index is None:
        if problem != NO_SAVED_INDEX:
            log.warning("Rebuilding the vector index from SQLite: %s", problem)
        index = create()
        added = fill(index, store, fingerprint, dimension)
        return index, LoadReport("rebuilt", problem, added=added)
    if generation == store.generation:
        return index, LoadReport("loaded")
    added, removed = catch_up(index, store, fingerprint, dimension)
    return index, LoadReport("caught_up", "store changed since save", added, removed)


def stored_dimension(store: DocumentStore, fingerprint: str) -> int | None:
    """The dimension of the embeddings stored with `fingerprint` (None if there are none),
    read from a blob's length: no embedder needed."""
    row = store._conn.execute(
        "SELECT length(c.embedding) FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.fingerprint = ? LIMIT 1",
        (fingerprint,),
    ).fetchone()
    return None if row is None else int(row[0]) // np.dtype(np.float32).itemsize


def open_vector_store(
    settings: Settings, store: DocumentStore, dimension: int, fingerprint: str
) -> tuple[VectorBackend, LoadReport]:
    """The backend chosen by RAG_INDEX__BACKEND, loaded and level with the store.
    Backends are imported here, on use: qdrant-client is an optional extra."""
    from rag.vector_index import VectorIndex

    if settings.index.backend == "qdrant":
        if not fingerprint:  # nothing embedded yet: an empty stand-in, no collection made
            return VectorIndex(dimension, fingerprint), LoadReport("rebuilt", "store is empty")
        from rag.qdrant_index import QdrantIndex, connect_from_settings

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
