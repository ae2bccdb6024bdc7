"""The path every answer and search takes through the API: limits, a generation
slot, a deadline, and the answer service's events. /v1/ask, /v1/chat/completions,
/v1/search and the MCP tools (api/mcp_server.py) all use it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from fastapi import Request

from api.errors import ApiError
from api.keys import Principal
from api.schemas import AskRequest, Filters
from api.services import Services
from api.streaming import Event, EventStream
from api.views import hits_view, prefix_document_ids
from rag.answer.service import Answer, new_answer_id
from rag.llm import Message
from rag.settings import answer_fingerprint
from rag.store import DocumentStore
from rag.store.questions import LoggedAnswer, logged_citations
from rag.types import SearchFilters

log = logging.getLogger(__name__)


def scoped_filters(
    who: Principal, requested: Filters | None, store: DocumentStore | None = None
) -> SearchFilters:
    """The caller's filters inside the caller's groups: a request may narrow what a
    key sees, never widen it. An employee's `path_prefix` is matched against the file
    names it is shown (api/views.py), which needs the `store`."""
    allowed = who.visible_groups
    groups = allowed
    if requested is not None and requested.groups is not None:
        groups = tuple(g for g in requested.groups if allowed is None or g in allowed)
    if requested is None:
        return SearchFilters(groups=groups)
    for name in ("updated_after", "updated_before"):
        value = getattr(requested, name)
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ApiError(
                    422, "invalid_request", f"{name} must be an ISO 8601 date such as 2026-01-31"
                ) from None
    document_ids = None if requested.document_ids is None else tuple(requested.document_ids)
    path_prefix = requested.path_prefix or None
    if path_prefix is not None and not who.is_admin:
        if store is None:
            raise ValueError("an employee's path_prefix needs the store")
        named = prefix_document_ids(store, who, path_prefix)
        document_ids = named if document_ids is None else tuple(set(document_ids) & set(named))
        path_prefix = None
    return SearchFilters(
        groups=groups,
        document_ids=document_ids,
        path_prefix=path_prefix,
        updated_after=requested.updated_after,
        updated_before=requested.updated_before,
    )


def log_answer(
    services: Services, answer: Answer, who: Principal, overrides: dict[str, Any]
) -> None:
    """Put the answer in the question log (rag.store.questions; with the log off, in
    memory for an hour so it can still be rated). A failure to log is logged, never
    the answer's failure."""
    try:
        body = answer.to_dict()
        services.questions.record(
            LoggedAnswer(
                id=answer.id,
                asked_at=services.questions.now(),
                question=answer.question,
                answer=answer.text,
                citations=logged_citations(body["citations"]),
                mode=answer.mode,
                model=str(getattr(services.answers.llm, "name", "unknown")),
                settings_fingerprint=answer_fingerprint(services.settings, overrides),
                first_token_s=answer.timings.get("first_token_s"),
                total_s=answer.timings.get("total_s"),
                key_id=who.key_id,
                groups=who.groups,
            )
        )
    except Exception as exc:  # the disk is full, the file is locked...
        log.warning("answer %s not logged: %s", answer.id, exc)


async def search_for(
    services: Services,
    who: Principal,
    query: str,
    k: int | None,
    filters: Filters | None,
    mode: str = "hybrid",
    mmr_lambda: float | None = None,
) -> dict[str, Any]:
    """A search as `who` may see it (the /v1/search body): the query checked against
    the settings' limits, the filters inside the key's groups, the hits as the key is
    shown them."""
    query = services.search.validate_question(query)
    scoped = scoped_filters(who, filters, services.store)
    started = time.perf_counter()
    result = await asyncio.get_running_loop().run_in_executor(
        services.search_executor,
        partial(services.search.search, query, k, scoped, mode, mmr_lambda),
    )
    elapsed = time.perf_counter() - started
    services.metrics.retrieval.observe(elapsed)
    return {
        "query": query,
        "language": result.language,
        "results": hits_view(result.hits, who),
        "timings": {
            **{name: round(v, 4) for name, v in result.timings.items()},
            "search_s": round(elapsed, 5),  # the service's time, for overhead measures
        },
    }


def ask_overrides(body: Any) -> dict[str, Any]:
    """A request's generation settings that it sets (the others keep the settings')."""
    names = ("temperature", "top_p", "top_k", "max_tokens", "seed")
    return {n: getattr(body, n, None) for n in names if getattr(body, n, None) is not None}


def start_answer(services: Services, who: Principal, body: AskRequest) -> Awaitable[AnswerRun]:
    """Check an /v1/ask request against the settings' limits (question length, k,
    generation settings: errors now, before a slot is taken, not mid-stream), then
    wait for a generation slot and start the answer inside the key's groups."""
    question = services.search.validate_question(body.question)
    if body.k is not None:
        services.search.validate_k(body.k)
    from rag.llm import generation_params

    overrides = ask_overrides(body)
    generation_params(services.settings, **overrides)
    return AnswerRun.start(
        services,
        who.key_id,
        question,
        [t.model_dump() for t in body.history] if body.history else None,
        scoped_filters(who, body.filters, services.store),
        body.k,
        overrides,
        web=body.web,
        asker=who,
    )


# How often a route that answers in one piece (JSON) asks whether its client is still
# there: a client gone stops its generation and frees its slot within about this.
DISCONNECT_POLL_S = 0.25

