"""Employees' routes: /v1/ask (JSON or Server-Sent Events) and /v1/search."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.answering import AnswerRun, search_for, start_answer, unless_disconnected
from api.deps import principal, services_of
from api.errors import ApiError, error_body
from api.keys import Principal
from api.schemas import (
    ASK_STREAM,
    ERROR_RESPONSES,
    AnswerResponse,
    AskRequest,
    Me,
    SearchRequest,
    SearchResponse,
)
from api.views import answer_view

router = APIRouter(prefix="/v1", tags=["answers"], responses=ERROR_RESPONSES)


def sse(event: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, ensure_ascii=False), event=event)


async def ask_events(run: AnswerRun, who: Principal) -> Any:
    """token* -> citations -> done; `reset` if streamed tokens were abandoned,
    `error` if the answer failed after the stream began."""
    try:
        async for event in run.events():
            kind = event["type"]
            if kind == "token":
                yield sse("token", {"text": event["text"]})
            elif kind == "reset":
                yield sse("reset", {})
            elif kind == "stage":
                yield sse("stage", {"name": event["name"]})
            elif kind == "answer":
                body = answer_view(event["answer"].to_dict(), who)
                yield sse(
                    "citations",
                    {"citations": body["citations"], "web_sources": body["web_sources"]},
                )
                yield sse("done", body)
    except ApiError as exc:
        yield sse("error", error_body(exc.code, exc.message, **exc.extra))
    except Exception as exc:  # the stream has begun: report in-band, never a traceback
        code = "bad_request" if isinstance(exc, ValueError) else "internal_error"
        yield sse("error", error_body(code, str(exc) if code == "bad_request" else "failed"))


def wants_stream(request: Request, flag: bool) -> bool:
    return flag or "text/event-stream" in request.headers.get("accept", "")


@router.post(
    "/ask",
    summary="Answer a question from the documents, with citations",
    response_model=AnswerResponse,
    responses={
        200: {
            "description": "The answer as JSON, or as Server-Sent Events with `stream: true` "
            "or `Accept: text/event-stream`.",
            "content": {"text/event-stream": {"schema": ASK_STREAM}},
        }
    },
)
async def ask(
    body: AskRequest,
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
) -> Any:
    run = await unless_disconnected(
        start_answer(services_of(request), who, body), request, abandon=AnswerRun.close
    )
    if not wants_stream(request, body.stream):
        answer = await run.answer_for(request)
        return answer_view(answer.to_dict(), who)
    try:
        await unless_disconnected(run.prefetch(), request)
    except BaseException:
        run.close()
        raise
    return EventSourceResponse(ask_events(run, who), ping=15)


@router.post("/search", summary="Ranked passages for a query", response_model=SearchResponse)
async def search(
    body: SearchRequest,
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
) -> dict[str, Any]:
    return await search_for(
        services_of(request), who, body.query, body.k, body.filters, body.mode, body.mmr_lambda
    )


@router.get(
    "/me",
    summary="The caller's key (name, role, access groups) and what the server offers",
    response_model=Me,
)
async def me(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:  # noqa: B008
    # `features` is how the page learns what to show (the "web results" box).
    features = {"web_search": services_of(request).settings.web.enabled}
    return {"name": who.name, "role": who.role, "groups": list(who.groups), "features": features}
