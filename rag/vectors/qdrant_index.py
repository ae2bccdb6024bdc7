"""Qdrant vector store: the scale-out backend, behind the same interface as FAISS.

Points are chunks: id = chunk id, vector = the embedding kept in SQLite (Dot
distance on unit vectors: the scores of FAISS's inner product), payload =
{document_id, groups}. Access groups are a payload filter inside Qdrant's query
(MatchAny; keyword payload index on a server); retrieval still checks every chunk
it returns against SQLite. Each (store, embedding settings) pair gets its own
collection, <prefix>_<hash>: while a re-embedding runs, searches read the old
model's collection and ingest fills the new one instead of rebuilding each other's,
and two stores on one server never mix their chunk ids. Sync state (fingerprint,
store generation, last chunk id) lives in the collection's metadata (Qdrant 1.16+).
qdrant-client is imported lazily: it is the optional `qdrant` extra.
"""

from __future__ import annotations

import atexit
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import ConfigurationError, RagError
from rag.store import DocumentStore
from rag.vectors.backend import NO_SAVED_INDEX, LoadReport
from rag.vectors.sync import load_synced

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from rag.settings import Settings

FORMAT = 1  # bump when the point or metadata layout changes: older collections are rebuilt
INSTALL_HINT = "pip install -e '.[qdrant]'"
POINTS_PER_REQUEST = 512  # 512 x 384 floats is about 1 MB of JSON per request
SCROLL_PAGE = 10_000

PayloadLookup = Callable[[list[int]], dict[int, dict[str, Any]]]


def _qdrant() -> Any:
    """The qdrant_client module, or an error saying how to install it."""
    try:
        import qdrant_client
    except ImportError as exc:
        raise ConfigurationError(
            f"RAG_INDEX__BACKEND=qdrant needs the qdrant-client package: {INSTALL_HINT}"
        ) from exc
    return qdrant_client


def _one_line(exc: BaseException) -> str:
    source = getattr(exc, "source", None)  # ResponseHandlingException wraps httpx's error
    status = getattr(exc, "status_code", None)
    text = f"HTTP {status} {getattr(exc, 'reason_phrase', '')}" if status else str(source or exc)
    return " ".join(text.split()) or type(exc).__name__


# -- connections -------------------------------------------------------------------------


@dataclass
class QdrantConnection:
    """A client shared by every index of the process. Local mode locks its folder
    against any second client, even in this process, and is not thread-safe, so its
    calls take turns; a server takes concurrent calls."""

    client: QdrantClient
    location: str  # the URL or the folder, for messages
    remote: bool
    lock: threading.RLock | None = None

    @contextmanager
    def call(self) -> Iterator[QdrantClient]:
        """The client, with transport failures turned into errors a person can act on."""
        guard: AbstractContextManager[Any] = self.lock or nullcontext()
        with guard:
            try:
                yield self.client
            except Exception as exc:
                if isinstance(exc, RagError) or not _is_transport_error(exc):
                    raise
                raise RagError(
                    f"Qdrant at {self.location} failed: {_one_line(exc)}. Check that the server "
                    "runs and RAG_INDEX__QDRANT_URL (and RAG_INDEX__QDRANT_API_KEY) are right."
                ) from exc


def _is_transport_error(exc: Exception) -> bool:
    import httpx
    from qdrant_client.http.exceptions import ApiException

    return isinstance(exc, ApiException | httpx.HTTPError | OSError)


_connections: dict[tuple[str, str, str], QdrantConnection] = {}
_connections_lock = threading.Lock()


def connect(
    url: str | None = None, path: Path | None = None, api_key: str | None = None
) -> QdrantConnection:
    """The process's connection to a Qdrant server (`url`) or local folder (`path`)."""
    qdrant_client = _qdrant()
    if url:
        key_hash = hashlib.sha256((api_key or "").encode()).hexdigest()
        key = ("url", url, key_hash)
    elif path is not None:
        key = ("path", str(Path(path).expanduser().resolve()), "")
    else:
        raise ValueError("connect() needs a url or a path")
    with _connections_lock:
        conn = _connections.get(key)
        if conn is not None:
            return conn
        if url:
            try:
                client = qdrant_client.QdrantClient(
                    url=url, api_key=api_key, check_compatibility=False
                )
            except Exception as exc:
                raise ConfigurationError(
                    f"the Qdrant URL {url!r} (RAG_INDEX__QDRANT_URL or --url) is not usable: "
                    f"{_one_line(exc)}"
                ) from exc
            conn = QdrantConnection(client, url, remote=True)
        else:
            folder = Path(key[1])
            try:
                folder.mkdir(parents=True, exist_ok=True)
                client = qdrant_client.QdrantClient(path=str(folder))
            except RuntimeError as exc:  # portalocker: the folder is held by another client
                raise ConfigurationError(
                    f"Qdrant's local storage {folder} is open in another process, and local "
                    "mode allows one. Stop that process, or run a Qdrant server and set "
                    "RAG_INDEX__QDRANT_URL."
                ) from exc
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot use {folder} for Qdrant's local storage: {_one_line(exc)}"
                ) from exc
            conn = QdrantConnection(client, str(folder), remote=False, lock=threading.RLock())
        _connections[key] = conn
        return conn