T = TypeVar("T")


async def unless_disconnected(
    work: Awaitable[T], request: Request, abandon: Callable[[T], None] | None = None
) -> T:
    """`work`'s result, unless the client goes away first: then `work` is cancelled
    (a queued request leaves the queue, an answer stops) and ApiError 499 is raised,
    for the access log (nobody reads the body). Should `work` finish anyway, its result
    goes to `abandon` (a run started as its client left is closed).

    Streaming responses notice a client gone by themselves (sse-starlette listens
    for it); a JSON answer is written only at the end, so its route has to ask."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                if task.done():  # it ended while we asked
                    return task.result()
                break
    finally:
        if not task.done():
            task.cancel()

            def abandoned(task: asyncio.Future[T]) -> None:
                if task.cancelled():
                    return
                if task.exception() is None and abandon is not None:
                    abandon(task.result())

            task.add_done_callback(abandoned)
    raise ApiError(499, "client_closed_request", "the client went away before the answer")


@dataclass
class AnswerRun:
    """One answer in progress: holds a generation slot until the generation ends."""

    services: Services
    stream: EventStream
    deadline: float
    stage: str = "queue"
    answer_id: str = ""
    prefetched: list[Event] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # from the API, put on the answer
    _released: bool = False

    @classmethod
    async def start(
        cls,
        services: Services,
        key: Hashable,
        question: str,
        history: list[Message] | None,
        filters: SearchFilters,
        k: int | None,
        overrides: dict[str, Any],
        web: bool = False,
        asker: Principal | None = None,
    ) -> AnswerRun:
        """Wait for a generation slot (`key`: the caller's API key, whose share of the
        queue is bounded) and start the answer. With `asker`, the answer is logged as
        that key's (log_answer) before the client gets it, so it can be rated at once."""
        started = time.monotonic()
        gate = services.gate
        try:
            await gate.acquire(key, timeout_s=services.settings.api.request_timeout_s)
        except ApiError as exc:
            services.metrics.rejected.labels(exc.code).inc()  # overloaded, queue_*
            raise
        services.metrics.generations_running.inc()
        answer_id = new_answer_id()

        def events() -> Any:
            # The answer service adds web results, or says why not (RAG_WEB__ENABLED off,
            # SearXNG down or slow).
            answering = services.answers.stream(
                question,
                history=history,
                filters=filters,
                k=k,
                web=web,
                answer_id=answer_id,
                **overrides,
            )
            try:
                for event in answering:
                    if event["type"] == "answer" and asker is not None:
                        log_answer(services, event["answer"], asker, overrides)
                    yield event
            finally:
                answering.close()  # closed early: stops the generation at once

        try:
            stream = EventStream(events)
        except BaseException:
            services.metrics.generations_running.dec()
            gate.release()
            raise
        timeout = services.settings.api.request_timeout_s
        return cls(services, stream, started + timeout, answer_id=answer_id)

    def _remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    async def next(self) -> Event | None:
        try:
            event = await self.stream.next(self._remaining())
        except TimeoutError:
            self.close()
            raise ApiError(
                504,
                "timeout",
                f"no answer within {self.services.settings.api.request_timeout_s:g} s "
                f"(RAG_API__REQUEST_TIMEOUT_S); the {self.stage} stage was running",
                stage=self.stage,
            ) from None
        if event is None:
            self.close()
        elif event["type"] == "stage":
            self.stage = event["name"]
        elif event["type"] == "notice":
            self.notices.append(event["text"])
        elif event["type"] == "answer":
            event["answer"].notices[:0] = self.notices
            self.services.metrics.observe_answer(event["answer"])
        return event

    async def prefetch(self) -> None:
        """Wait for the first token or the answer, so a failure before the stream
        starts still gets its own status code (4xx, 504)."""
        while True:
            event = await self.next()
            if event is None:
                return
            self.prefetched.append(event)
            if event["type"] in ("token", "answer"):
                return

    async def events(self) -> AsyncIterator[Event]:
        try:
            while self.prefetched:
                yield self.prefetched.pop(0)
            while (event := await self.next()) is not None:
                yield event
        finally:
            self.close()

    async def answer_for(self, request: Request) -> Any:
        """The answer, for a client that waits for it whole (JSON): if the client goes
        away first, the generation stops and the slot comes back (ApiError 499)."""
        try:
            return await unless_disconnected(self.answer(), request)
        finally:
            self.close()  # already done after an answer; stops one abandoned

    async def answer(self) -> Any:
        answer = None
        async for event in self.events():
            if event["type"] == "answer":
                answer = event["answer"]
        if answer is None:
            raise ApiError(500, "internal_error", "the answer service ended without an answer")
        return answer

    def close(self) -> None:
        """Stop the generation (if running) and give the slot back once it ends."""
        if self._released:
            return
        self._released = True
        self.stream.cancel()
        services = self.services

        def release() -> None:
            services.metrics.generations_running.dec()
            services.gate.release()

        if self.stream.finished.is_set():
            release()
            return
        loop = asyncio.get_running_loop()

        async def release_later() -> None:
            await loop.run_in_executor(None, self.stream.finished.wait)
            release()

        services.background.add(task := loop.create_task(release_later()))
        task.add_done_callback(services.background.discard)
