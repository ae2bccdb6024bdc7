"""The question log and employees' ratings: the only code that writes SQL against
`questions.sqlite3` in the data dir (docs/feedback.md).

Its own SQLite file, not the document store's: logging an answer never waits for the
ingest writer's lock, and deleting the log (or a data dir's documents) leaves the
other alone. WAL mode, one connection per thread, as rag.store.documents.

- `questions`: one row per answer the API gave (RAG_FEEDBACK__LOG_QUESTIONS), for the
  admins' stats and gap report. With the log off, answers are kept in memory only, for
  an hour at most (PENDING_TTL_S), so that they can still be rated.
- `feedback`: one row per answer and rating key, holding what was rated (question,
  answer, citations, mode, model, settings fingerprint), so a rating stands on its own
  whether or not the log is on; rating it again replaces the row.

Rows older than RAG_FEEDBACK__RETENTION_DAYS are deleted, from both tables, when the
log opens and at most hourly as answers are recorded.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any, Literal, TypeVar

from rag.store.connections import ThreadConnections

Rating = Literal["up", "down"]
R = TypeVar("R", "LoggedAnswer", "Feedback")
RATINGS: tuple[Rating, ...] = ("up", "down")
NO_GROUP = "(no group)"  # the stats' group for keys with no access group (admins)

PENDING_TTL_S = 3600.0  # with the log off, how long an answer can still be rated
PENDING_MAX = 1000  # ... and how many answers are kept for that, at most
PURGE_EVERY_S = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id TEXT PRIMARY KEY,
    asked_at TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    mode TEXT NOT NULL,
    model TEXT NOT NULL,
    settings_fingerprint TEXT NOT NULL,
    first_token_s REAL,
    total_s REAL,
    key_id INTEGER NOT NULL,
    groups TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_asked_at ON questions(asked_at);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL,
    key_id INTEGER NOT NULL,
    rating TEXT NOT NULL,
    comment TEXT,
    correct_answer TEXT,
    rated_at TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    asked_by INTEGER NOT NULL,
    groups TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    mode TEXT NOT NULL,
    model TEXT NOT NULL,
    settings_fingerprint TEXT NOT NULL,
    PRIMARY KEY (answer_id, key_id)
);
CREATE INDEX IF NOT EXISTS feedback_rated_at ON feedback(rated_at);
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """One format for every time in the log, so text comparison is time order."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def since_stamp(value: str) -> str:
    """An ISO 8601 date or time (UTC unless it says otherwise) as the log's stamp, to
    compare with; ValueError when it is not one."""
    moment = datetime.fromisoformat(value)
    return stamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@dataclass(frozen=True)
class LoggedAnswer:
    """An answer as the log keeps it. `citations`: the document citations' document
    id, title, page and quote; `key_id` and `groups`: the asking key's id (never the
    key) and access groups."""

    id: str
    asked_at: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    mode: str
    model: str
    settings_fingerprint: str
    first_token_s: float | None
    total_s: float | None
    key_id: int
    groups: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "groups": list(self.groups)}


def logged_citations(citations: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the log keeps of an answer's citations (Answer.to_dict's): the documents'."""
    return [
        {k: c[k] for k in ("document_id", "title", "page", "quote")}
        for c in citations
        if c.get("kind", "document") == "document"
    ]


@dataclass(frozen=True)
class Feedback:
    """One rating: who rated (`key_id`), how, and the answer it rates."""

    answer_id: str
    key_id: int
    rating: Rating
    comment: str | None
    correct_answer: str | None
    rated_at: str
    asked_at: str
    asked_by: int
    groups: tuple[str, ...]
    question: str
    answer: str
    citations: list[dict[str, Any]]
    mode: str
    model: str
    settings_fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        """Everything but the asking key's groups (for the stats, not for readers)."""
        return {k: v for k, v in asdict(self).items() if k != "groups"}


@dataclass(frozen=True)
class GapCandidate:
    """A question the gap report groups: answered not_found, or rated down."""

    answer_id: str
    question: str
    reason: Literal["not_found", "down"]
    asked_at: str
    citations: list[dict[str, Any]] = field(default_factory=list)


