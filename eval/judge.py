"""The LLM judge: any `rag` LLM backend asked for constrained JSON or a yes/no verdict.

Small models break free-form JSON, so every structured request carries a JSON schema
(llama.cpp turns it into a grammar, Ollama takes it as `format`) and the reply is still
validated with pydantic. A reply that does not validate is retried (the first attempt
greedy, the retries sampled with another seed); when every attempt fails the verdict is
recorded as a failure with its raw output, and the report counts failures per metric
instead of hiding them as NaN.

Yes/no verdicts are graded: where the backend exposes its next-token distribution the
verdict's value is P("yes") renormalised over yes/no, otherwise a constrained
`{"verdict": "yes"|"no"}` gives 1.0 or 0.0.

Every reply is cached on disk by a hash of (model, messages, schema, attempt), so a
re-run with unchanged answers costs no judge call.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from rag.llm import LLM, GenerationParams, LLMUnavailable, Message, ScoresChoices

T = TypeVar("T", bound=BaseModel)

YES_THRESHOLD = 0.5
"""A graded yes/no verdict counts as "yes" from this probability on."""


class YesNo(BaseModel):
    verdict: Literal["yes", "no"]


@dataclass
class Verdict:
    """One judge decision, kept in the report with its raw output."""

    metric: str
    ok: bool
    value: Any  # the validated reply (a dict) or P(yes); None when the judge failed
    raw: str
    attempts: int
    cached: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def yes(self) -> bool:
        return bool(self.ok and self.value is not None and self.value >= YES_THRESHOLD)


class JudgeCache:
    """Replies on disk, keyed by the hash of everything that determines them."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, raw TEXT)")
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT raw FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, raw: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, raw))

    def close(self) -> None:
        self._db.close()


class Judge:
    def __init__(
        self,
        llm: LLM,
        cache: JudgeCache | None = None,
        retries: int = 2,
        max_tokens: int = 256,
        context_size: int = 4096,
        seed: int = 42,
    ) -> None:
        self.llm = llm
        self.cache = cache
        self.retries = retries
        self.max_tokens = max_tokens
        self.context_size = context_size
        self.seed = seed
        self.verdicts: list[Verdict] = []  # every verdict since the last `take_verdicts`
        self.failures: Counter[str] = Counter()
        self._graded = isinstance(llm, ScoresChoices)

    @property
    def name(self) -> str:
        return self.llm.name

    def take_verdicts(self) -> list[Verdict]:
        taken, self.verdicts = self.verdicts, []
        return taken

    def _key(self, kind: str, messages: list[Message], schema: Any, attempt: int) -> str:
        blob = json.dumps([self.name, kind, messages, schema, attempt, self.seed], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cached(self, key: str) -> str | None:
        return self.cache.get(key) if self.cache is not None else None

    def _record(self, verdict: Verdict) -> Verdict:
        self.verdicts.append(verdict)
        if not verdict.ok:
            self.failures[verdict.metric] += 1
        return verdict

    def structured(
        self, metric: str, messages: list[Message], model: type[T], max_tokens: int | None = None
    ) -> Verdict:
        """A reply validated against `model`; `value` is the validated dict."""
        schema = model.model_json_schema()
        raw, error, cached = "", "no attempt", False
        for attempt in range(self.retries + 1):
            key = self._key("json", messages, schema, attempt)
            hit = self._cached(key)
            cached = hit is not None
            if hit is None:
                params = GenerationParams(
                    temperature=0.0 if attempt == 0 else 0.7,
                    seed=self.seed + attempt,
                    max_tokens=max_tokens or self.max_tokens,
                    context_size=self.context_size,
                    json_schema=schema,
                )
                try:
                    raw = "".join(self.llm.generate(messages, params))
                except LLMUnavailable as exc:
                    # The judge itself is down or the prompt does not fit: retrying
                    # the same prompt cannot help.
                    return self._record(
                        Verdict(metric, False, None, "", attempt + 1, False, str(exc))
                    )
                if self.cache is not None:
                    self.cache.put(key, raw)
            else:
                raw = hit
            try:
                value = model.model_validate_json(raw).model_dump()
            except ValidationError as exc:
                error = f"reply does not match the schema: {exc.errors()[0]['msg']}"
                continue
            return self._record(Verdict(metric, True, value, raw, attempt + 1, cached))
        return self._record(Verdict(metric, False, None, raw, self.retries + 1, cached, error))

    def yes_probability(self, metric: str, messages: list[Message]) -> Verdict:
        """P(yes) for a yes/no question (graded where the backend allows it)."""
        if self._graded:
            key = self._key("yes_no", messages, None, 0)
            hit = self._cached(key)
            if hit is not None:
                return self._record(Verdict(metric, True, json.loads(hit)["yes"], hit, 1, True))
            params = GenerationParams(seed=self.seed, context_size=self.context_size)
            try:
                probabilities = self.llm.choice_probabilities(  # type: ignore[attr-defined]
                    messages, ["yes", "no"], params
                )
            except LLMUnavailable:
                # e.g. an Ollama too old to return logprobs: fall back to sampled verdicts.
                self._graded = False
            else:
                raw = json.dumps({"yes": round(probabilities["yes"], 6)})
                if self.cache is not None:
                    self.cache.put(key, raw)
                return self._record(Verdict(metric, True, json.loads(raw)["yes"], raw, 1, False))
        verdict = self.structured(metric, messages, YesNo, max_tokens=16)
        if verdict.ok:
            verdict.value = 1.0 if verdict.value["verdict"] == "yes" else 0.0
        return verdict
