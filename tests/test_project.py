"""Rules about the project itself: documented settings, import direction."""

from __future__ import annotations

import ast
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


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in _env_names(Settings, "RAG_") if f"`{n}`" not in readme]
    assert not missing, f"add these settings to the README table: {missing}"


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
