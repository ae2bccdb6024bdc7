"""OpenAI-compatible chat completions, so existing chat front-ends (Open WebUI, any
OpenAI client) can use the service. The last user message is the question, the
earlier turns its history. Citations travel in the answer text (a "Sources" list)
and in an extra `citations` field."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from api.answering import AnswerRun, scoped_filters, unless_disconnected
from api.deps import principal, services_of
from api.errors import ApiError, error_body
from api.keys import Principal
from api.schemas import (
    CHAT_ID_PREFIX,
    CHAT_STREAM,
    ERROR_RESPONSES,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    ModelList,
)
from api.views import citations_view
from rag.answer.service import Answer
from rag.llm import generation_params

router = APIRouter(prefix="/v1", tags=["openai-compatible"], responses=ERROR_RESPONSES)

MODEL = "company-rag"


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def sources_block(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = [f"[{c.n}] {c.title}, p. {c.page}" for c in answer.citations]
    return "\n\nSources:\n" + "\n".join(lines)


def _chunk(
    cid: str, created: int, delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> str:
    return json.dumps(
        {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        },
        ensure_ascii=False,
    )


def _pieces(text: str, size: int = 80) -> list[str]:
    """The text in deltas of about `size` characters, cut after a space: clients show
    it as it arrives, as they would a generated stream."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        cut = text.rfind(" ", start, end) + 1 if end < len(text) else end
        end = cut if cut > start else end
        pieces.append(text[start:end])
        start = end
    return pieces


def _usage(answer: Answer) -> dict[str, int]:
    u = answer.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    }


@router.get(
    "/models",
    summary="The one model this service offers (OpenAI-compatible)",
    response_model=ModelList,
)
async def models(who: Principal = Depends(principal)) -> dict[str, Any]:  # noqa: B008
    return {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "company"}],
    }


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat over the documents",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "The completion as JSON, or as Server-Sent Events with `stream: true`.",
            "content": {"text/event-stream": {"schema": CHAT_STREAM}},
        }
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
) -> Any:
    services = services_of(request)
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise ApiError(422, "invalid_request", "the last message must be the user's question")
    question = services.search.validate_question(_text(turns[-1]))
    history = [{"role": m.role, "content": _text(m)} for m in turns[:-1]] or None
    overrides = {
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "seed": body.seed,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    generation_params(services.settings, **overrides)
    run = await unless_disconnected(
        AnswerRun.start(
            services,
            who.key_id,
            question,
            history,
            scoped_filters(who, None),
            None,
            overrides,
            asker=who,
        ),
        request,
        abandon=AnswerRun.close,
    )
    # The answer's own id (POST /v1/answers/{id}/feedback takes it with this prefix).
    cid = f"{CHAT_ID_PREFIX}{run.answer_id}"
    created = int(time.time())
    if not body.stream:
        answer = await run.answer_for(request)
        content = answer.text + sources_block(answer)
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(answer),
            "citations": citations_view([c.to_dict() for c in answer.citations], who),
            "mode": answer.mode,
        }
    try:
        await unless_disconnected(run.prefetch(), request)
    except BaseException:
        run.close()
        raise

    async def chunks() -> Any:
        # Only the verified answer is sent. An OpenAI stream cannot take text back, and
        # clients render each delta as it comes: the draft's tokens would show sentences
        # that verification then removes (an invented figure, an echoed system prompt).
        # The role goes first, pings keep the connection while the answer is made.
        try:
            yield _chunk(cid, created, {"role": "assistant", "content": ""})
            async for event in run.events():
                if event["type"] != "answer":
                    continue
                answer = event["answer"]
                for piece in _pieces(answer.text + sources_block(answer)):
                    yield _chunk(cid, created, {"content": piece})
                yield _chunk(
                    cid,
                    created,
                    {"content": ""},
                    "stop",
                    citations=citations_view([c.to_dict() for c in answer.citations], who),
                    usage=_usage(answer),
                    mode=answer.mode,
                )
        except ApiError as exc:
            yield json.dumps(error_body(exc.code, exc.message))
        except Exception:
            yield json.dumps(error_body("internal_error", "the answer failed"))
        yield "[DONE]"

    return EventSourceResponse(chunks(), ping=15)