class QuestionLog:
    """The log of one data dir. `enabled` False: `record` keeps answers in memory only
    (see the module); ratings are stored either way."""

    def __init__(
        self,
        path: Path,
        enabled: bool = True,
        retention_days: int = 90,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.enabled = enabled
        self.retention_days = retention_days
        self.clock = clock
        self._connections = ThreadConnections(path, pragmas=("synchronous=NORMAL",))
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, tuple[float, LoggedAnswer]] = OrderedDict()
        self._purged_at = 0.0
        self._conn.executescript(_SCHEMA)
        self.purge()

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()

    def now(self) -> str:
        return stamp(self.clock())

    # -- retention ----------------------------------------------------------------------

    def purge(self) -> dict[str, int]:
        """Delete questions and ratings older than the retention period; how many."""
        cutoff = stamp(self.clock() - timedelta(days=self.retention_days))
        with self._conn as conn:
            questions = conn.execute("DELETE FROM questions WHERE asked_at < ?", (cutoff,))
            ratings = conn.execute("DELETE FROM feedback WHERE asked_at < ?", (cutoff,))
        self._purged_at = time.monotonic()
        return {"questions": questions.rowcount, "feedback": ratings.rowcount}

    def _purge_now_and_then(self) -> None:
        if time.monotonic() - self._purged_at >= PURGE_EVERY_S:
            self.purge()

    # -- answers ------------------------------------------------------------------------

    def record(self, answer: LoggedAnswer) -> None:
        if not self.enabled:
            with self._lock:
                self._forget_expired()
                self._pending[answer.id] = (time.monotonic(), answer)
                while len(self._pending) > PENDING_MAX:
                    self._pending.popitem(last=False)
            return
        with self._conn as conn:
            conn.execute(
                "INSERT OR REPLACE INTO questions(id, asked_at, question, answer, citations, "
                "mode, model, settings_fingerprint, first_token_s, total_s, key_id, groups) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer.id,
                    answer.asked_at,
                    answer.question,
                    answer.answer,
                    json.dumps(answer.citations, ensure_ascii=False),
                    answer.mode,
                    answer.model,
                    answer.settings_fingerprint,
                    answer.first_token_s,
                    answer.total_s,
                    answer.key_id,
                    json.dumps(list(answer.groups)),
                ),
            )
        self._purge_now_and_then()

    def _forget_expired(self) -> None:
        limit = time.monotonic() - PENDING_TTL_S
        while self._pending and next(iter(self._pending.values()))[0] < limit:
            self._pending.popitem(last=False)

    def get(self, answer_id: str) -> LoggedAnswer | None:
        with self._lock:
            self._forget_expired()
            pending = self._pending.get(answer_id)
        if pending is not None:
            return pending[1]
        row = self._conn.execute("SELECT * FROM questions WHERE id = ?", (answer_id,)).fetchone()
        return None if row is None else _logged(row)

    def answers(self, since: str | None = None, limit: int | None = None) -> list[LoggedAnswer]:
        """Logged answers, newest first."""
        rows = self._conn.execute(
            "SELECT * FROM questions WHERE asked_at >= ? "
            "ORDER BY asked_at DESC, rowid DESC LIMIT ?",
            (since or "", -1 if limit is None else limit),
        ).fetchall()
        return [_logged(r) for r in rows]

    # -- ratings ------------------------------------------------------------------------

    def rate(
        self,
        answer_id: str,
        key_id: int,
        is_admin: bool,
        rating: Rating,
        comment: str | None = None,
        correct_answer: str | None = None,
    ) -> Feedback | None:
        """Store `key_id`'s rating of the answer, replacing its earlier one. None when
        there is no such answer or it is another key's and `key_id` is no admin's:
        the caller cannot tell the two apart."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {', '.join(RATINGS)}")
        answer = self.get(answer_id)
        if answer is None or (answer.key_id != key_id and not is_admin):
            return None
        feedback = Feedback(
            answer_id=answer.id,
            key_id=key_id,
            rating=rating,
            comment=comment or None,
            correct_answer=correct_answer or None,
            rated_at=self.now(),
            asked_at=answer.asked_at,
            asked_by=answer.key_id,
            groups=answer.groups,
            question=answer.question,
            answer=answer.answer,
            citations=answer.citations,
            mode=answer.mode,
            model=answer.model,
            settings_fingerprint=answer.settings_fingerprint,
        )
        with self._conn as conn:
            conn.execute(
                "INSERT INTO feedback(answer_id, key_id, rating, comment, correct_answer, "
                "rated_at, asked_at, asked_by, groups, question, answer, citations, mode, "
                "model, settings_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(answer_id, key_id) DO UPDATE SET rating = excluded.rating, "
                "comment = excluded.comment, correct_answer = excluded.correct_answer, "
                "rated_at = excluded.rated_at",
                (
                    feedback.answer_id,
                    feedback.key_id,
                    feedback.rating,
                    feedback.comment,
                    feedback.correct_answer,
                    feedback.rated_at,
                    feedback.asked_at,
                    feedback.asked_by,
                    json.dumps(list(feedback.groups)),
                    feedback.question,
                    feedback.answer,
                    json.dumps(feedback.citations, ensure_ascii=False),
                    feedback.mode,
                    feedback.model,
                    feedback.settings_fingerprint,
                ),
            )
        return feedback

    def feedback(
        self,
        key_id: int | None = None,
        rating: Rating | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[Feedback]:
        """Ratings, newest first; `key_id`: only that key's."""
        clauses, params = ["rated_at >= ?"], [since or ""]
        if key_id is not None:
            clauses.append("key_id = ?")
            params.append(str(key_id))
        if rating is not None:
            clauses.append("rating = ?")
            params.append(rating)
        rows = self._conn.execute(
            f"SELECT * FROM feedback WHERE {' AND '.join(clauses)} "
            "ORDER BY rated_at DESC, rowid DESC LIMIT ?",
            (*params, -1 if limit is None else limit),
        ).fetchall()
        return [_feedback(r) for r in rows]

    # -- for the admins -----------------------------------------------------------------

    def gap_candidates(self, since: str | None = None, limit: int = 1000) -> list[GapCandidate]:
        """The newest `limit` questions answered not_found (from the log) or rated down
        (from the ratings), each answer once."""
        found: dict[str, GapCandidate] = {}
        rows = self._conn.execute(
            "SELECT answer_id, question, asked_at, citations FROM feedback "
            "WHERE rating = 'down' AND asked_at >= ? ORDER BY asked_at DESC LIMIT ?",
            (since or "", limit),
        ).fetchall()
        for r in rows:
            found[r["answer_id"]] = GapCandidate(
                r["answer_id"], r["question"], "down", r["asked_at"], json.loads(r["citations"])
            )
        rows = self._conn.execute(
            "SELECT id, question, asked_at FROM questions WHERE mode = 'not_found' "
            "AND asked_at >= ? ORDER BY asked_at DESC LIMIT ?",
            (since or "", limit),
        ).fetchall()
        for r in rows:
            candidate = GapCandidate(r["id"], r["question"], "not_found", r["asked_at"])
            found.setdefault(r["id"], candidate)
        newest = sorted(found.values(), key=lambda c: c.asked_at, reverse=True)
        return newest[:limit]

    def stats(self, since: str | None = None) -> dict[str, Any]:
        """Questions per day, not-found rate, down-vote rate and median first-token
        time, overall and by the asking key's groups (a key in two groups counts in
        both; keys with none under NO_GROUP). Questions come from the log, ratings
        from the ratings (kept with the log off too)."""
        rows = self._conn.execute(
            "SELECT asked_at, mode, first_token_s, groups FROM questions WHERE asked_at >= ?",
            (since or "",),
        ).fetchall()
        ratings = self._conn.execute(
            "SELECT rating, groups FROM feedback WHERE asked_at >= ?", (since or "",)
        ).fetchall()
        overall = _Tally()
        groups: dict[str, _Tally] = {}

        def tallies(raw: str) -> list[_Tally]:
            names = json.loads(raw) or [NO_GROUP]
            return [overall] + [groups.setdefault(n, _Tally()) for n in names]

        for r in rows:
            for tally in tallies(r["groups"]):
                tally.question(r["asked_at"][:10], r["mode"], r["first_token_s"])
        for r in ratings:
            for tally in tallies(r["groups"]):
                tally.rating(r["rating"])
        return {
            "question_log": self.enabled,
            "since": since,
            "overall": overall.figures(),
            "by_group": [{"group": n, **groups[n].figures()} for n in sorted(groups)],
        }


