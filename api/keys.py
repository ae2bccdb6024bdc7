"""API keys: created by `rag keys create`, shown once, stored as a SHA-256 hash.

A key is 32 random bytes, so a fast hash is enough: slow password hashes (argon2,
bcrypt) defend low-entropy secrets against guessing, which a random key is not.
Looking a key up by its hash also keeps the comparison out of Python's hands.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rag.errors import RagError

Role = Literal["employee", "admin"]
ROLES: tuple[Role, ...] = ("employee", "admin")
PREFIX = "rag_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    groups TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and access groups."""

    key_id: int
    name: str
    role: Role
    groups: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def visible_groups(self) -> tuple[str, ...] | None:
        """The groups whose documents this caller sees; None: all (admins manage them)."""
        return None if self.is_admin else self.groups

    def may_see(self, document_groups: tuple[str, ...] | list[str]) -> bool:
        return self.is_admin or bool(set(self.groups) & set(document_groups))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """The keys of one data dir, in their own SQLite file next to the store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        with self._conn as conn:
            conn.executescript(_SCHEMA)

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def create(self, name: str, role: str, groups: list[str]) -> tuple[str, Principal]:
        """A new key; the plain key is returned here and never again."""
        name = name.strip()
        if not name:
            raise RagError("a key needs a name (who or what uses it)")
        if role not in ROLES:
            raise RagError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        groups = sorted({g.strip() for g in groups if g.strip()})
        key = PREFIX + secrets.token_urlsafe(32)
        with self._conn as conn:
            cur = conn.execute(
                "INSERT INTO api_keys(name, role, groups, hash, hint, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    role,
                    json.dumps(groups),
                    _hash(key),
                    key[-4:],
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
        return key, Principal(int(cur.lastrowid or 0), name, role, tuple(groups))  # type: ignore[arg-type]

    def authenticate(self, key: str) -> Principal | None:
        row = self._conn.execute(
            "SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (_hash(key),)
        ).fetchone()
        if row is None:
            return None
        return Principal(row["id"], row["name"], row["role"], tuple(json.loads(row["groups"])))

    def list(self) -> list[dict[str, object]]:
        rows = self._conn.execute("SELECT * FROM api_keys ORDER BY id").fetchall()
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "role": r["role"],
                "groups": json.loads(r["groups"]),
                "key": f"{PREFIX}...{r['hint']}",
                "created_at": r["created_at"],
                "revoked_at": r["revoked_at"],
            }
            for r in rows
        ]

    def revoke(self, key_id_or_name: str) -> int:
        """Revoke by id or by name; returns how many keys were revoked."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        column = "id" if key_id_or_name.isdigit() else "name"
        with self._conn as conn:
            cur = conn.execute(
                f"UPDATE api_keys SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL",
                (now, int(key_id_or_name) if column == "id" else key_id_or_name),
            )
        return cur.rowcount

    def has_admin(self) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1"
        ).fetchone()
        return row is not None

    def ensure_admin(self) -> str | None:
        """First run: create an admin key and return it (to print once); else None."""
        if self.has_admin():
            return None
        key, _ = self.create("admin (first run)", "admin", [])
        return key
