"""The API's shape: route modules share dependencies through api/deps.py, never through
one another."""

from __future__ import annotations

import ast
from pathlib import Path

import api.routes

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
