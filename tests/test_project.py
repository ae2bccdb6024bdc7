"""Rules about the project itself: documented settings, import direction, doc links."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pydantic import BaseModel

from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _env_names(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names += _env_names(ann, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented_in_the_configuration_page() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    table = "\n".join(line for line in page.splitlines() if line.startswith("| `RAG_"))
    missing = [n for n in _env_names(Settings, "RAG_") if f"| `{n}` |" not in table]
    assert not missing, f"add these settings to the table in docs/configuration.md: {missing}"


# package -> packages it must never import
FORBIDDEN = {
    "rag": {"ingest", "api", "eval"},
    "ingest": {"api", "eval"},
    "eval": {"api", "ingest"},
}


def test_imports_flow_one_way() -> None:
    offences = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in forbidden:
                        offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offences, offences


def _module_imports() -> dict[str, set[str]]:
    """Each project module and the project modules it imports, anywhere in its body
    (imports inside functions count: they are how cycles hide)."""
    files = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for package in ("rag", "ingest", "api", "eval")
        for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            # `from rag.store import documents` names a module; `from rag.store import
            # DocumentStore` names the package.
            edges |= {next((t for t in targets if t in files), "")} - {""}
            if isinstance(node, ast.ImportFrom):
                edges |= {f"{node.module}.{a.name}" for a in node.names} & files.keys()
        graph[module] = edges - {module}
    return graph


def test_no_import_cycles() -> None:
    """No module reaches itself through its imports (Tarjan's strongly connected
    components: any component of more than one module is a cycle)."""
    graph = _module_imports()
    assert graph.get("rag.answer.service"), "graph is built"
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_links_between_pages_resolve() -> None:
    """Every relative link in README.md and docs/ points to a file that exists, and
    every #anchor to a heading of that page (GitHub's heading ids)."""

    def anchors(page: Path) -> set[str]:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
        headings = re.findall(r"^#+ (.+)$", text, re.M)
        return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}

    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
            if target.startswith(("http:", "https:", "mailto:")):
                continue
            linked = (page.parent / target).resolve() if target else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} does not exist")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.name}: no heading #{anchor} in {linked.name}")
    assert not broken, broken
