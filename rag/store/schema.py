"""The store's SQLite schema, its FTS5 index, and the migrations from older versions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    mime TEXT NOT NULL,
    groups TEXT NOT NULL,
    pages INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'ready',
    fingerprint TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    page_map TEXT NOT NULL,
    -- what ingest found that a reader does not see (hidden text): a JSON list
    flags TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_sha256 ON documents(sha256);
CREATE TABLE IF NOT EXISTS document_texts (
    document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS document_groups (
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    grp TEXT NOT NULL,
    PRIMARY KEY (grp, document_id)
);
CREATE INDEX IF NOT EXISTS document_groups_doc ON document_groups(document_id);
-- AUTOINCREMENT: chunk ids are never reused, so the vector index can catch up
-- with "every chunk above the last id it holds".
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    page_start INTEGER NOT NULL,
    page_end INTEGER NOT NULL,
    heading TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    title TEXT NOT NULL DEFAULT ''  -- the document's, so BM25 matches it on every chunk
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY,
    sha256 TEXT,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    errors TEXT NOT NULL DEFAULT '[]',
    started_at TEXT NOT NULL,
    finished_at TEXT
);
"""

FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, title, content='chunks', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
-- How many chunks hold each token: how rare a question's word is in this store.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, row);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading, title)
    VALUES (new.id, new.text, new.heading, new.title);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading, title)
    VALUES ('delete', old.id, old.text, old.heading, old.title);
END;
"""


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring an older store up to SCHEMA_VERSION in place, without re-embedding."""
    if version < 2:  # v2: document titles indexed for BM25 on every chunk
        conn.executescript(
            """
            BEGIN IMMEDIATE;
            ALTER TABLE chunks ADD COLUMN title TEXT NOT NULL DEFAULT '';
            UPDATE chunks SET title =
                (SELECT title FROM documents WHERE documents.id = chunks.document_id);
            DROP TRIGGER IF EXISTS chunks_ai;
            DROP TRIGGER IF EXISTS chunks_ad;
            DROP TABLE IF EXISTS chunks_fts;
            COMMIT;
            """
        )
        conn.executescript(FTS)
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
    if version < 3:  # v3: ingest's flags (hidden text); older documents have none known
        conn.executescript(
            """
            BEGIN IMMEDIATE;
            ALTER TABLE documents ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
            COMMIT;
            """
        )


def now() -> str:
    """A timestamp as the tables store it: ISO 8601, UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
