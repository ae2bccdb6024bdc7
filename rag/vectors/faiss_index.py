"""FAISS vector index: a cache derived from the embeddings kept in SQLite.

The index is keyed by chunk id (IndexIDMap2 over an exact inner-product index).
It is saved next to a JSON manifest; both are written to a temporary file,
fsynced and published with os.replace, because faiss.write_index writes in place
and never fsyncs. On load, any mismatch (missing, corrupt, other model) rebuilds
it from SQLite without re-embedding, and a stale but sound index catches up:
chunk ids only grow, so new chunks are "id > max_chunk_id", and deleted ones
are the ids it holds that SQLite no longer has (rag.vectors.sync holds that logic,
shared with the Qdrant backend). Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from rag.store import DocumentStore
from rag.vectors.backend import NO_SAVED_INDEX, LoadReport
from rag.vectors.sync import fill, load_synced

__all__ = ["INDEX_FILE", "MANIFEST_FILE", "LoadReport", "VectorIndex"]

MANIFEST_VERSION = 1
INDEX_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _remove_dead_temporaries(directory: Path) -> None:
    """Temporary files a save killed half-way left behind (`_atomic_write` names them
    `.<file>.<random>.tmp`): each is as large as the index, so a process killed while
    saving again and again would fill the disk. Saves run under the store's writer
    lock (ingest, `rag documents delete`, `rag index migrate`), one at a time, so any
    such file found by a save is a dead one's."""
    for name in (INDEX_FILE, MANIFEST_FILE):
        for tmp in directory.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


class VectorIndex:
    """Exact inner-product search over unit vectors, keyed by chunk id.

    A rag.vectors.backend.VectorBackend. It holds vectors only: access groups are
    resolved to allowed chunk ids from SQLite by the caller (filters_by_groups False).
    """

    filters_by_groups = False

    def __init__(self, dimension: int, fingerprint: str, threads: int = 1) -> None:
        self.dimension = dimension
        self.fingerprint = fingerprint
        faiss.omp_set_num_threads(threads)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.max_chunk_id = 0
        self.directory: Path | None = None  # where `persist` saves; set by `load`

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new ids (IndexIDMap2 would keep a second copy of an id)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, not {self.dimension}")
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._index.add_with_ids(vectors, ids)
        self.max_chunk_id = max(self.max_chunk_id, int(ids.max()))

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors, replacing those of ids already held."""
        ids = np.asarray(ids, dtype=np.int64)
        # Chunk ids only grow, so ids above max_chunk_id (every id on ingest's path) are
        # new: only older ones pay for remove_ids, a scan of the whole index.
        if len(ids) and int(ids.min()) <= self.max_chunk_id:
            self.remove(ids[ids <= self.max_chunk_id])
        self.add(ids, vectors)

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def set_document_groups(self, document_id: int, groups: Sequence[str]) -> None:
        """Nothing to do: FAISS keeps no groups, retrieval reads them from SQLite."""

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        groups: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (chunk ids, scores); with `allowed_ids`, only among those ids."""
        if groups is not None:
            raise ValueError("FAISS keeps no access groups: pass them as allowed_ids")
        if len(self) == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed_ids is not None:
            if len(allowed_ids) == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
            params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
        scores, ids = self._index.search(q, min(k, len(self)), params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    # -- persistence -------------------------------------------------------------------

    def persist(self, generation: int) -> None:
        if self.directory is None:
            raise ValueError("this index was not loaded from a directory: call save()")
        self.save(self.directory, generation)

    def save(self, directory: Path, generation: int) -> None:
        data = faiss.serialize_index(self._index).tobytes()
        manifest = {
            "version": MANIFEST_VERSION,
            "fingerprint": self.fingerprint,
            "dimension": self.dimension,
            "ntotal": len(self),
            "max_chunk_id": self.max_chunk_id,
            "generation": generation,
            "index_bytes": len(data),
            "index_sha256": hashlib.sha256(data).hexdigest(),
        }
        _remove_dead_temporaries(directory)
        # Index first, manifest second: a crash in between leaves a manifest whose
        # checksum does not match, which the next load treats as corrupt.
        _atomic_write(directory / INDEX_FILE, data)
        _atomic_write(directory / MANIFEST_FILE, json.dumps(manifest, indent=2).encode())

    @classmethod
    def _read(
        cls, directory: Path, dimension: int, fingerprint: str, threads: int
    ) -> tuple[VectorIndex | None, str, dict[str, object]]:
        manifest_path = directory / MANIFEST_FILE
        index_path = directory / INDEX_FILE
        if not manifest_path.exists() or not index_path.exists():
            return None, NO_SAVED_INDEX, {}
        try:
            manifest = json.loads(manifest_path.read_text())
            if not isinstance(manifest, dict):
                raise ValueError("manifest is not an object")
        except (OSError, ValueError) as exc:
            return None, f"manifest unreadable ({exc})", {}
        if manifest.get("version") != MANIFEST_VERSION:
            return None, "manifest from another version", manifest
        if manifest.get("fingerprint") != fingerprint or manifest.get("dimension") != dimension:
            return None, "index built with other embedding settings", manifest
        data = index_path.read_bytes()
        if len(data) != manifest.get("index_bytes") or hashlib.sha256(
            data
        ).hexdigest() != manifest.get("index_sha256"):
            return None, "index file corrupt or incomplete (checksum mismatch)", manifest
        try:
            raw = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as exc:
            return None, f"index file unreadable ({exc})", manifest
        if raw.ntotal != manifest.get("ntotal") or raw.d != dimension:
            return None, "index size does not match its manifest", manifest
        index = cls(dimension, fingerprint, threads)
        index._index = faiss.IndexIDMap2(raw) if not isinstance(raw, faiss.IndexIDMap2) else raw
        index.max_chunk_id = int(manifest.get("max_chunk_id", 0))
        return index, "", manifest

    @classmethod
    def rebuild(
        cls, store: DocumentStore, dimension: int, fingerprint: str, threads: int = 1
    ) -> VectorIndex:
        index = cls(dimension, fingerprint, threads)
        fill(index, store, fingerprint, dimension)
        return index

    @classmethod
    def load(
        cls,
        store: DocumentStore,
        directory: Path,
        dimension: int,
        fingerprint: str,
        threads: int = 1,
    ) -> tuple[VectorIndex, LoadReport]:
        """The saved index brought up to date with the store, or a rebuilt one."""

        def open_saved() -> tuple[VectorIndex | None, str, int | None]:
            index, problem, manifest = cls._read(directory, dimension, fingerprint, threads)
            generation = manifest.get("generation")
            return index, problem, generation if isinstance(generation, int) else None

        index, report = load_synced(
            store, dimension, fingerprint, open_saved, lambda: cls(dimension, fingerprint, threads)
        )
        index.directory = directory
        return index, report
