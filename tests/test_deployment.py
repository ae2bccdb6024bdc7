"""The deployment files' structure (no Docker engine runs on these machines)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_structure() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"rag", "ollama"} <= set(services)
    assert services["rag"]["build"] == "."
    assert "ports" not in services["ollama"], "Ollama stays inside the compose network"
    assert services["rag"]["environment"]["RAG_LLM__OLLAMA_URL"] == "http://ollama:11434"
    for service in services.values():
        for volume in service.get("volumes", []):
            name = volume.split(":")[0]
            assert name.startswith(("$", ".", "/")) or name in compose["volumes"]


def test_dockerfile_runs_as_non_root_with_data_on_a_volume() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER rag" in dockerfile and 'VOLUME ["/data"]' in dockerfile
    assert "HEALTHCHECK" in dockerfile and "HF_HUB_OFFLINE=1" in dockerfile
