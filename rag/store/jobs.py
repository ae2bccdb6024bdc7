"""Ingest jobs, as the store records them: a job is created (queued, or running for a
command-line run), claimed by one runner, updated with its progress, and finished with
its counts and errors. Same database and connection as the documents (rag.store)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from rag.store.schema import now


@dataclass(frozen=True)
class Job:
    id: int
    kind: str  # "ingest" (the command line), "api_ingest" (the API's queue)...
    status: str  # receiving, queued, running, succeeded, partial, failed, interrupted
    params: dict[str, Any]
    counts: dict[str, Any]
    errors: list[dict[str, str]]
    started_at: str
    finished_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=int(row["id"]),
            kind=row["kind"],
            status=row["status"],
            params=json.loads(row["params"]),
            counts=json.loads(row["counts"]),
            errors=json.loads(row["errors"]),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )


class JobStore:
    """The jobs table of one store, through the store's connection (`conn`) and its
    write transactions (`write`, which joins a transaction already open)."""

    def __init__(
        self,
        conn: Callable[[], sqlite3.Connection],
        write: Callable[[], AbstractContextManager[sqlite3.Connection]],
    ) -> None:
        self._conn = conn
        self._write = write

    def create(self, kind: str, params: Mapping[str, object], status: str = "running") -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO jobs(kind, status, params, started_at) VALUES (?, ?, ?, ?)",
                (kind, status, json.dumps(params), now()),
            )
            return int(cur.lastrowid or 0)

    def update(
        self,
        job_id: int,
        status: str | None = None,
        counts: Mapping[str, object] | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        """Progress of a running job; counts and errors replace the previous ones."""
        sets, values = [], []
        for column, value in (
            ("status", status),
            ("counts", None if counts is None else json.dumps(counts)),
            ("errors", None if errors is None else json.dumps(errors)),
        ):
            if value is not None:
                sets.append(f"{column}=?")
                values.append(value)
        if sets:
            with self._write() as conn:
                conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id=?", (*values, job_id))

    def set_params(self, job_id: int, params: Mapping[str, object]) -> None:
        with self._write() as conn:
            conn.execute("UPDATE jobs SET params=? WHERE id=?", (json.dumps(params), job_id))

    def claim(self, job_id: int) -> bool:
        """Move a queued job to running; False if another runner took it first."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status='running' WHERE id=? AND status='queued'", (job_id,)
            )
            return cur.rowcount == 1

    def finish(
        self,
        job_id: int,
        status: str,
        counts: Mapping[str, object],
        errors: list[dict[str, str]],
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs SET status=?, counts=?, errors=?, finished_at=? WHERE id=?",
                (status, json.dumps(counts), json.dumps(errors), now(), job_id),
            )

    def interrupt_running(self, kind: str) -> int:
        """Mark `kind` jobs still `running` as `interrupted`: their process died (killed,
        out of memory, the machine lost power) before it could say so. Only a caller
        holding the store's writer lock may call this: no live job of `kind` runs then.
        Returns how many there were."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status='interrupted', finished_at=? "
                "WHERE kind=? AND status='running'",
                (now(), kind),
            )
            return cur.rowcount

    def list(self, statuses: Sequence[str] | None = None, limit: int = 100) -> list[Job]:
        """Newest first, or oldest first when filtered by status (a queue's order)."""
        conn = self._conn()
        if statuses:
            rows = conn.execute(
                f"SELECT * FROM jobs WHERE status IN ({','.join('?' * len(statuses))}) "
                "ORDER BY id LIMIT ?",
                (*statuses, limit),
            )
        else:
            rows = conn.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        return [Job.from_row(row) for row in rows.fetchall()]

    def get(self, job_id: int) -> Job | None:
        row = self._conn().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job.from_row(row)