def connect_from_settings(
    settings: Settings, url: str | None = None, path: Path | None = None
) -> QdrantConnection:
    """The connection the settings name; `url` or `path` (command-line flags) win."""
    cfg = settings.index
    if path is not None:
        return connect(path=path)
    url = url or cfg.qdrant_url or None
    if url:
        key = cfg.qdrant_api_key.get_secret_value() if cfg.qdrant_api_key else None
        return connect(url=url, api_key=key or None)
    return connect(path=cfg.qdrant_path or settings.data_dir / "qdrant")


def close_connections() -> None:
    """Close every client (tests; and at exit, before interpreter teardown, when a
    client closed by its __del__ fails noisily: "sys.meta_path is None")."""
    with _connections_lock:
        for conn in _connections.values():
            conn.client.close()
        _connections.clear()


atexit.register(close_connections)


# -- the store's side ----------------------------------------------------------------------


def store_id(store: DocumentStore) -> str:
    """This store's identity, made on first use and kept in its meta table."""
    value = store.get_meta("store_id")
    if value is None:
        with store.transaction():  # BEGIN IMMEDIATE: two first users agree on one id
            value = store.get_meta("store_id")
            if value is None:
                value = uuid.uuid4().hex
                store.set_meta("store_id", value)
    return value


def collection_name(prefix: str, store_identity: str, fingerprint: str) -> str:
    digest = hashlib.sha256(f"{store_identity}\n{fingerprint}".encode()).hexdigest()
    return f"{prefix}_{digest[:16]}"


def store_payloads(store: DocumentStore) -> PayloadLookup:
    """Payloads of chunks read from SQLite; chunks deleted meanwhile are left out."""

    def lookup(ids: list[int]) -> dict[int, dict[str, Any]]:
        return {
            cid: {"document_id": document_id, "groups": groups}
            for cid, (document_id, groups) in store.chunk_access(ids).items()
        }

    return lookup


# -- the index -------------------------------------------------------------------------------


