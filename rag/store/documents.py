"""SQLite document store: the source of truth for documents, chunks, embeddings,
the FTS5 full-text index, access groups, failed files and ingest jobs.

One writer at a time (see `writer_lock`); WAL mode lets readers go on meanwhile.
A document is written in one transaction, so it becomes visible all at once.
"""

from __future__ import annotations

import errno
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from rag.errors import StoreLockedError, StoreWriteError
from rag.store.connections import ThreadConnections
from rag.store.jobs import JobStore
from rag.store.schema import FTS, SCHEMA, SCHEMA_VERSION, migrate, now
from rag.types import (
    ChunkDraft,
    ChunkRecord,
    DocumentRecord,
    NewDocument,
    PageSpan,
    SearchFilters,
)


def filter_clause(filters: SearchFilters) -> tuple[str, list[object]]:
    """A search's filters as a WHERE fragment over `documents d`, and its parameters."""
    clauses: list[str] = []
    params: list[object] = []
    if filters.groups is not None:
        if not filters.groups:
            return "0", []
        marks = ",".join("?" * len(filters.groups))
        clauses.append(f"d.id IN (SELECT document_id FROM document_groups WHERE grp IN ({marks}))")
        params += list(filters.groups)
    if filters.document_ids is not None:
        if not filters.document_ids:
            return "0", []
        clauses.append(f"d.id IN ({','.join('?' * len(filters.document_ids))})")
        params += list(filters.document_ids)
    if filters.exclude_document_ids:
        clauses.append(f"d.id NOT IN ({','.join('?' * len(filters.exclude_document_ids))})")
        params += list(filters.exclude_document_ids)
    if filters.path_prefix:
        clauses.append("substr(d.path, 1, ?) = ?")
        params += [len(filters.path_prefix), filters.path_prefix]
    if filters.updated_after:
        clauses.append("d.updated_at >= ?")
        params.append(filters.updated_after)
    if filters.updated_before:
        clauses.append("d.updated_at < ?")
        params.append(filters.updated_before)
    return (" AND ".join(clauses) or "1"), params


_NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@contextmanager
def storage_errors(data_dir: Path) -> Iterator[None]:
    """Turn a write that failed for want of room (SQLite's SQLITE_FULL or an I/O error,
    which is what a file size limit gives it; ENOSPC, EFBIG or EDQUOT from a plain
    file) into a StoreWriteError that says so and what to do. What was committed
    before stays: each document is written in one transaction."""
    try:
        yield
    except (sqlite3.OperationalError, OSError) as exc:
        if isinstance(exc, sqlite3.OperationalError):
            name = getattr(exc, "sqlite_errorname", "")
            if name != "SQLITE_FULL" and not name.startswith("SQLITE_IOERR"):
                raise
        elif exc.errno not in _NO_ROOM:
            raise
        raise StoreWriteError(
            f"Could not write to the store in {data_dir} ({exc}): the disk is full or a file "
            "size limit was reached, or the disk failed. Free some space (`df -h` shows it) "
            "and run the ingest again: documents stored before the failure are kept, the "
            "rest are done then."
        ) from exc


