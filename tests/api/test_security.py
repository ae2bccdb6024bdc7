"""What the API shows to whom: health details, paths, groups and scores that would
tell a caller about the server or about documents it may not see."""

from __future__ import annotations

import logging
from pathlib import PurePath
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


# -- scores: nothing that varies with documents the caller cannot see ----------------------


def _ingest(api: Any, folder: Any, name: str, text: str, groups: list[str]) -> None:
    from ingest.pipeline import IngestService
    from tests.api.conftest import EMBEDDER

    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    service = IngestService(api.services.settings, embedder=EMBEDDER, store=api.services.store)
    service.run(folder, groups)


HIDDEN = "# Plan social\n\n" + "Le mariage des deux sociétés supprime 40 postes. " * 30


def test_search_scores_do_not_change_with_hidden_documents(make_api: Any, tmp_path: Any) -> None:
    """BM25's term statistics cover the whole index: with raw scores, a document of a
    group the caller is not in changes the scores it sees, which tells it that a hidden
    document contains the query's terms."""
    without, with_hidden = make_api(), make_api()
    _ingest(with_hidden, tmp_path / "secret", "plan.md", HIDDEN, ["direction"])
    for mode in ("hybrid", "bm25", "dense"):
        body = {"query": "mariage", "k": 10, "mode": mode}
        seen = [
            api.post("/v1/search", api.employee, json=body).json()["results"]
            for api in (without, with_hidden)
        ]
        assert seen[0], mode
        assert seen[0] == seen[1], f"{mode}: the hidden document changed what an employee sees"
        assert all(hit["bm25_score"] is None for hit in seen[0])
        assert [hit["score"] for hit in seen[0]] == [
            round(1 / rank, 6) for rank in range(1, len(seen[0]) + 1)
        ]
    # Admins see every document anyway, and the raw scores.
    admin = with_hidden.post("/v1/search", with_hidden.admin, json={"query": "mariage"}).json()
    assert any(hit["bm25_score"] for hit in admin["results"])


def test_citation_scores_do_not_change_with_hidden_documents(make_api: Any, tmp_path: Any) -> None:
    from tests.api.test_routes import MARRIAGE, MARRIAGE_ANSWER
    from tests.fakes import ScriptedLLM

    apis = make_api(ScriptedLLM(MARRIAGE_ANSWER)), make_api(ScriptedLLM(MARRIAGE_ANSWER))
    _ingest(apis[1], tmp_path / "secret", "plan.md", HIDDEN, ["direction"])
    citations = [
        api.post("/v1/ask", api.employee, json={"question": MARRIAGE}).json()["citations"]
        for api in apis
    ]
    assert citations[0] and citations[0] == citations[1]
    assert citations[0][0]["score"] == 1.0


# -- paths and groups: what an employee is shown of a document -----------------------------


def _shared_document(api: Any, tmp_path: Any) -> dict[str, Any]:
    """A document of the groups public and direction, seen by the admin."""
    _ingest(api, tmp_path / "shared" / "direction-only-folder", "cantine.md",
            "# Cantine\n\nLa cantine ouvre à midi pour tous les salariés.\n",
            ["public", "direction"])  # fmt: skip
    docs = api.client.get("/v1/documents", headers=api.admin).json()["documents"]
    return next(d for d in docs if d["path"].endswith("cantine.md"))


def test_employees_see_file_names_and_their_own_groups_only(make_api: Any, tmp_path: Any) -> None:
    from tests.api.test_routes import MARRIAGE, MARRIAGE_ANSWER
    from tests.fakes import ScriptedLLM

    api = make_api(ScriptedLLM(MARRIAGE_ANSWER, MARRIAGE_ANSWER, MARRIAGE_ANSWER))
    shared = _shared_document(api, tmp_path)
    assert shared["path"].startswith("/") and shared["groups"] == ["direction", "public"]
    server_paths = {
        str(PurePath(d["path"]).parent)
        for d in api.client.get("/v1/documents", headers=api.admin).json()["documents"]
    }
    listed = api.client.get("/v1/documents", headers=api.employee).json()["documents"]
    mine = next(d for d in listed if d["id"] == shared["id"])
    assert mine["path"] == "cantine.md" and mine["groups"] == ["public"]
    assert all("/" not in d["path"] and d["groups"] == ["public"] for d in listed)
    detail = api.client.get(f"/v1/documents/{shared['id']}", headers=api.employee).json()
    assert detail["path"] == "cantine.md" and detail["groups"] == ["public"]
    # Search hits, answers (JSON and streamed) and chat completions: file names too.
    responses = [
        api.client.get("/v1/documents", headers=api.employee),
        api.client.get(f"/v1/documents/{shared['id']}", headers=api.employee),
        api.client.get(f"/v1/documents/{shared['id']}/pages/1", headers=api.employee),
        api.post("/v1/search", api.employee, json={"query": "cantine midi"}),
        api.post("/v1/ask", api.employee, json={"question": MARRIAGE}),
        api.post("/v1/ask", api.employee, json={"question": MARRIAGE, "stream": True}),
        api.post("/v1/chat/completions", api.employee,
                 json={"messages": [{"role": "user", "content": MARRIAGE}]}),
    ]  # fmt: skip
    hits = responses[3].json()["results"]
    assert hits[0]["path"] == "cantine.md"
    [citation] = responses[4].json()["citations"]
    assert citation["path"] == "livret-accueil.pdf"
    assert '"path": "livret-accueil.pdf"' in responses[5].text
    assert responses[6].json()["citations"][0]["path"] == "livret-accueil.pdf"
    for response in responses:
        assert response.status_code == 200, response.text
        for folder in server_paths:
            assert folder not in response.text, (response.url, folder)
        assert "direction" not in response.text, response.url
    # Admins see the server's paths.
    admin_hit = api.post("/v1/search", api.admin, json={"query": "cantine midi"}).json()
    assert admin_hit["results"][0]["path"] == shared["path"]


