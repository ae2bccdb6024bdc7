"""One error body for every failure: `{"error": {"code", "message", ...}}`.

Handlers turn every exception into that body. Nothing a client sees carries a
traceback or a server path: unexpected errors are logged with the request id and
answered with that id only.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.headers import SECURITY_HEADERS
from rag.errors import InvalidRequestError, RagError, StoreLockedError

log = logging.getLogger(__name__)

_PATH = re.compile(r"(?:(?<=\s)|^|(?<=[(\"']))/(?:[\w.@+-]+/)+[\w.@+-]*")


class ApiError(Exception):
    """An error with its HTTP status, machine code and message for the client."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra


def scrub(message: str) -> str:
    """Messages from the services may name server files; clients get the name only."""
    return _PATH.sub(lambda m: m.group(0).rsplit("/", 1)[-1] or "<path>", message)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": scrub(message), **extra}}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, **exc.extra), exc.status, headers=exc.headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                "problem": e["msg"],
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return JSONResponse(
            error_body("invalid_request", f"the request is not valid: {summary}", fields=problems),
            422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route: see /docs for the API"
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), message),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StoreLockedError)
    async def _locked(request: Request, exc: StoreLockedError) -> JSONResponse:
        return JSONResponse(
            error_body("busy", "an ingest job is writing to the store; retry in a moment"),
            409,
            headers={"Retry-After": "10"},
        )

    @app.exception_handler(InvalidRequestError)
    async def _invalid_request(request: Request, exc: InvalidRequestError) -> JSONResponse:
        if exc.limit is None:
            return JSONResponse(error_body("invalid_request", str(exc)), 422)
        return JSONResponse(
            error_body("limit_exceeded", str(exc), limit=exc.limit, max=exc.maximum), 422
        )

    @app.exception_handler(RagError)
    async def _rag(request: Request, exc: RagError) -> JSONResponse:
        # The services' own errors: bad questions, bad parameters. They say what to do.
        return JSONResponse(error_body("bad_request", str(exc)), 400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = getattr(request.state, "request_id", None) or uuid.uuid4().hex[:12]
        log.exception("unexpected error, request %s", incident)
        return JSONResponse(
            error_body(
                "internal_error",
                f"the server failed on this request; quote {incident} to the operators",
                request_id=incident,
            ),
            500,
            # This handler runs outside the other middleware: add the id and the
            # security headers here.
            headers={"X-Request-ID": incident, **SECURITY_HEADERS},
        )
