"""Operators' routes: liveness, readiness, Prometheus metrics. No key needed.

/readyz tells anyone whether each check passes, and nothing more: why a check fails
(exception text with file paths, the Ollama URL, model names) and the figures of a
ready one (documents, vectors, model name) go to the log, and to admin keys."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import caller_if_any, services_of
from api.keys import Principal
from api.schemas import Health, Readiness
from api.services import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


class PrometheusResponse(Response):
    """Prometheus' text exposition format (its media type carries the version)."""

    media_type = CONTENT_TYPE_LATEST


@router.get("/healthz", summary="The process is up", response_model=Health)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _checks(services: Services) -> dict[str, Any]:
    checks: dict[str, Any] = {}

    def run(name: str, check: Any) -> None:
        try:
            result = check()
            checks[name] = {"ready": True, **(result or {})}
        except Exception as exc:
            checks[name] = {"ready": False, "reason": f"{type(exc).__name__}: {exc}"[:300]}

    run("store", lambda: {"documents": services.store.count_documents()})
    run("index", lambda: {"vectors": len(services.search.retriever.index())})
    run("embedder", lambda: {"dimension": services.embedder.dimension})

    def llm() -> dict[str, Any]:
        backend = services.answers.llm
        check = getattr(backend, "check", None)
        if check is not None:
            check()  # a server backend: up, with the model pulled
        elif getattr(backend, "loaded", True) is False:
            state = services.warm.get("llm")
            raise RuntimeError(state if isinstance(state, str) else "the model is loading")
        return {"name": backend.name}

    run("llm", llm)
    return checks


def _log_changes(services: Services, checks: dict[str, Any]) -> None:
    """Log a check's reason when it starts failing or its reason changes, and when it
    passes again: once per change, not on every probe of a load balancer."""
    last = services.readiness
    for name, check in checks.items():
        reason = None if check["ready"] else check["reason"]
        if last.get(name, None) == reason:
            continue
        if reason is not None:
            log.warning("readiness check %s failing: %s", name, reason)
        elif name in last:
            log.info("readiness check %s passes again", name)
        last[name] = reason


@router.get(
    "/readyz",
    summary="Store, index, embedder and LLM are ready",
    description="Anyone gets each check's `ready`; an admin key also gets a failing "
    "check's `reason` and a passing check's figures (the reasons are logged too).",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see each check."}},
)
async def readyz(
    request: Request,
    who: Principal | None = Depends(caller_if_any),  # noqa: B008
) -> JSONResponse:
    # Sent as is, with its status: tests/api/test_layout.py checks it against Readiness.
    services = services_of(request)
    checks = await run_in_threadpool(_checks, services)
    _log_changes(services, checks)
    ready = all(c["ready"] for c in checks.values())
    if who is None or not who.is_admin:
        checks = {name: {"ready": c["ready"]} for name, c in checks.items()}
    return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PrometheusResponse,
    responses={200: {"description": f"Prometheus text format ({CONTENT_TYPE_LATEST})."}},
)
async def metrics(request: Request) -> Response:
    services = services_of(request)
    return PrometheusResponse(generate_latest(services.metrics.registry))
