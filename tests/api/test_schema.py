"""Property-based run of the OpenAPI schema (schemathesis): whatever the body,
parameters or path ids, the API never answers 5xx, and every response it gives
(JSON bodies, each streamed event, errors) matches what the schema documents for
its status code and media type."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.app import create_app
from api.services import Services
from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.settings import ApiSettings, Settings
from tests.api.conftest import EMBEDDER
from tests.fakes import ScriptedLLM

HEADERS: dict[str, str] = {}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _app():  # type: ignore[no-untyped-def]
    """Built at collection (schemathesis parametrizes from the schema): an empty
    store, then the demo documents, under an admin key that reaches every route."""
    root = Path(tempfile.mkdtemp(prefix="rag-schema-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    cfg = Settings(
        data_dir=root / "data", api=ApiSettings(warm_up=False, rate_limit="100000/minute")
    )
    ingest = IngestService(cfg, embedder=EMBEDDER)
    for group, paths in write_demo_corpus(root / "docs").items():
        ingest.run(paths[0].parent, [group])
    services = Services.build(cfg, embedder=EMBEDDER, llm=ScriptedLLM())
    HEADERS["Authorization"] = "Bearer " + services.keys.create("fuzz", "admin", [])[0]
    return create_app(cfg, services)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=HEADERS, checks=CHECKS)