@contextmanager
def writer_lock(data_dir: Path, timeout_s: float = 0.0) -> Iterator[None]:
    """Hold the store's single-writer lock, or fail with a message saying why."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(data_dir / "writer.lock"))
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout as exc:
        raise StoreLockedError(
            f"Another ingest job is writing to {data_dir}. Wait for it to finish, "
            "or point RAG_DATA_DIR at another store."
        ) from exc
    try:
        yield
    finally:
        lock.release()


class DocumentStore:
    """Access to one store's SQLite database; one connection per thread."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.jobs = JobStore(lambda: self._conn, self._write)  # same connection
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = ThreadConnections(
            db_path, autocommit=True, pragmas=("synchronous=NORMAL", "foreign_keys=ON")
        )
        conn = self._conn
        conn.executescript(SCHEMA)  # idempotent; executescript manages its own commit
        version = self.get_meta("schema_version")
        if version is not None and int(version) < SCHEMA_VERSION:
            migrate(conn, int(version))
        conn.executescript(FTS)
        with self._write(conn):
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")

    # -- connections and transactions -------------------------------------------------

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()

    @contextmanager
    def _write(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        conn = conn or self._conn
        if conn.in_transaction:  # nested inside transaction(): join it
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes into one atomic commit."""
        with self._write():
            yield

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that all see one committed state: every statement inside sees the store
        as the first one found it, whatever a writer commits meanwhile (WAL keeps that
        state for its readers, and the writer is not blocked). A search reads BM25
        hits, then embeddings, then chunk records, each a statement of its own: without
        one snapshot, a document replaced between two of them vanished from the results
        (its old chunks found, then gone). Inside a transaction already, that one."""
        conn = self._conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    @staticmethod
    def _bump_generation(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # -- meta ------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def generation(self) -> int:
        """Increases with every committed change to documents or chunks."""
        return int(self.get_meta("generation") or 0)

    # -- documents -------------------------------------------------------------------

    @staticmethod
    def _document(row: sqlite3.Row) -> DocumentRecord:
        return DocumentRecord(
            id=row["id"],
            path=row["path"],
            sha256=row["sha256"],
            title=row["title"],
            mime=row["mime"],
            groups=tuple(json.loads(row["groups"])),
            pages=row["pages"],
            chunks=row["n_chunks"],
            status=row["status"],
            fingerprint=row["fingerprint"],
            size_bytes=row["size_bytes"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            flags=tuple(json.loads(row["flags"])),
        )

    def get_document(self, document_id: int) -> DocumentRecord | None:
        row = self._conn.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
        return None if row is None else self._document(row)

    def get_document_by_path(self, path: str) -> DocumentRecord | None:
        row = self._conn.execute("SELECT * FROM documents WHERE path = ?", (path,)).fetchone()
        return None if row is None else self._document(row)

    def find_copy(self, sha256: str, path: str) -> DocumentRecord | None:
        """A stored document with this content under another path, if any."""
        row = self._conn.execute(
            "SELECT * FROM documents WHERE sha256 = ? AND path != ? ORDER BY id LIMIT 1",
            (sha256, path),
        ).fetchone()
        return None if row is None else self._document(row)

    def list_documents(self, path_prefix: str | None = None) -> list[DocumentRecord]:
        if path_prefix:
            rows = self._conn.execute(
                "SELECT * FROM documents WHERE substr(path, 1, ?) = ? ORDER BY path",
                (len(path_prefix), path_prefix),
            )
        else:
            rows = self._conn.execute("SELECT * FROM documents ORDER BY path")
        return [self._document(r) for r in rows]

    def document_ids_matching(self, filters: SearchFilters) -> set[int]:
        """The ids of the documents a search with `filters` may draw from."""
        where, params = filter_clause(filters)
        rows = self._conn.execute(f"SELECT d.id FROM documents d WHERE {where}", params)
        return {int(r[0]) for r in rows}

    def count_documents(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM documents").fetchone()[0])

    def document_text(self, document_id: int) -> str | None:
        row = self._conn.execute(
            "SELECT text FROM document_texts WHERE document_id = ?", (document_id,)
        ).fetchone()
        return None if row is None else str(row["text"])

    def page_map(self, document_id: int) -> list[PageSpan]:
        row = self._conn.execute(
            "SELECT page_map FROM documents WHERE id = ?", (document_id,)
        ).fetchone()
        if row is None:
            return []
        return [PageSpan(*span) for span in json.loads(row["page_map"])]

    def put_document(
        self, doc: NewDocument, chunks: Sequence[ChunkDraft], embeddings: np.ndarray
    ) -> tuple[int, list[int], list[int]]:
        """Insert or replace the document at `doc.path` with its chunks, atomically.

        Returns the document id, the ids of the chunks it replaced and the new ones.
        """
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        stamp = now()
        groups_json = json.dumps(sorted(set(doc.groups)))
        page_map = json.dumps([[p.number, p.start, p.end] for p in doc.pages])
        with self._write() as conn:
            old = conn.execute("SELECT id FROM documents WHERE path = ?", (doc.path,)).fetchone()
            removed: list[int] = []
            if old is not None:
                removed = [
                    r[0]
                    for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", (old[0],))
                ]
                conn.execute("DELETE FROM chunks WHERE document_id = ?", (old[0],))
            # One upsert keyed by path: the id, and created_at, survive a replacement.
            document_id = int(
                conn.execute(
                    "INSERT INTO documents(path, sha256, title, mime, groups, pages, n_chunks, "
                    "status, fingerprint, size_bytes, page_map, flags, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(path) DO UPDATE SET sha256=excluded.sha256, "
                    "title=excluded.title, mime=excluded.mime, groups=excluded.groups, "
                    "pages=excluded.pages, n_chunks=excluded.n_chunks, status='ready', "
                    "fingerprint=excluded.fingerprint, size_bytes=excluded.size_bytes, "
                    "page_map=excluded.page_map, flags=excluded.flags, "
                    "updated_at=excluded.updated_at RETURNING id",
                    (
                        doc.path,
                        doc.sha256,
                        doc.title,
                        doc.mime,
                        groups_json,
                        len(doc.pages),
                        len(chunks),
                        doc.fingerprint,
                        doc.size_bytes,
                        page_map,
                        json.dumps(list(doc.flags)),
                        stamp,
                        stamp,
                    ),
                ).fetchone()[0]
            )
            conn.execute(
                "INSERT OR REPLACE INTO document_texts(document_id, text) VALUES (?, ?)",
                (document_id, doc.text),
            )
            self._set_groups(conn, document_id, doc.groups)
            vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
            conn.executemany(
                "INSERT INTO chunks(document_id, ordinal, text, start_offset, end_offset, "
                "page_start, page_end, heading, n_tokens, embedding, title) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        document_id,
                        i,
                        c.text,
                        c.start,
                        c.end,
                        c.page_start,
                        c.page_end,
                        c.heading,
                        c.n_tokens,
                        vectors[i].tobytes(),
                        doc.title,
                    )
                    for i, c in enumerate(chunks)
                ],
            )
            conn.execute("DELETE FROM failures WHERE path = ?", (doc.path,))
            self._bump_generation(conn)
            added = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal", (document_id,)
                )
            ]
        return document_id, removed, added

    @staticmethod
    def _set_groups(conn: sqlite3.Connection, document_id: int, groups: Iterable[str]) -> None:
        conn.execute("DELETE FROM document_groups WHERE document_id = ?", (document_id,))
        conn.executemany(
            "INSERT INTO document_groups(document_id, grp) VALUES (?, ?)",
            [(document_id, g) for g in sorted(set(groups))],
        )

    def set_groups(self, document_id: int, groups: Iterable[str]) -> None:
        groups = sorted(set(groups))
        with self._write() as conn:
            conn.execute(
                "UPDATE documents SET groups = ?, updated_at = ? WHERE id = ?",
                (json.dumps(groups), now(), document_id),
            )
            self._set_groups(conn, document_id, groups)
            self._bump_generation(conn)

    def delete_document(self, document_id: int) -> list[int]:
        """Delete a document and its chunks; returns the removed chunk ids."""
        with self._write() as conn:
            removed = [
                r[0]
                for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))
            ]
            conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            self._bump_generation(conn)
        return removed

    # -- chunks and embeddings ---------------------------------------------------------

    @staticmethod
    def _chunk(row: sqlite3.Row) -> ChunkRecord:
        return ChunkRecord(
            id=row["id"],
            document_id=row["document_id"],
            ordinal=row["ordinal"],
            text=row["text"],
            start=row["start_offset"],
            end=row["end_offset"],
            page_start=row["page_start"],
            page_end=row["page_end"],
            heading=row["heading"],
            groups=tuple(json.loads(row["groups"])),
        )

    def chunks_for_document(self, document_id: int) -> list[ChunkRecord]:
        rows = self._conn.execute(
            "SELECT c.*, d.groups FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.document_id = ? ORDER BY c.ordinal",
            (document_id,),
        )
        return [self._chunk(r) for r in rows]

    def _rows_for_ids(self, sql: str, ids: Sequence[int]) -> Iterator[sqlite3.Row]:
        """Rows of `sql`, whose `IN ({marks})` takes the ids, fetched in batches below
        SQLite's limit on query parameters."""
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            yield from self._conn.execute(sql.format(marks=",".join("?" * len(part))), part)

    def get_chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        """The chunks that still exist among `chunk_ids`, by id."""
        rows = self._rows_for_ids(
            "SELECT c.*, d.groups FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.id IN ({marks})",
            chunk_ids,
        )
        return {int(r["id"]): self._chunk(r) for r in rows}

    def chunk_access(self, chunk_ids: Sequence[int]) -> dict[int, tuple[int, list[str]]]:
        """(document id, access groups) of the chunks that still exist among `chunk_ids`:
        what a vector store keeps beside each vector to filter by group."""
        rows = self._rows_for_ids(
            "SELECT c.id, c.document_id, d.groups FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
            chunk_ids,
        )
        return {int(r[0]): (int(r[1]), json.loads(r[2])) for r in rows}

    def count_chunks(self, fingerprint: str | None = None) -> int:
        if fingerprint is None:
            return int(self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
        return int(
            self._conn.execute(
                "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.fingerprint = ?",
                (fingerprint,),
            ).fetchone()[0]
        )

    def term_chunk_counts(
        self, terms: Iterable[tuple[str, bool]], groups: Sequence[str] | None = None
    ) -> tuple[dict[str, int], int]:
        """How many chunks hold each full-text token (folded as BM25 indexes it), or,
        for a prefix (`(token, True)`), a token starting with it; and how many chunks
        there are. With `groups`, only the chunks of documents in those groups count:
        the counts then say nothing of what the caller cannot see. Without, the
        index's own vocabulary answers (a prefix's count is summed over its tokens,
        so an upper bound, capped at the number of chunks)."""
        terms = list(terms)
        if groups is not None:
            where, params = filter_clause(SearchFilters(groups=tuple(groups)))
            visible = f"JOIN documents d ON d.id = c.document_id WHERE {where}"
            total = int(
                self._conn.execute(f"SELECT count(*) FROM chunks c {visible}", params).fetchone()[0]
            )
            counts = {}
            for term, prefix in terms:
                match = f'"{term}"*' if prefix else f'"{term}"'
                row = self._conn.execute(
                    "SELECT count(*) FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "
                    f"{visible} AND chunks_fts MATCH ?",
                    [*params, match],
                ).fetchone()
                counts[term] = int(row[0])
            return counts, total
        total = self.count_chunks()
        counts = {}
        for term, prefix in terms:
            if prefix:
                row = self._conn.execute(
                    "SELECT sum(doc) FROM chunks_vocab WHERE term >= ? AND term < ?",
                    (term, term + "\uffff"),
                ).fetchone()
            else:
                row = self._conn.execute(
                    "SELECT doc FROM chunks_vocab WHERE term = ?", (term,)
                ).fetchone()
            counts[term] = min(int(row[0] or 0) if row else 0, total)
        return counts, total

    def chunk_ids(self, fingerprint: str, max_id: int | None = None) -> np.ndarray:
        sql = (
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.fingerprint = ?"
        )
        params: list[object] = [fingerprint]
        if max_id is not None:
            sql += " AND c.id <= ?"
            params.append(max_id)
        return np.fromiter((r[0] for r in self._conn.execute(sql, params)), dtype=np.int64)

    def iter_embeddings(
        self, fingerprint: str, dimension: int, after_id: int = 0, batch: int = 4096
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of chunks embedded with `fingerprint`, in id order, in batches."""
        last = after_id
        while True:
            rows = self._conn.execute(
                "SELECT c.id, c.embedding FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.fingerprint = ? AND c.id > ? ORDER BY c.id LIMIT ?",
                (fingerprint, last, batch),
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield ids, vectors.reshape(len(rows), dimension)
            last = int(ids[-1])

    def embeddings(self, chunk_ids: list[int], dimension: int) -> dict[int, np.ndarray]:
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn.execute(
            f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", list(chunk_ids)
        )
        return {int(r[0]): np.frombuffer(r[1], dtype=np.float32, count=dimension) for r in rows}

    # -- search ---------------------------------------------------------------------------

    def allowed_chunk_ids(self, fingerprint: str, filters: SearchFilters) -> np.ndarray:
        """The ids of the chunks embedded with `fingerprint` that the filters let through."""
        where, params = filter_clause(filters)
        rows = self._conn.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE d.fingerprint = ? AND {where}",
            [fingerprint, *params],
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    @staticmethod
    def _bm25_rank(columns: tuple[float, float, float]) -> str:
        """FTS5's bm25() with weights for the text, heading and title columns."""
        wt, wh, wd = columns
        return f"bm25(chunks_fts, {wt:f}, {wh:f}, {wd:f})"

    def bm25_search(
        self, match: str, k: int, filters: SearchFilters, columns: tuple[float, float, float]
    ) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score) for an FTS5 MATCH expression among the chunks
        the filters let through; higher is better (FTS5's bm25() is lower-is-better)."""
        where, params = filter_clause(filters)
        rows = self._conn.execute(
            f"SELECT f.rowid, {self._bm25_rank(columns)} AS s FROM chunks_fts f "
            "JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id "
            f"WHERE chunks_fts MATCH ? AND {where} ORDER BY s LIMIT ?",
            [match, *params, k],
        )
        return [(int(r[0]), -float(r[1])) for r in rows]

    def bm25_scores(
        self, match: str, chunk_ids: Sequence[int], columns: tuple[float, float, float]
    ) -> dict[int, float]:
        """BM25 scores of these chunks for a MATCH expression (absent: no term matches);
        higher is better."""
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn.execute(
            f"SELECT rowid, {self._bm25_rank(columns)} FROM chunks_fts "
            f"WHERE chunks_fts MATCH ? AND rowid IN ({marks})",
            [match, *chunk_ids],
        )
        return {int(r[0]): -float(r[1]) for r in rows}

    def stored_dimension(self, fingerprint: str) -> int | None:
        """The dimension of the embeddings stored with `fingerprint` (None if there are
        none), read from a blob's length: no embedder needed."""
        row = self._conn.execute(
            "SELECT length(c.embedding) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.fingerprint = ? LIMIT 1",
            (fingerprint,),
        ).fetchone()
        return None if row is None else int(row[0]) // np.dtype(np.float32).itemsize

    def chunk_documents(self) -> dict[int, int]:
        """Every chunk id with its document's id."""
        return {int(c): int(d) for c, d in self._conn.execute("SELECT id, document_id FROM chunks")}

    def chunk_texts(self) -> list[str]:
        """Every chunk's text, in id order."""
        return [r[0] for r in self._conn.execute("SELECT text FROM chunks ORDER BY id")]

    def stale_documents(self, fingerprint: str) -> list[DocumentRecord]:
        rows = self._conn.execute(
            "SELECT * FROM documents WHERE fingerprint != ? ORDER BY id", (fingerprint,)
        )
        return [self._document(r) for r in rows]

    # -- failed files ------------------------------------------------------------------

    def record_failure(self, path: str, sha256: str | None, reason: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO failures(path, sha256, reason, failed_at) "
                "VALUES (?, ?, ?, ?)",
                (path, sha256, reason, now()),
            )

    def clear_failure(self, path: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM failures WHERE path = ?", (path,))

    def list_failures(self) -> list[dict[str, str | None]]:
        rows = self._conn.execute("SELECT * FROM failures ORDER BY path")
        return [dict(r) for r in rows]