class QdrantIndex:
    """One collection of chunk vectors; a rag.vectors.backend.VectorBackend."""

    filters_by_groups = True

    def __init__(
        self,
        conn: QdrantConnection,
        collection: str,
        dimension: int,
        fingerprint: str,
        payloads: PayloadLookup,
        store_identity: str = "",
    ) -> None:
        self._conn = conn
        self.collection = collection
        self.dimension = dimension
        self.fingerprint = fingerprint
        self._payloads = payloads
        self._store_identity = store_identity
        self.max_chunk_id = 0

    @classmethod
    def for_store(
        cls,
        store: DocumentStore,
        conn: QdrantConnection,
        prefix: str,
        dimension: int,
        fingerprint: str,
    ) -> QdrantIndex:
        identity = store_id(store)
        name = collection_name(prefix, identity, fingerprint)
        return cls(conn, name, dimension, fingerprint, store_payloads(store), identity)

    @classmethod
    def load(
        cls,
        store: DocumentStore,
        conn: QdrantConnection,
        prefix: str,
        dimension: int,
        fingerprint: str,
    ) -> tuple[QdrantIndex, LoadReport]:
        """The store's collection, caught up with SQLite or rebuilt from it."""
        index = cls.for_store(store, conn, prefix, dimension, fingerprint)

        def open_saved() -> tuple[QdrantIndex | None, str, int | None]:
            problem, generation = index.saved_state()
            return (None if problem else index), problem, generation

        def create() -> QdrantIndex:
            index.recreate()
            return index

        return load_synced(store, dimension, fingerprint, open_saved, create)

    def saved_state(self) -> tuple[str, int | None]:
        """('', generation) for a sound collection, else (why it is unusable, None)."""
        with self._conn.call() as client:
            if not client.collection_exists(self.collection):
                return NO_SAVED_INDEX, None
            config = client.get_collection(self.collection).config
        meta = config.metadata or {}
        size = getattr(config.params.vectors, "size", None)
        if meta.get("format") != FORMAT:
            return "collection made by another version", None
        if (
            meta.get("fingerprint") != self.fingerprint
            or meta.get("dimension") != self.dimension
            or size != self.dimension
        ):
            return "collection built with other embedding settings", None
        self.max_chunk_id = int(meta.get("max_chunk_id") or 0)
        generation = meta.get("generation")
        return "", generation if isinstance(generation, int) else None

    def recreate(self) -> None:
        """An empty collection in place of whatever had this name."""
        models = _qdrant().models
        with self._conn.call() as client:
            if client.collection_exists(self.collection):
                client.delete_collection(self.collection)
            client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(
                    size=self.dimension, distance=models.Distance.DOT
                ),
                metadata={
                    "format": FORMAT,
                    "fingerprint": self.fingerprint,
                    "dimension": self.dimension,
                    "store_id": self._store_identity,
                    "generation": None,
                    "max_chunk_id": 0,
                },
            )
            if self._conn.remote:  # local mode has no payload indexes (and warns)
                client.create_payload_index(
                    self.collection, "groups", models.PayloadSchemaType.KEYWORD, wait=True
                )
                client.create_payload_index(
                    self.collection, "document_id", models.PayloadSchemaType.INTEGER, wait=True
                )
        self.max_chunk_id = 0

    # -- VectorBackend ---------------------------------------------------------------------

    def __len__(self) -> int:
        with self._conn.call() as client:
            return int(client.count(self.collection, exact=True).count)

    def ids(self) -> np.ndarray:
        found: list[int] = []
        offset: Any = None
        with self._conn.call() as client:
            while True:
                points, offset = client.scroll(
                    self.collection,
                    limit=SCROLL_PAGE,
                    offset=offset,
                    with_payload=False,
                    with_vectors=False,
                )
                found.extend(int(p.id) for p in points)
                if offset is None:
                    break
        return np.asarray(found, dtype=np.int64)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Write points with their payload read from SQLite; an id held is replaced.
        Chunks SQLite no longer has (deleted meanwhile) are skipped."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dimension):
            raise ValueError(
                f"vectors have shape {vectors.shape}, not ({len(ids)}, {self.dimension})"
            )
        models = _qdrant().models
        for start in range(0, len(ids), POINTS_PER_REQUEST):
            part = ids[start : start + POINTS_PER_REQUEST].tolist()
            payloads = self._payloads(part)
            keep = [i for i, cid in enumerate(part) if cid in payloads]
            if not keep:
                continue
            block = vectors[start : start + POINTS_PER_REQUEST][keep]
            batch = models.Batch(
                ids=[part[i] for i in keep],
                vectors=block.tolist(),
                payloads=[payloads[part[i]] for i in keep],
            )
            with self._conn.call() as client:
                client.upsert(self.collection, points=batch, wait=True)
        self.max_chunk_id = max(self.max_chunk_id, int(ids.max()))

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Delete points; returns how many were asked for (Qdrant does not say how many
        it held)."""
        wanted = [int(i) for i in ids]
        models = _qdrant().models
        for start in range(0, len(wanted), SCROLL_PAGE):
            selector = models.PointIdsList(points=wanted[start : start + SCROLL_PAGE])
            with self._conn.call() as client:
                client.delete(self.collection, points_selector=selector, wait=True)
        return len(wanted)

    def set_document_groups(self, document_id: int, groups: Sequence[str]) -> None:
        models = _qdrant().models
        of_document = models.Filter(
            must=[
                models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))
            ]
        )
        with self._conn.call() as client:
            client.set_payload(
                self.collection,
                payload={"groups": sorted(set(groups))},
                points=of_document,
                wait=True,
            )

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        groups: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (chunk ids, scores); `groups` and `allowed_ids` filter inside the query."""
        nothing = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if k <= 0 or (allowed_ids is not None and len(allowed_ids) == 0):
            return nothing
        if groups is not None and len(groups) == 0:
            return nothing
        models = _qdrant().models
        must: list[Any] = []
        if groups is not None:
            must.append(
                models.FieldCondition(key="groups", match=models.MatchAny(any=list(groups)))
            )
        if allowed_ids is not None:
            must.append(models.HasIdCondition(has_id=np.asarray(allowed_ids).tolist()))
        vector = np.asarray(query, dtype=np.float32).ravel().tolist()
        with self._conn.call() as client:
            points = client.query_points(
                self.collection,
                query=vector,
                query_filter=models.Filter(must=must) if must else None,
                limit=k,
                with_payload=False,
                with_vectors=False,
            ).points
        ids = np.fromiter((int(p.id) for p in points), dtype=np.int64, count=len(points))
        scores = np.fromiter((p.score for p in points), dtype=np.float32, count=len(points))
        return ids, scores

    def persist(self, generation: int) -> None:
        """Record the store generation the collection matches (Qdrant wrote the points
        already)."""
        with self._conn.call() as client:
            client.update_collection(
                self.collection,
                metadata={"generation": generation, "max_chunk_id": self.max_chunk_id},
            )
