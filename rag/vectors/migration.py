"""Moving the vector index between FAISS and Qdrant (`rag index migrate`).

SQLite already holds every chunk's embedding, so a move copies those vectors (and,
for Qdrant, each chunk's document id and access groups) and never runs the
embedder. Running it again is safe: points are upserted by chunk id, points SQLite
no longer has are removed, and the result is counted against SQLite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import RagError
from rag.settings import Settings
from rag.store import DocumentStore, writer_lock
from rag.vectors.sync import fill

TARGETS = ("qdrant", "faiss")


@dataclass
class MigrationResult:
    target: str
    location: str  # the Qdrant URL or folder, or the FAISS index folder
    vectors: int
    removed: int = 0
    collection: str = ""  # the Qdrant collection written
    seconds: float = 0.0
    # What to set to search the new index; never holds a secret.
    env: dict[str, str] = field(default_factory=dict)


def migrate_index(
    settings: Settings,
    to: str,
    url: str | None = None,
    path: Path | None = None,
    collection: str | None = None,
    lock_timeout_s: float = 0.0,
) -> MigrationResult:
    """Copy the store's stored embeddings into the `to` index; raises RagError."""
    if to not in TARGETS:
        raise RagError(f"unknown target {to!r}: use --to qdrant or --to faiss")
    if to == "faiss" and (url or path or collection):
        raise RagError("--url, --path and --collection are for --to qdrant")
    if url and path:
        raise RagError("give --url (a Qdrant server) or --path (local mode), not both")
    if not settings.db_path.exists():
        raise RagError(f"no store at {settings.db_path}: check RAG_DATA_DIR, or run `rag ingest`")
    store = DocumentStore(settings.db_path)
    fingerprint = store.get_meta("fingerprint") or ""
    dimension = store.stored_dimension(fingerprint) if fingerprint else None
    if dimension is None:
        raise RagError(
            f"the store at {settings.data_dir} holds no embedded documents yet (or a "
            "re-embedding is unfinished): run `rag ingest` first, then migrate"
        )
    started = time.perf_counter()
    with writer_lock(settings.data_dir, timeout_s=lock_timeout_s):
        if to == "faiss":
            result = _to_faiss(settings, store, dimension, fingerprint)
        else:
            result = _to_qdrant(settings, store, dimension, fingerprint, url, path, collection)
    result.seconds = time.perf_counter() - started
    return result


def _to_faiss(
    settings: Settings, store: DocumentStore, dimension: int, fingerprint: str
) -> MigrationResult:
    from rag.vectors.faiss_index import VectorIndex

    index = VectorIndex.rebuild(store, dimension, fingerprint, settings.index.faiss_threads)
    _check_count(len(index), store.count_chunks(fingerprint), "the FAISS index")
    index.save(settings.index_dir, store.generation)
    return MigrationResult(
        "faiss", str(settings.index_dir), len(index), env={"RAG_INDEX__BACKEND": "faiss"}
    )


def _to_qdrant(
    settings: Settings,
    store: DocumentStore,
    dimension: int,
    fingerprint: str,
    url: str | None,
    path: Path | None,
    collection: str | None,
) -> MigrationResult:
    from rag.vectors.qdrant_index import QdrantIndex, connect_from_settings

    conn = connect_from_settings(settings, url=url, path=path)
    prefix = collection or settings.index.qdrant_collection
    index = QdrantIndex.for_store(store, conn, prefix, dimension, fingerprint)
    problem, _ = index.saved_state()
    if problem:
        index.recreate()
    copied = fill(index, store, fingerprint, dimension)
    live = store.chunk_ids(fingerprint)
    removed = index.remove(np.setdiff1d(index.ids(), live, assume_unique=True))
    count = len(index)
    _check_count(count, len(live), f"Qdrant collection {index.collection}")
    index.persist(store.generation)
    env = {"RAG_INDEX__BACKEND": "qdrant"}
    if conn.remote:
        env["RAG_INDEX__QDRANT_URL"] = conn.location
    else:
        env["RAG_INDEX__QDRANT_PATH"] = conn.location
    env["RAG_INDEX__QDRANT_COLLECTION"] = prefix
    return MigrationResult("qdrant", conn.location, copied, removed, index.collection, env=env)


def _check_count(held: int, expected: int, what: str) -> None:
    if held != expected:
        raise RagError(
            f"{what} holds {held} vectors after the copy but SQLite has {expected} chunks: "
            "run the migration again"
        )
