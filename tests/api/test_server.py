"""The API over real HTTP on loopback: client disconnects, the OpenAI client, and
`rag serve` itself as a separate process (with the real embedding model: `slow`).

Every wait has a deadline and says what it was waiting for when it passes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.server import serving
from tests.fakes import ScriptedLLM, SlowLLM

MARRIAGE = "Combien de jours de congé pour un mariage ?"
ANSWER = "Le mariage du salarié donne droit à 5 jours de congé payé [1]."


def wait_for(
    what: str,
    ready: Callable[[], Any],
    timeout_s: float,
    server: subprocess.Popen | None = None,  # type: ignore[type-arg]
) -> Any:
    """Poll `ready` until it returns something truthy; fail, saying `what` did not
    happen, once `timeout_s` passes (or at once if `server` has exited)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = ready()
        if result:
            return result
        if server is not None and server.poll() is not None:
            _, err = server.communicate(timeout=10)
            raise AssertionError(f"{what}: rag serve exited ({server.returncode}):\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.3)


def healthy(client: httpx.Client) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return client.get("/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def test_a_client_that_disconnects_mid_stream_stops_the_generation(make_api) -> None:  # type: ignore[no-untyped-def]
    long_answer = " ".join(["Le mariage donne droit à 5 jours [1]."] * 40)
    llm = SlowLLM(long_answer, delay_s=0.0, between_s=0.05)
    api = make_api(llm)
    with serving(api.client.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        body = {"question": MARRIAGE, "stream": True}
        with client.stream("POST", "/v1/ask", json=body, headers=api.employee) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    break  # one token seen: hang up
        deadline = time.monotonic() + 10
        while not llm.closed_early and time.monotonic() < deadline:
            time.sleep(0.05)
        assert llm.closed_early, "the generation went on after the client left"
        total = len(long_answer.split(" "))
        assert llm.produced < total / 2
        while api.services.gate.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.services.gate.running == 0, "the generation slot came back"


def hang_up_once(url: str, path: str, body: Any, headers: dict[str, str], when: Any) -> None:
    """POST `body` as JSON over a raw socket, wait until `when()` is true, then close
    the connection without reading the response: a client gone mid-request."""
    host, port = url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    head = "".join(
        f"{k}: {v}\r\n"
        for k, v in {
            "Host": host,
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            **headers,
        }.items()
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + data)
        wait_for("the request got under way", when, 10)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", {"question": MARRIAGE}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": MARRIAGE}]}),
    ],
)
def test_a_json_client_that_disconnects_stops_the_generation(make_api, path, body) -> None:  # type: ignore[no-untyped-def]
    # A JSON answer is written only at the end: the route must notice the client gone
    # on its own, or the generation runs to its end, holding the slot for nobody.
    long_answer = " ".join(["Le mariage donne droit à 5 jours [1]."] * 40)
    llm = SlowLLM(long_answer, delay_s=0.0, between_s=0.05)  # 16 s of tokens
    api = make_api(llm)
    with serving(api.client.app) as url:
        hang_up_once(url, path, body, api.employee, lambda: llm.produced >= 2)
        gone = time.monotonic()
        wait_for("the generation stopped", lambda: llm.closed_early, 5)
        wait_for("the slot came back", lambda: api.services.gate.running == 0, 5)
        assert time.monotonic() - gone < 2, "stopped within about a second"
        assert llm.produced < len(long_answer.split(" ")) / 2
        # The freed slot serves the next request.
        llm.between_s = 0.0
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.post(path, json=body, headers=api.employee).status_code == 200


