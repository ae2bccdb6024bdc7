"""Property-based run of the OpenAPI schema (schemathesis): whatever the body,
parameters or path ids, the API never answers 5xx, and every response it gives
(JSON bodies, each streamed event, errors) matches what the schema documents for
its status code and media type."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.app import create_app
from api.services import Services
from rag.settings import ApiSettings, Settings
from tests.api.conftest import EMBEDDER
from tests.fakes import ScriptedLLM

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, api=ApiSettings(warm_up=False, rate_limit="100000/minute"))


def _schema_app() -> FastAPI:
    """The app the schema is read from, at collection (schemathesis parametrizes from
    the schema): over an empty store, since the routes make the schema, not the
    documents. Nothing is ingested here; the calls go to `fuzz_app`."""
    root = Path(tempfile.mkdtemp(prefix="rag-schema-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    cfg = _settings(root / "data")
    return create_app(cfg, Services.build(cfg, embedder=EMBEDDER, llm=ScriptedLLM()))


schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app())


@pytest.fixture(scope="module")
def fuzz_services(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Services:
    """The demo documents (the store ingested once for the API tests, copied)."""
    data = tmp_path_factory.mktemp("rag-schema") / "data"
    shutil.copytree(demo_data, data)
    cfg = _settings(data)
    return Services.build(cfg, embedder=EMBEDDER, llm=ScriptedLLM())


@pytest.fixture(scope="module")
def fuzz_app(fuzz_services: Services) -> FastAPI:
    return create_app(fuzz_services.settings, fuzz_services)


@pytest.fixture(scope="module")
def admin_headers(fuzz_services: Services) -> dict[str, str]:
    """An admin key reaches every route."""
    return {"Authorization": "Bearer " + fuzz_services.keys.create("fuzz", "admin", [])[0]}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case, fuzz_app: FastAPI, admin_headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=admin_headers, checks=CHECKS, app=fuzz_app)
