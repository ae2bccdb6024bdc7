"""The API's shape: route modules share dependencies through api/deps.py, never through
one another, and every JSON route declares the model its responses follow."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import fastapi.routing
from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

import api.routes
from api.schemas import ErrorResponse, Readiness
from tests.api.test_routes import MARRIAGE

ROUTES = Path(api.routes.__file__).parent


def route_modules() -> set[str]:
    return {p.stem for p in ROUTES.glob("*.py") if p.stem != "__init__"}


def imported_route_modules(source: str, package: str = "api.routes") -> set[str]:
    """The api.routes modules a module's source imports, however it spells it."""
    found: set[str] = set()
    names = route_modules()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from .x import y
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            modules = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            if module.startswith(f"{package}."):
                head = module.removeprefix(f"{package}.").split(".")[0]
                if head in names:
                    found.add(head)
    return found


def test_the_import_check_sees_every_spelling() -> None:
    for source in (
        "from api.routes.answers import services_of",
        "from api.routes import answers",
        "import api.routes.answers",
        "from . import answers",
        "from .answers import services_of",
        "def f():\n    from api.routes.answers import services_of",
    ):
        assert imported_route_modules(source) == {"answers"}, source
    assert imported_route_modules("from api.deps import services_of") == set()


def test_route_modules_do_not_import_one_another() -> None:
    """Shared dependencies live in api/deps.py; a route module importing another
    couples routers that should only share deps, schemas and services."""
    assert route_modules() >= {"answers", "documents", "ingest", "openai_compat", "ops"}
    for path in sorted(ROUTES.glob("*.py")):
        imported = imported_route_modules(path.read_text(encoding="utf-8")) - {path.stem}
        assert not imported, f"{path.name} imports route module(s) {sorted(imported)}"


def api_routes(routes: list[Any]) -> list[Any]:
    """Every APIRoute, as its router includes it (prefix, responses, response class).
    FastAPI 0.16x keeps an included router whole in app.routes and flattens it with
    iter_route_contexts; earlier releases copied its routes into app.routes."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts = list(flatten(routes)) if flatten else routes
    return [c for c in contexts if isinstance(getattr(c, "original_route", c), APIRoute)]


def _response_class(route: Any) -> Any:
    cls = route.response_class
    return cls.value if isinstance(cls, DefaultPlaceholder) else cls


def test_every_json_route_declares_a_response_model(make_api) -> None:  # type: ignore[no-untyped-def]
    """So the OpenAPI schema describes every JSON response: a pydantic model, not the
    `dict[str, Any]` FastAPI infers from a return annotation. Non-JSON routes (event
    streams aside, which are JSON by default) declare their response class and document
    their status in `responses`."""
    app = make_api().client.app
    routes = api_routes(app.routes)
    assert len(routes) >= 17
    for route in routes:
        label = f"{sorted(route.methods)} {route.path}"
        if issubclass(_response_class(route), JSONResponse):
            model = route.response_model
            assert isinstance(model, type) and issubclass(model, BaseModel), (
                f"{label} has no response_model (it has {model!r})"
            )
        else:
            status = route.status_code or 200
            assert status in route.responses, f"{label}: document status {status} in responses="


def test_every_operation_documents_its_responses(make_api) -> None:  # type: ignore[no-untyped-def]
    """The schema's own view: each 2xx JSON body has a schema, and the errors the routes
    send are documented as ErrorResponse, not FastAPI's default 422 body."""
    spec = make_api().client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                content = response.get("content", {})
                if "application/json" in content:
                    schema = content["application/json"].get("schema", {})
                    assert schema.get("$ref"), (method, path, status, schema)
            if path.startswith("/v1/"):
                error = op["responses"]["4XX"]["content"]["application/json"]["schema"]
                assert error["$ref"].endswith("/ErrorResponse"), (method, path)
    refs = {ref.rsplit("/", 1)[-1] for ref in _refs(spec)}
    assert refs <= set(schemas), f"dangling references: {sorted(refs - set(schemas))}"


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [value["$ref"]] if "$ref" in value else [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def conforms(model: Any, body: Any) -> None:
    """`body` validates against `model` and dumps back unchanged (nothing dropped)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    again = adapter.dump_python(adapter.validate_python(body), mode="json", exclude_unset=True)
    assert again == body


def test_readiness_follows_its_model_ready_or_not(make_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """/readyz answers a JSONResponse (its status varies), so FastAPI does not pass it
    through Readiness: check the body against the model here."""
    api = make_api()
    for headers in ({}, api.admin):
        ready = api.client.get("/readyz", headers=headers)
        assert ready.status_code == 200
        conforms(Readiness, ready.json())

    def broken() -> None:
        raise RuntimeError("the index file is gone")

    monkeypatch.setattr(api.services.search.retriever, "index", broken)
    for headers in ({}, api.admin):
        not_ready = api.client.get("/readyz", headers=headers)
        assert not_ready.status_code == 503
        conforms(Readiness, not_ready.json())
    assert not_ready.json()["checks"]["index"] == {  # the admin's
        "ready": False,
        "reason": "RuntimeError: the index file is gone",
    }


def test_error_bodies_follow_the_documented_model(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(max_body_kb=4)
    for response in (
        api.client.get("/v1/me"),
        api.client.get("/v1/ingest/jobs", headers=api.employee),
        api.client.get("/v1/documents/99999", headers=api.employee),
        api.post("/v1/ask", api.employee, json={"questoin": MARRIAGE}),
        api.post("/v1/ask", api.employee, json={"question": "x" * 3000}),
        api.post("/v1/ask", api.employee, json={"question": "x" * 5000}),
    ):
        assert 400 <= response.status_code < 500
        conforms(ErrorResponse, response.json())
