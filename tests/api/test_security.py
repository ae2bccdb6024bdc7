"""What the API shows to whom: health details, paths, groups and scores that would
tell a caller about the server or about documents it may not see."""

from __future__ import annotations

import logging
from typing import Any

import pytest


def test_readyz_tells_anyone_only_whether_each_check_passes(
    make_api: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Reasons and figures (paths, the Ollama URL, model names, corpus size) go to the
    log and to admin keys; anonymous and employee callers get ready/not ready."""
    api = make_api()
    secrets = ("/srv/rag/data/index.faiss", "http://ollama.internal:11434", "qwen2.5:3b")

    def index_gone() -> None:
        raise FileNotFoundError(f"[Errno 2] No such file or directory: '{secrets[0]}'")

    def ollama_down() -> None:
        raise ConnectionError(f"Ollama at {secrets[1]} has no model {secrets[2]}")

    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        name: {"ready": True} for name in ("store", "index", "embedder", "llm")
    }, "no figures (document count, model name) for anonymous callers"
    monkeypatch.setattr(api.services.search.retriever, "index", index_gone)
    monkeypatch.setattr(api.services.answers.llm, "check", ollama_down, raising=False)
    caplog.set_level(logging.INFO, logger="api.routes.ops")
    for headers in ({}, api.employee, {"Authorization": "Bearer rag_not-a-key"}):
        r = api.client.get("/readyz", headers=headers)
        assert r.status_code == 503
        assert r.json() == {
            "ready": False,
            "checks": {
                "store": {"ready": True},
                "index": {"ready": False},
                "embedder": {"ready": True},
                "llm": {"ready": False},
            },
        }
        for secret in (*secrets, "Errno", "scripted", "Ollama"):
            assert secret not in r.text, (headers, secret)
    # The reasons are in the log, once per change rather than once per probe.
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(logged) == 2 and secrets[0] in logged[0] and secrets[1] in logged[1]
    # Admins get the reasons.
    checks = api.client.get("/readyz", headers=api.admin).json()["checks"]
    assert secrets[0] in checks["index"]["reason"] and secrets[2] in checks["llm"]["reason"]