@dataclass
class _Tally:
    per_day: dict[str, int] = field(default_factory=dict)
    questions: int = 0
    not_found: int = 0
    first_tokens: list[float] = field(default_factory=list)
    up: int = 0
    down: int = 0

    def question(self, day: str, mode: str, first_token_s: float | None) -> None:
        self.questions += 1
        self.per_day[day] = self.per_day.get(day, 0) + 1
        self.not_found += mode == "not_found"
        if first_token_s is not None:
            self.first_tokens.append(first_token_s)

    def rating(self, rating: str) -> None:
        self.up += rating == "up"
        self.down += rating == "down"

    def figures(self) -> dict[str, Any]:
        rated = self.up + self.down
        return {
            "questions": self.questions,
            "per_day": [{"day": d, "questions": n} for d, n in sorted(self.per_day.items())],
            "not_found": self.not_found,
            "not_found_rate": round(self.not_found / self.questions, 4) if self.questions else None,
            "rated": rated,
            "up": self.up,
            "down": self.down,
            "down_vote_rate": round(self.down / rated, 4) if rated else None,
            "median_first_token_s": (
                round(median(self.first_tokens), 4) if self.first_tokens else None
            ),
        }


def _record(kind: type[R], row: sqlite3.Row) -> R:
    """A row of `questions` or `feedback` as its record: columns are named as the
    record's fields, and the lists are stored as JSON."""
    values = {f.name: row[f.name] for f in fields(kind)}
    values["citations"] = json.loads(values["citations"])
    values["groups"] = tuple(json.loads(values["groups"]))
    return kind(**values)


def _logged(row: sqlite3.Row) -> LoggedAnswer:
    return _record(LoggedAnswer, row)


def _feedback(row: sqlite3.Row) -> Feedback:
    return _record(Feedback, row)
