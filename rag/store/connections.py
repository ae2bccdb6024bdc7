"""One SQLite connection per thread to one database file, in WAL mode: how the
document store, the question log and the API key store each open their file.

A sqlite3 connection must not be shared by threads (the API answers from several),
and opening one per call would repeat the pragmas on every query.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class ThreadConnections:
    """This thread's connection to `path`, opened on first use. `autocommit`: no
    implicit transactions (the caller issues BEGIN); `pragmas` run after WAL mode."""

    def __init__(self, path: Path, autocommit: bool = False, pragmas: tuple[str, ...] = ()):
        self.path = path
        self.autocommit = autocommit
        self.pragmas = pragmas
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.autocommit:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            else:
                conn = sqlite3.connect(self.path, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            for pragma in self.pragmas:
                conn.execute(f"PRAGMA {pragma}")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
