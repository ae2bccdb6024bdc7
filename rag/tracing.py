"""Optional OpenTelemetry traces: one `answer` span per question, with child spans for
its stages (retrieve, web, generate, verify), so an operator sees where a slow answer
spent its time.

opentelemetry-api's calls are no-ops until a provider is set up, so the spans cost
nothing by default. `RAG_TRACING__EXPORTER=console` prints finished spans as JSON to
stderr; `otlp` sends them to a collector (the OTLP exporter is the `tracing` extra).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from rag.errors import ConfigurationError
from rag.logs import request_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from rag.settings import TracingSettings

_tracer: trace.Tracer = trace.get_tracer("rag")


def setup_tracing(
    settings: TracingSettings, stream: IO[str] | None = None
) -> TracerProvider | None:
    """A tracer provider for this process's spans, or None when tracing is off. The
    caller shuts it down (flushing what is buffered) when the process stops."""
    global _tracer
    if settings.exporter == "none":
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.exporter == "console":
        exporter = ConsoleSpanExporter(out=stream or sys.stderr)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ConfigurationError(
                "RAG_TRACING__EXPORTER=otlp needs the OTLP exporter: `pip install -e '.[tracing]'`."
            ) from exc
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
        )
    _tracer = provider.get_tracer("rag")
    return provider


@contextmanager
def span(name: str, parent: Span | None = None, **attributes: Any) -> Iterator[Span]:
    """A span ended on exit, with the request id and any exception recorded.

    It is not made the "current" span: the answer's stages run inside a generator that
    the API resumes from worker threads, where attaching and detaching OpenTelemetry's
    context across `yield`s fails. Children name their parent explicitly instead."""
    context = trace.set_span_in_context(parent) if parent is not None else None
    rid = request_id.get()
    if rid:
        attributes["request_id"] = rid
    current = _tracer.start_span(f"rag.{name}", context=context, attributes=attributes)
    try:
        yield current
    except Exception as exc:
        current.record_exception(exc)
        current.set_status(Status(StatusCode.ERROR, str(exc)))
        raise
    finally:
        current.end()
