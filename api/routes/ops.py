"""Operators' routes: liveness, readiness, Prometheus metrics. No key needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import services_of
from api.schemas import Health, Readiness
from api.services import Services

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


@router.get(
    "/readyz",
    summary="Store, index, embedder and LLM are ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see each check's reason."}},
)
async def readyz(request: Request) -> JSONResponse:
    # Sent as is, with its status: tests/api/test_layout.py checks it against Readiness.
    checks = await run_in_threadpool(_checks, services_of(request))
    ready = all(c["ready"] for c in checks.values())
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