def test_an_employee_path_prefix_matches_file_names_not_server_paths(
    make_api: Any, tmp_path: Any
) -> None:
    """Else a prefix that still finds a document, one character at a time, would spell
    out where it lies on the server."""
    api = make_api()
    shared = _shared_document(api, tmp_path)
    folder = shared["path"].removesuffix("cantine.md")

    def search(headers: dict[str, str], prefix: str) -> list[str]:
        body = {"query": "cantine midi", "filters": {"path_prefix": prefix}}
        return [h["path"] for h in api.post("/v1/search", headers, json=body).json()["results"]]

    def listed(headers: dict[str, str], prefix: str) -> list[str]:
        r = api.client.get("/v1/documents", headers=headers, params={"path_prefix": prefix})
        return [d["path"] for d in r.json()["documents"]]

    for probe in (search, listed):
        assert probe(api.employee, folder[:2]) == [], probe.__name__
        assert probe(api.employee, folder) == [], probe.__name__
        assert set(probe(api.employee, "cant")) == {"cantine.md"}, probe.__name__
        assert set(probe(api.admin, folder)) == {shared["path"]}, probe.__name__
    # With document_ids too: both filters hold.
    body = {"query": "cantine", "filters": {"path_prefix": "cant", "document_ids": [1]}}
    assert api.post("/v1/search", api.employee, json=body).json()["results"] == []


# -- the page: a strict Content-Security-Policy, and the key kept per tab ------------------


def test_every_response_carries_the_security_headers(make_api: Any) -> None:
    from tests.fakes import ScriptedLLM

    api = make_api(ScriptedLLM(RuntimeError("boom")))
    responses = {
        "page": api.client.get("/"),
        "script": api.client.get("/static/app.js"),
        "docs": api.client.get("/docs"),
        "schema": api.client.get("/openapi.json"),
        "api": api.client.get("/v1/me", headers=api.employee),
        "401": api.client.get("/v1/me"),
        "404": api.client.get("/v1/nope", headers=api.employee),
        "422": api.post("/v1/ask", api.employee, json={}),
        "500": api.post("/v1/ask", api.employee, json={"question": "Un mariage ?"}),
        "search": api.post("/v1/search", api.employee, json={"query": "congé"}),
        "health": api.client.get("/readyz"),
    }
    for name, r in responses.items():
        csp = [d.strip() for d in r.headers.get("content-security-policy", "").split(";")]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert not any("unsafe" in d for d in csp), name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("referrer-policy") == "no-referrer", name
        assert r.headers.get("x-frame-options") == "DENY", name
    assert responses["500"].status_code == 500


def _inline_code(html: str) -> list[str]:
    """What in an HTML page a CSP without 'unsafe-inline' refuses: inline scripts and
    styles, style attributes, event handler attributes, javascript: URLs."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        tag: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            names = dict(attrs)
            if tag == "style" or (tag == "script" and not names.get("src")):
                found.append(f"<{tag}> without src")
            found.extend(f"{tag} {n}=" for n in names if n == "style" or n.startswith("on"))
            found.extend(f"{tag} {n}" for n, v in attrs if (v or "").startswith("javascript:"))
            self.tag = tag

        def handle_data(self, data: str) -> None:
            if self.tag == "script" and data.strip():
                found.append(f"inline script: {data.strip()[:40]}")

        def handle_endtag(self, tag: str) -> None:
            self.tag = None

    Parser().feed(html)
    return found


def test_the_pages_have_no_inline_script_or_style(make_api: Any) -> None:
    api = make_api()
    assert _inline_code("<div onclick='x()'><script>alert(1)</script></div>"), "the check works"
    for path in ("/", "/docs"):
        page = api.client.get(path)
        assert page.status_code == 200 and "<script src=" in page.text
        assert _inline_code(page.text) == [], path


def test_the_page_keeps_the_key_in_session_storage() -> None:
    from pathlib import Path

    import api

    script = (Path(api.__file__).parent / "static" / "app.js").read_text()
    assert 'sessionStorage.setItem("ragKey"' in script
    assert "localStorage.setItem" not in script and "localStorage.getItem" not in script
