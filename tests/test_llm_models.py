"""The embedded model file: assembly from parts, verification, clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import ConfigurationError
from rag.llm import model_files
from rag.llm.llamacpp import LlamaCppLLM


def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sha: str | None) -> bytes:
    parts = []
    for i in range(3):
        part = tmp_path / f"part{i:02d}.bin"
        part.write_bytes(b"GGUF" * (i + 1) if i == 0 else bytes([i]) * 1000)
        parts.append(part)
    whole = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(model_files, "_part_paths", lambda: parts)
    monkeypatch.setattr(model_files, "EMBEDDED_MODEL_BYTES", len(whole))
    monkeypatch.setattr(
        model_files, "EMBEDDED_MODEL_SHA256", sha or hashlib.sha256(whole).hexdigest()
    )
    return whole


def test_parts_are_assembled_once_and_verified(tmp_path: Path, monkeypatch) -> None:
    whole = fake_parts(tmp_path, monkeypatch, sha=None)
    path = model_files.embedded_model_path(tmp_path / "cache")
    assert path.read_bytes() == whole
    assert model_files.embedded_model_path(tmp_path / "cache") == path  # reused
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name], "no temp left"


def test_a_wrong_checksum_leaves_no_model(tmp_path: Path, monkeypatch) -> None:
    fake_parts(tmp_path, monkeypatch, sha="0" * 64)
    with pytest.raises(ConfigurationError, match="does not match its sha256"):
        model_files.embedded_model_path(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_and_corrupt_model_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist: fix RAG_LLM__MODEL_PATH"):
        LlamaCppLLM(tmp_path / "nope.gguf", tmp_path).warm_up()
    corrupt = tmp_path / "model.gguf"
    corrupt.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ConfigurationError, match="not a GGUF model file"):
        LlamaCppLLM(corrupt, tmp_path).warm_up()


@pytest.mark.slow
def test_embedded_model_answers_with_citations_and_degrades_without_ollama(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}

    def rag(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rag.cli", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
            timeout=900,
        )

    assert rag("demo", "--dir", str(tmp_path / "docs")).returncode == 0
    result = rag("ask", "Combien de jours de congé pour un mariage ?", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mode"] == "generative" and answer["language"] == "fr"
    assert answer["citations"], answer
    assert all(c["path"].endswith("livret-accueil.pdf") for c in answer["citations"])
    assert answer["usage"]["completion_tokens"] > 0
    assert answer["answerability"] is None, "no answerability check in French by default"

    # English: the real model answers the answerability check first.
    english = json.loads(rag("ask", "What is the hotel cap for business trips?", "--json").stdout)
    checked = english["answerability"]
    assert checked is not None and 0.0 <= checked["p_yes"] <= 1.0, english
    assert (english["mode"] == "not_found") == (checked["score"] < 0.58), english

    # Ollama configured but down: an extractive answer, not an error.
    down = rag(
        "ask",
        "Combien de jours de télétravail par semaine ?",
        "--json",
        RAG_LLM__BACKEND="ollama",
        RAG_LLM__OLLAMA_URL="http://127.0.0.1:9",
    )
    assert down.returncode == 0, down.stderr
    degraded = json.loads(down.stdout)
    assert degraded["mode"] == "extractive" and degraded["citations"]
    assert any(n.startswith("LLM unavailable") for n in degraded["notices"])
    assert not any("127.0.0.1" in n for n in degraded["notices"]), "where: the log only"
    assert "unreachable at http://127.0.0.1:9" in down.stderr

    empty = rag("ask", "", "--json")
    assert empty.returncode == 1 and "empty" in empty.stderr and "Traceback" not in empty.stderr
