"""Logging for the CLI and the server.

Plain text for a terminal; JSON lines (`RAG_LOG_FORMAT=json`) for a deployment, where
a log collector parses them. Every record carries the id of the API request it
belongs to (`request_id`, the X-Request-ID header), set by the API's middleware in a
context variable, so one request's lines can be pulled out of a busy server's log.
JSON formatting is python-json-logger's; nothing here formats by hand.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from typing import IO

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that uvicorn configures with handlers of its own: routed through ours instead,
# so a JSON deployment gets no stray plain-text lines.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so a second call replaces it."""


def configure_logging(
    level: str | None = None, fmt: str | None = None, stream: IO[str] | None = None
) -> None:
    """Root logging from the arguments or RAG_LOG_LEVEL / RAG_LOG_FORMAT (stderr)."""
    level = (level or os.environ.get("RAG_LOG_LEVEL") or "WARNING").upper()
    fmt = (fmt or os.environ.get("RAG_LOG_FORMAT") or "text").lower()
    if fmt not in FORMATS:
        raise ValueError(f"RAG_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if level not in logging.getLevelNamesMapping():
        raise ValueError(f"RAG_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    handler = _Handler(stream)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers = []
        server_logger.propagate = True


def loggable_url(url: str) -> str:
    """A service's URL as it may appear in a log line: without the `user:password@`
    a deployment may put in it (RAG_LLM__OLLAMA_URL, RAG_WEB__SEARXNG_URL)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"***@{host}"))
    except ValueError:
        return "(an unparsable URL)"
