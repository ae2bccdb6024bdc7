"""The vector index interface both backends implement.

FAISS (rag.vectors.faiss_index, the embedded default) and Qdrant
(rag.vectors.qdrant_index, for scale-out) hold the same thing: a cache of the chunk
embeddings kept in SQLite, keyed by chunk id. rag.vectors.sync loads and catches
them up; rag.vectors.factory picks one from settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

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