def test_a_json_client_that_leaves_the_queue_frees_its_place(make_api) -> None:  # type: ignore[no-untyped-def]
    import threading

    hold = threading.Event()
    llm = SlowLLM(ANSWER, delay_s=0.0, hold=hold)
    api = make_api(llm, generation_concurrency=1)
    gate = api.services.gate
    with serving(api.client.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        body = {"question": MARRIAGE}
        first = threading.Thread(
            target=lambda: client.post("/v1/ask", json=body, headers=api.employee), daemon=True
        )
        first.start()
        try:
            assert llm.started.wait(10)
            hang_up_once(url, "/v1/ask", body, api.hr, lambda: gate.waiting == 1)
            wait_for("the queued request left", lambda: gate.waiting == 0, 3)
        finally:
            hold.set()
        first.join(30)
        wait_for("the slot came back", lambda: gate.running == 0, 5)


def test_openai_client_talks_to_chat_completions(make_api) -> None:  # type: ignore[no-untyped-def]
    from openai import OpenAI

    api = make_api(ScriptedLLM(ANSWER, ANSWER))
    key = api.employee["Authorization"].removeprefix("Bearer ")
    with serving(api.client.app) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        assert [m.id for m in client.models.list()] == ["company-rag"]
        completion = client.chat.completions.create(
            model="company-rag", messages=[{"role": "user", "content": MARRIAGE}]
        )
        content = completion.choices[0].message.content or ""
        assert content.startswith(ANSWER) and "Sources:\n[1] Nordlys Conseil" in content
        assert completion.model_extra["citations"][0]["supported"] is True
        assert completion.usage is not None and completion.usage.completion_tokens > 0
        chunks = list(
            client.chat.completions.create(
                model="company-rag",
                messages=[{"role": "user", "content": MARRIAGE}],
                stream=True,
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert text.startswith(ANSWER) and "Sources:" in text
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert chunks[-1].model_extra["citations"][0]["n"] == 1


def _rag(data: Path, *args: str, **kwargs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(data),
        # No LLM server here: answers come in the extractive (degraded) mode.
        "RAG_LLM__BACKEND": "ollama",
        "RAG_LLM__OLLAMA_URL": "http://127.0.0.1:9",
        "RAG_LLM__TIMEOUT_S": "2",
    }
    rag = Path(sys.executable).with_name("rag")
    return subprocess.Popen(
        [str(rag), *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        **kwargs,
    )  # fmt: skip


@pytest.mark.slow  # `rag serve` with its defaults loads the real embedding model
def test_rag_serve_out_of_the_box(tmp_path: Path) -> None:
    """First start writes an admin key to a private file; with it an admin uploads a
    document and an employee key gets a cited answer, over real HTTP."""
    from tests.api.server import free_port

    port = free_port()
    data = tmp_path / "data"
    server = _rag(data, "serve", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url) as probe:
            wait_for("rag serve answering /healthz", healthy(probe), 120, server)
        assert httpx.get(f"{url}/v1/me").status_code == 401, "no open door"
        keys = subprocess.run(
            [str(Path(sys.executable).with_name("rag")), "keys", "list", "--json"],
            env={**os.environ, "RAG_DATA_DIR": str(data)},
            capture_output=True,
            text=True,
            check=True,
        )
        [first] = json.loads(keys.stdout)
        assert first["role"] == "admin" and "rag_" not in first["key"].replace("rag_...", "")
        created = subprocess.run(
            [str(Path(sys.executable).with_name("rag")), "keys", "create", "--name", "alice",
             "--groups", "public"],
            env={**os.environ, "RAG_DATA_DIR": str(data)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        employee = {"Authorization": f"Bearer {created.stdout.strip()}"}
        with httpx.Client(base_url=url, timeout=60) as client:
            note = "# Congés\n\nLe mariage du salarié donne droit à 5 jours de congé payé.\n"
            assert client.get("/v1/me", headers=employee).json()["name"] == "alice"
            # The admin key was written to a private file, its path printed, never the key.
        server.terminate()
        _, err = server.communicate(timeout=30)
        admin_key = (data / "admin-key.txt").read_text().strip()
        assert admin_key.startswith("rag_") and "admin-key.txt" in err
        assert admin_key not in err and admin_key[-12:] not in err
        server = _rag(data, "serve", "--port", str(port))
        time.sleep(0.5)
        with httpx.Client(base_url=url, timeout=60) as client:
            wait_for("rag serve, restarted, answering /healthz", healthy(client), 120, server)
            admin = {"Authorization": f"Bearer {admin_key}"}
            files = [("files", ("conges.md", note.encode(), "text/markdown"))]
            form = {"groups": "public"}
            job = client.post("/v1/ingest/jobs", headers=admin, files=files, data=form).json()

            def finished() -> dict | None:  # type: ignore[type-arg]
                r = client.get(f"/v1/ingest/jobs/{job['id']}", headers=admin)
                if r.status_code == 429:  # polled faster than RAG_API__RATE_LIMIT allows
                    return None
                assert r.status_code == 200, r.text
                state = r.json()
                return state if state["status"] in ("succeeded", "partial", "failed") else None

            job = wait_for(f"ingest job {job['id']} finishing", finished, 120, server)
            assert job["status"] == "succeeded", job
            answer = client.post("/v1/ask", headers=employee, json={"question": MARRIAGE}).json()
            assert answer["mode"] == "extractive" and answer["citations"]
            assert "5 jours" in answer["citations"][0]["quote"]
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["llm"]["ready"] is False
            assert "rag_http_requests_total" in client.get("/metrics").text
        server.terminate()
        _, err = server.communicate(timeout=30)
        assert admin_key not in err, "no key is ever printed"
        assert "admin-key.txt is still there" in err, "a reminder to delete the file"
    finally:
        if server.poll() is None:
            server.kill()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
