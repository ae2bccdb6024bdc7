"""Ratings of answers, and what the admins learn from them and from the question log
(docs/feedback.md).

- POST /v1/answers/{id}/feedback: the key that asked rates its answer (an admin may
  rate any). Another key's answer is a 404 with the same body as an unknown id, so an
  id says nothing about whether it exists.
- GET /v1/feedback: an admin sees every rating; anyone else only their own (ratings
  quote questions and answers, which are the rater's business and the admins').
- GET /v1/admin/stats and /v1/admin/gaps: admins only; they read every key's
  questions.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from api.deps import admin, principal, services_of
from api.errors import ApiError
from api.keys import Principal
from api.schemas import (
    CHAT_ID_PREFIX,
    ERROR_RESPONSES,
    AnswerId,
    FeedbackItem,
    FeedbackList,
    FeedbackRequest,
    GapReport,
    Stats,
)
from rag.feedback import gap_report
from rag.store.questions import since_stamp

router = APIRouter(prefix="/v1", tags=["feedback"], responses=ERROR_RESPONSES)

SINCE = Query(
    None,
    max_length=40,
    description="Only what was asked (stats, gaps) or rated (feedback) at or after this "
    "ISO 8601 date or time (UTC unless it says otherwise).",
)


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return since_stamp(value)
    except ValueError:
        raise ApiError(
            422, "invalid_request", "since must be an ISO 8601 date or time such as 2026-01-31"
        ) from None


@router.post(
    "/answers/{answer_id}/feedback",
    summary="Rate an answer (up or down), with an optional comment and correction",
    response_model=FeedbackItem,
)
async def rate_answer(
    answer_id: AnswerId,
    body: FeedbackRequest,
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
) -> dict[str, Any]:
    services = services_of(request)
    plain = answer_id.removeprefix(CHAT_ID_PREFIX)
    feedback = await asyncio.get_running_loop().run_in_executor(
        None,
        partial(
            services.questions.rate,
            plain,
            who.key_id,
            who.is_admin,
            body.rating,
            body.comment.strip() if body.comment else None,
            body.correct_answer.strip() if body.correct_answer else None,
        ),
    )
    if feedback is None:
        # One message for "no such answer" and "another key's answer".
        raise ApiError(
            404,
            "not_found",
            "no such answer among yours: rate an answer with the key that asked for it, "
            "by the `id` it came with, within the question log's retention (within the "
            "hour when the log is off)",
        )
    services.metrics.feedback.labels(feedback.rating).inc()
    return feedback.to_dict()


@router.get(
    "/feedback",
    summary="Ratings: every one for admin keys, the caller's own for others",
    response_model=FeedbackList,
)
async def list_feedback(
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
    rating: Literal["up", "down"] | None = Query(None),
    since: str | None = SINCE,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    services = services_of(request)
    items = services.questions.feedback(
        key_id=None if who.is_admin else who.key_id,
        rating=rating,
        since=_since(since),
        limit=limit,
    )
    return {"feedback": [f.to_dict() for f in items]}


@router.get(
    "/admin/stats",
    summary="Questions per day, not-found and down-vote rates, first-token time, by group",
    response_model=Stats,
)
async def stats(
    request: Request,
    who: Principal = Depends(admin),  # noqa: B008
    since: str | None = SINCE,
) -> dict[str, Any]:
    return services_of(request).questions.stats(_since(since))


@router.get(
    "/admin/gaps",
    summary="Questions answered not found or rated down, grouped by topic",
    response_model=GapReport,
)
async def gaps(
    request: Request,
    who: Principal = Depends(admin),  # noqa: B008
    since: str | None = SINCE,
    limit: int = Query(
        500, ge=1, le=2000, description="The newest questions grouped, at most this many."
    ),
) -> dict[str, Any]:
    services = services_of(request)
    after = _since(since)
    candidates = services.questions.gap_candidates(after, limit)
    report = await asyncio.get_running_loop().run_in_executor(
        services.search_executor,  # the embedder's thread (api/services.py)
        partial(
            gap_report, candidates, services.embedder, services.settings.feedback.gap_similarity
        ),
    )
    return {"question_log": services.questions.enabled, "since": after, **report}
