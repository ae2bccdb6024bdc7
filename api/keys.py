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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rag.errors import RagError
from rag.store.connections import ThreadConnections

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


class AmbiguousKeyError(RagError):
    """A key named by a string that is both one key's id and another key's name."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """The keys of one data dir, in their own SQLite file next to the store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = ThreadConnections(path)
        with self._conn as conn:
            conn.executescript(_SCHEMA)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def create(self, name: str, role: str, groups: list[str]) -> tuple[str, Principal]:
        """A new key; the plain key is returned here and never again."""
        with self._conn as conn:
            return self._insert(conn, name, role, groups)

    @staticmethod
    def _insert(
        conn: sqlite3.Connection, name: str, role: str, groups: list[str]
    ) -> tuple[str, Principal]:
        name = name.strip()
        if not name:
            raise RagError("a key needs a name (who or what uses it)")
        if role not in ROLES:
            raise RagError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        groups = sorted({g.strip() for g in groups if g.strip()})
        key = PREFIX + secrets.token_urlsafe(32)
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

    def revoke(
        self,
        key_id_or_name: str | None = None,
        *,
        key_id: int | None = None,
        name: str | None = None,
    ) -> int:
        """Revoke by id (`key_id`), by name (`name`: every active key of that name),
        or by either (`key_id_or_name`, refused when it is both an active key's id
        and an active key's name); returns how many keys were revoked."""
        if sum(x is not None for x in (key_id_or_name, key_id, name)) != 1:
            raise RagError("name the key to revoke once: by its id or by its name")
        if key_id_or_name is not None:
            key_id, name = self._resolve(key_id_or_name)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        column, value = ("id", key_id) if key_id is not None else ("name", name)
        with self._conn as conn:
            cur = conn.execute(
                f"UPDATE api_keys SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL",
                (now, value),
            )
        return cur.rowcount

    def _resolve(self, key_id_or_name: str) -> tuple[int | None, str | None]:
        """(id, None) or (None, name): what `key_id_or_name` names among active keys."""
        if not (key_id_or_name.isascii() and key_id_or_name.isdigit()):
            return None, key_id_or_name
        key_id = int(key_id_or_name)
        if key_id >= 2**63:  # no SQLite id is that large
            return None, key_id_or_name
        by_id = self._conn.execute(
            "SELECT 1 FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)
        ).fetchone()
        by_name = self._conn.execute(
            "SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL LIMIT 1",
            (key_id_or_name,),
        ).fetchone()
        if by_id and by_name:
            raise AmbiguousKeyError(
                f"{key_id_or_name!r} is both the id of one key and the name of another: "
                f"say which with `--id {key_id}` or `--name {key_id_or_name}`"
            )
        return (None, key_id_or_name) if by_name else (key_id, None)

    def has_admin(self) -> bool:
        """Whether an active (not revoked) admin key exists."""
        row = self._conn.execute(
            "SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1"
        ).fetchone()
        return row is not None

    def ensure_admin(self, deliver: Callable[[str], None]) -> Principal | None:
        """First run: create an admin key and hand it to `deliver` (which shows or
        stores it once), or return None and create nothing.

        Only a store that never had an admin key gets one: once admin keys exist,
        revoking them all leaves the service with none (the operator creates the next
        one with `rag keys create --role admin`), rather than a fresh key appearing
        silently on the next start. The check, the new row and `deliver` share one
        write transaction: two servers starting at once create one key, and a key
        `deliver` failed to hand over is never stored."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            ever = conn.execute("SELECT 1 FROM api_keys WHERE role = 'admin' LIMIT 1").fetchone()
            if ever is not None:
                conn.rollback()
                return None
            key, who = self._insert(conn, "admin (first run)", "admin", [])
            deliver(key)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return who
