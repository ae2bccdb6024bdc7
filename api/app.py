"""The FastAPI app: `create_app(settings, services)` builds one; `rag serve` runs it."""

from __future__ import annotations

import html
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.routing import Route
from swagger_ui_bundle import swagger_ui_path

from api import errors, mcp_server
from api.headers import SecurityHeadersMiddleware
from api.limits import BodyLimitMiddleware
from api.mcp_server import McpEndpoint
from api.routes import answers, documents, feedback, ingest, openai_compat, ops
from api.schemas import add_event_schemas
from api.services import Services
from rag import logs
from rag.settings import Settings, get_settings
from rag.tracing import setup_tracing

log = logging.getLogger(__name__)
access_log = logging.getLogger("rag.access")
STATIC = Path(__file__).parent / "static"
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs-static/swagger-ui.css">
<link rel="icon" href="/docs-static/favicon-32x32.png">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs-static/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


class RequestIdMiddleware:
    """Every response carries X-Request-ID (the client's, or a new one); error bodies
    and log lines quote it, and one access line per request is logged (method, path
    without its query, status, duration; never a header or a body). Plain ASGI, so
    streaming responses pass through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"")[:64]
        rid = given.decode("latin-1") if given.isascii() and given else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500  # if the app fails before starting a response

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %d",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            logs.request_id.reset(token)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else get_settings())
    services = services or Services.build(settings)
    mcp = McpEndpoint(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracer_provider = setup_tracing(settings.tracing)
        services.jobs.start()
        if settings.api.warm_up:
            services.warm_up()
        try:
            async with mcp.running():  # the MCP session manager, inside the app's lifespan
                yield
        finally:
            services.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()  # flushes spans still buffered

    app = FastAPI(
        title="Company documents Q&A",
        version="0.1.0",
        summary="Answers from internal documents, with cited sources.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: the default loads them from a CDN
        redoc_url=None,
    )
    app.state.services = services
    base_openapi = app.openapi
    # The streamed events' payload models are no route's response_model: add them.
    app.openapi = lambda: add_event_schemas(base_openapi())  # type: ignore[method-assign]
    errors.install(app)
    for router in (
        answers.router,
        openai_compat.router,
        documents.router,
        ingest.router,
        feedback.router,
        ops.router,
    ):
        app.include_router(router)
    # MCP over streamable HTTP (api/mcp_server.py): the same keys, groups and limits.
    app.router.routes.append(Route(mcp_server.PATH, endpoint=mcp, include_in_schema=False))

    Instrumentator(
        excluded_handlers=["/metrics", "/static/.*"], registry=services.metrics.registry
    ).instrument(app, metric_namespace="rag")
    services.metrics.generations_waiting.set_function(lambda: services.gate.waiting)
    app.add_middleware(
        BodyLimitMiddleware,
        body_bytes=settings.api.max_body_kb * 1024,
        upload_bytes=int(settings.api.max_upload_mb * 1024 * 1024),
        upload_paths={ingest.JOBS_PATH},
    )

    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Swagger UI from the swagger-ui-bundle package, so /docs works offline.
    app.mount("/docs-static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get(
        "/docs",
        include_in_schema=False,
        response_class=HTMLResponse,
        responses={200: {"content": {"text/html": {}}}},
    )
    async def docs() -> HTMLResponse:
        # FastAPI's get_swagger_ui_html starts Swagger UI from an inline script, which
        # the Content-Security-Policy (api/headers.py) refuses: static/docs.js does it.
        return HTMLResponse(DOCS_PAGE.format(title=html.escape(app.title)))

    @app.get(
        "/",
        include_in_schema=False,
        response_class=HTMLResponse,  # the FileResponse below sends index.html as text/html
        responses={200: {"content": {"text/html": {}}}},
    )
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory` and `rag serve --workers N` (one app per process, each
    with its own logging set up from RAG_LOG_LEVEL / RAG_LOG_FORMAT)."""
    logs.configure_logging()
    return create_app(get_settings())
