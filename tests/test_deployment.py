"""The deployment files. No Docker engine runs on these machines, so the compose file
is validated by `docker compose config` (Compose's own parser and schema; `make
compose-tool` fetches Debian's plugin) and its structure is checked here; nothing is
started."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    local = ROOT / ".tools" / "docker-compose"
    return [str(local)] if local.exists() else None


def compose_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = _compose_command()
    if command is None:
        pytest.skip("docker compose is not installed: `make compose-tool` fetches it")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "SEARXNG"))}
    return subprocess.run(
        [*command, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        env=clean | (env or {}),
        timeout=60,
    )


def resolved(*profiles: str) -> dict[str, Any]:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    result = compose_config(*flags, "config", env={"SEARXNG_SECRET": "test-secret"})
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_config_validates_with_every_profile() -> None:
    config = resolved("qdrant", "tools")
    assert set(config["services"]) == {
        "api",
        "ingest",
        "ollama",
        "ollama-pull",
        "searxng",
        "qdrant",
    }
    # Without a profile, the scale-out store, the ingest tool and the proxy stay off.
    assert set(resolved()["services"]) == {"api", "ollama", "ollama-pull", "searxng"}
    assert set(resolved("tls")["services"]) == {"api", "ollama", "ollama-pull", "searxng", "proxy"}


def test_compose_refuses_to_start_without_a_searxng_secret() -> None:
    result = compose_config("config", "-q")
    assert result.returncode != 0
    assert "set SEARXNG_SECRET" in result.stderr


def test_api_service_is_wired_to_ollama_searxng_and_qdrant() -> None:
    services = resolved("qdrant")["services"]
    api = services["api"]
    env = api["environment"]
    assert env["RAG_LLM__BACKEND"] == "ollama"
    assert env["RAG_LLM__OLLAMA_URL"] == "http://ollama:11434"
    assert env["RAG_WEB__SEARXNG_URL"] == "http://searxng:8080"
    assert env["RAG_INDEX__QDRANT_URL"] == "http://qdrant:6333"
    assert env["RAG_WEB__ENABLED"] == "false" and env["RAG_INDEX__BACKEND"] == "faiss"
    assert env["RAG_LOG_FORMAT"] == "json"
    assert api["depends_on"]["ollama-pull"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["qdrant"]["required"] is False
    assert any(v["target"] == "/data" for v in api["volumes"])
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    # Every RAG_ variable the deployment sets is a real setting (a typo would be
    # silently ignored by pydantic-settings).
    settings = Settings.model_json_schema()
    for name in env:
        if name.startswith("RAG_") and name not in ("RAG_LOG_FORMAT", "RAG_LOG_LEVEL"):
            section, _, field = name.removeprefix("RAG_").lower().partition("__")
            props = settings["properties"]
            assert section in props, name
            if field:
                ref = props[section]["$ref"].rsplit("/", 1)[-1]
                assert field in settings["$defs"][ref]["properties"], name


def test_ollama_stays_inside_and_pulls_the_configured_model() -> None:
    services = resolved()["services"]
    assert "ports" not in services["ollama"], "Ollama is not published beyond the network"
    assert "ports" not in services["searxng"] and "ports" not in services["ollama-pull"]
    assert services["ollama"]["environment"]["OLLAMA_KEEP_ALIVE"] == "30m"
    model = services["api"]["environment"]["RAG_LLM__OLLAMA_MODEL"]
    assert services["ollama-pull"]["command"] == ["pull", model]
    assert services["ollama-pull"]["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    chosen = compose_config(
        "config", env={"SEARXNG_SECRET": "s", "RAG_LLM__OLLAMA_MODEL": "mistral:7b"}
    )
    pulled = yaml.safe_load(chosen.stdout)["services"]["ollama-pull"]["command"]
    assert pulled == ["pull", "mistral:7b"]


def test_searxng_settings_enable_json_output() -> None:
    settings = yaml.safe_load((ROOT / "deploy" / "searxng" / "settings.yml").read_text())
    assert "json" in settings["search"]["formats"]
    assert settings["server"]["limiter"] is False


def test_dockerfile_is_slim_non_root_with_data_on_a_volume() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2, "a slim runtime stage"
    assert "USER rag" in dockerfile and 'VOLUME ["/data"]' in dockerfile
    assert re.search(r"HEALTHCHECK .*\n.*readyz", dockerfile)
    assert "HF_HUB_OFFLINE=1" in dockerfile  # the embedding model is baked in
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env"} <= set(ignored)


def test_every_compose_variable_is_documented_in_the_deployment_page() -> None:
    page = (ROOT / "docs" / "deployment.md").read_text()
    text = COMPOSE_FILE.read_text()
    variables = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    variables |= set(re.findall(r"^\s+(RAG_[A-Z0-9_]+):", text, re.M))
    missing = sorted(v for v in variables if f"`{v}`" not in page)
    assert not missing, f"document these in docs/deployment.md: {missing}"


def test_the_api_is_published_on_loopback_only_and_https_goes_through_the_proxy() -> None:
    """The api speaks plain HTTP: keys and answers must not cross a network in clear.
    Published on 127.0.0.1 unless RAG_BIND says otherwise; the `tls` profile's Caddy
    is what the network reaches."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for port in raw["api"]["ports"]:
        assert str(port).startswith("${RAG_BIND:-127.0.0.1}:"), port
    services = resolved("tls")["services"]
    [api_port] = services["api"]["ports"]
    assert api_port["host_ip"] == "127.0.0.1" and api_port["target"] == 8000
    published = {
        name for name, service in services.items() for p in service.get("ports", [])
        if p.get("host_ip", "0.0.0.0") != "127.0.0.1"
    }  # fmt: skip
    assert published == {"proxy"}, "only the TLS proxy listens beyond the host"
    proxy = services["proxy"]
    assert {p["target"] for p in proxy["ports"]} == {80, 443}
    assert any(v["target"] == "/etc/caddy/Caddyfile" for v in proxy["volumes"])
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "reverse_proxy api:8000" in caddyfile and "Strict-Transport-Security" in caddyfile
    # An operator who wants the plain port elsewhere says so.
    chosen = compose_config("config", env={"SEARXNG_SECRET": "s", "RAG_BIND": "10.0.0.5"})
    assert yaml.safe_load(chosen.stdout)["services"]["api"]["ports"][0]["host_ip"] == "10.0.0.5"
