"""What the routes call: one set of services per app, built from settings, or given
by tests (a fake LLM, a small embedder)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from api.jobs import JobRunner
from api.keys import KeyStore
from api.limits import GenerationGate, RateLimiter
from api.metrics import Metrics
from ingest.pipeline import IngestService
from rag.answer.service import AnswerService
from rag.answer.web import SearxngClient
from rag.embedding import Embedder, create_embedder
from rag.llm import LLM
from rag.retrieval.service import SearchService
from rag.settings import Settings
from rag.store import DocumentStore
from rag.store.questions import QuestionLog

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: DocumentStore
    embedder: Embedder
    search: SearchService
    answers: AnswerService
    keys: KeyStore
    jobs: JobRunner
    metrics: Metrics
    gate: GenerationGate
    rate_limiter: RateLimiter
    questions: QuestionLog
    warm: dict[str, Any] = field(default_factory=dict)
    background: set[Any] = field(default_factory=set)  # tasks kept alive until done
    readiness: dict[str, str | None] = field(default_factory=dict)  # last reason per check
    _executor: ThreadPoolExecutor | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        metrics: Metrics | None = None,
        web: SearxngClient | None = None,
    ) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        store = DocumentStore(settings.db_path)
        embedder = embedder or create_embedder(settings.embedding)
        search = SearchService(settings, embedder=embedder, store=store)
        answers = AnswerService(settings, search=search, llm=llm, web=web)
        metrics = metrics or Metrics()

        def on_finished(status: str, summary: Any) -> None:
            metrics.ingest_jobs.labels(status).inc()
            if summary is not None:
                metrics.ingest_chunks.inc(summary.chunks)

        jobs = JobRunner(
            settings,
            store,
            lambda: IngestService(settings, embedder=embedder, store=store),
            on_file=lambda outcome: metrics.ingest_files.labels(outcome).inc(),
            on_finished=on_finished,
        )
        return cls(
            settings,
            store,
            embedder,
            search,
            answers,
            KeyStore(settings.data_dir / "keys.sqlite3"),
            jobs,
            metrics,
            GenerationGate(
                settings.api.generation_concurrency,
                settings.api.generation_queue,
                per_key=settings.api.queue_per_key,
                timeout_s=settings.api.queue_timeout_s,
            ),
            RateLimiter(settings.api.rate_limit),
            QuestionLog(
                settings.questions_path,
                enabled=settings.feedback.log_questions,
                retention_days=settings.feedback.retention_days,
            ),
        )

    _page_counter: Any = None

    @property
    def search_executor(self) -> ThreadPoolExecutor:
        """Searches run on one thread: torch and FAISS keep an OpenMP team per calling
        thread, and a pool of threads each with its own team oversubscribes 2 cores."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="search")
        return self._executor

    def page_counter(self) -> Any:
        """A one-process sandbox that counts an uploaded PDF's pages."""
        if self._page_counter is None:
            from ingest.sandbox import ParseLimits, ParserPool

            cfg = self.settings.ingest
            self._page_counter = ParserPool(
                ParseLimits(cfg.parse_timeout_s, cfg.parse_memory_mb, cfg.max_pages), workers=1
            )
        return self._page_counter

    def close(self) -> None:
        self.jobs.stop()
        self.answers.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._page_counter is not None:
            self._page_counter.close()

    def warm_up(self) -> None:
        """Load the embedder, the index and the LLM in the background, so the first
        question does not pay for them; /readyz says when this is done."""

        def run() -> None:
            for name, step in (
                ("embedder", lambda: self.embedder.embed_query("warm up")),
                ("index", self.search.retriever.index),
                ("llm", self._warm_llm),
            ):
                try:
                    step()
                    self.warm[name] = True
                except Exception as exc:
                    log.warning("warm-up of the %s failed: %s", name, exc)
                    self.warm[name] = str(exc)

        threading.Thread(target=run, name="warm-up", daemon=True).start()

    def _warm_llm(self) -> None:
        llm = self.answers.llm
        warm = getattr(llm, "warm_up", None) or getattr(llm, "check", None)
        if warm is not None:
            warm()
