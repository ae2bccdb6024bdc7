"""Logs and traces an operator reads: JSON log lines carrying the request id, and
OpenTelemetry spans for an answer's stages (console exporter)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from rag.logs import configure_logging
from rag.settings import ApiSettings, Settings, TracingSettings
from tests.api.conftest import EMBEDDER, bearer
from tests.api.test_routes import MARRIAGE, MARRIAGE_ANSWER
from tests.fakes import ScriptedLLM


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    yield stream
    configure_logging("WARNING", "text")  # back to the default, off this stream


def app_client(demo_data: Path, tmp_path: Path, **settings: object) -> tuple[TestClient, str]:
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    config = Settings(data_dir=data, api=ApiSettings(warm_up=False), **settings)  # type: ignore[arg-type]
    services = Services.build(config, embedder=EMBEDDER, llm=ScriptedLLM(MARRIAGE_ANSWER))
    key = services.keys.create("employee", "employee", ["public"])[0]
    return TestClient(create_app(config, services), raise_server_exceptions=False), key


def test_json_logs_carry_the_request_id_and_never_the_key(
    demo_data: Path, tmp_path: Path, log_lines: io.StringIO
) -> None:
    client, key = app_client(demo_data, tmp_path)
    with client:
        r = client.post(
            "/v1/ask?debug=1",
            headers={**bearer(key), "X-Request-ID": "req-42"},
            json={"question": MARRIAGE},
        )
        assert r.status_code == 200 and r.headers["x-request-id"] == "req-42"
        client.get("/v1/documents")  # no id given: one is made up
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "rag.access"]
    ask = next(r for r in access if r["path"] == "/v1/ask")
    assert ask["request_id"] == "req-42" and ask["method"] == "POST" and ask["status"] == 200
    assert ask["level"] == "INFO" and ask["duration_ms"] > 0 and "time" in ask
    assert "debug" not in json.dumps(ask), "the query string is not logged"
    other = next(r for r in access if r["path"] == "/v1/documents")
    assert other["request_id"] and other["request_id"] != "req-42"
    assert key not in log_lines.getvalue()


def test_bad_log_settings_are_refused_with_the_variable_named() -> None:
    with pytest.raises(ValueError, match="RAG_LOG_FORMAT must be one of text, json"):
        configure_logging("INFO", "xml")
    with pytest.raises(ValueError, match="RAG_LOG_LEVEL"):
        configure_logging("LOUD", "text")


def test_answer_stages_are_traced_as_spans(
    demo_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, key = app_client(demo_data, tmp_path, tracing=TracingSettings(exporter="console"))
    with client:
        r = client.post(
            "/v1/ask", headers={**bearer(key), "X-Request-ID": "req-7"}, json={"question": MARRIAGE}
        )
        assert r.status_code == 200
    spans = _console_spans(capsys.readouterr().err)
    by_name = {s["name"]: s for s in spans}
    assert {"rag.answer", "rag.retrieve", "rag.generate", "rag.verify"} <= set(by_name)
    root = by_name["rag.answer"]
    assert root["attributes"]["request_id"] == "req-7"
    assert root["attributes"]["answer.mode"] == "generative"
    for stage in ("rag.retrieve", "rag.generate", "rag.verify"):
        assert by_name[stage]["parent_id"] == root["context"]["span_id"]
        assert by_name[stage]["context"]["trace_id"] == root["context"]["trace_id"]
    assert by_name["rag.retrieve"]["attributes"]["hits"] > 0
    assert by_name["rag.generate"]["attributes"]["completion_tokens"] > 0
    assert root["resource"]["attributes"]["service.name"] == "company-rag"


def _console_spans(text: str) -> list[dict]:
    """The console exporter prints one indented JSON object per span."""
    decoder, spans, i = json.JSONDecoder(), [], 0
    while (start := text.find("{", i)) != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            i = start + 1
            continue
        if isinstance(obj, dict) and "context" in obj:
            spans.append(obj)
        i = end
    return spans
