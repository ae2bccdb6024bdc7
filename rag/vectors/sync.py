"""How a backend is loaded level with the store, the same way for both: a missing or
foreign index is rebuilt from SQLite without re-embedding, and a sound but stale one
catches up (chunk ids only grow, so new chunks are "id > max_chunk_id"; deleted ones
are ids it holds that SQLite no longer has).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from rag.store import DocumentStore
from rag.vectors.backend import NO_SAVED_INDEX, LoadReport, VectorBackend

log = logging.getLogger(__name__)

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
