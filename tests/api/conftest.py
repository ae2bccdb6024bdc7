"""An app over the demo corpus (small embedder, scripted LLM) and keys for each role."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.settings import ApiSettings, FeedbackSettings, Settings, WebSettings
from tests.fakes import HashingEmbedder

EMBEDDER = HashingEmbedder(1024)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store ingested once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("api-demo")
    settings = Settings(data_dir=root / "data")
    ingest = IngestService(settings, embedder=EMBEDDER)
    for group, paths in write_demo_corpus(root / "docs").items():
        ingest.run(paths[0].parent, [group])
    return root / "data"


def first_difference(sent: Any, returned: Any, where: str = "$") -> str | None:
    """Where two JSON values first differ (a key, its order, a value or its type)."""
    if type(sent) is not type(returned):
        return f"{where}: {returned!r} became {sent!r}"
    if isinstance(sent, dict):
        if list(sent) != list(returned):
            return f"{where}: keys {list(returned)} became {list(sent)}"
        for key in sent:
            if diff := first_difference(sent[key], returned[key], f"{where}.{key}"):
                return diff
    elif isinstance(sent, list):
        if len(sent) != len(returned):
            return f"{where}: {len(returned)} items became {len(sent)}"
        for i, (a, b) in enumerate(zip(sent, returned, strict=True)):
            if diff := first_difference(a, b, f"{where}[{i}]"):
                return diff
    elif sent != returned:
        return f"{where}: {returned!r} became {sent!r}"
    return None


@pytest.fixture(autouse=True)
def responses_keep_every_field(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A route's response_model must not change what the route returns: FastAPI
    validates the return value against the model and drops the keys it lacks. Every
    JSON body serialized through a model is compared with what the route returned, as
    FastAPI would send it without one (keys, their order, values, int vs float); any
    difference fails the test. (This wraps fastapi.routing.serialize_response: if a
    FastAPI release renames it, monkeypatch fails loudly here.)"""
    original = fastapi.routing.serialize_response
    problems: list[str] = []

    async def checked(**kwargs: Any) -> Any:
        result = await original(**kwargs)
        field = kwargs.get("field")
        if field is not None:
            sent = json.loads(result) if isinstance(result, bytes) else result
            returned = jsonable_encoder(kwargs["response_content"])
            if diff := first_difference(sent, returned):
                problems.append(f"{field.name}: {diff}")
        return result

    monkeypatch.setattr(fastapi.routing, "serialize_response", checked)
    yield
    report = "\n".join(dict.fromkeys(problems))
    assert not problems, f"a response_model changed a response:\n{report}"


@dataclass
class Api:
    client: TestClient
    services: Services
    admin: dict[str, str]
    employee: dict[str, str]  # groups: public
    hr: dict[str, str]  # groups: hr
    nobody: dict[str, str]  # no groups: sees nothing

    def post(self, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        return self.client.post(path, headers=headers, **kwargs)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_api(demo_data: Path, tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(llm: Any = None, web: Any = None, feedback: Any = None, **api: Any) -> Api:
        """`web`: a SearxngClient (on a stand-in) turns web results on; `feedback`:
        FeedbackSettings (the question log's)."""
        data = tmp_path / f"data{len(clients)}"
        shutil.copytree(demo_data, data)
        settings = Settings(
            data_dir=data,
            api=ApiSettings(warm_up=False, **api),
            web=WebSettings(enabled=web is not None),
            feedback=feedback or FeedbackSettings(),
        )
        from tests.fakes import ScriptedLLM

        services = Services.build(settings, embedder=EMBEDDER, llm=llm or ScriptedLLM(), web=web)
        keys = {
            name: bearer(services.keys.create(name, role, groups)[0])
            for name, role, groups in (
                ("admin", "admin", []),
                ("employee", "employee", ["public"]),
                ("hr", "employee", ["hr"]),
                ("nobody", "employee", []),
            )
        }
        client = TestClient(create_app(settings, services), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Api(client, services, **keys)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def sse_events(text: str) -> list[tuple[str, Any]]:
    """Parse a Server-Sent Events body into (event, data) pairs."""
    import json

    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            payload = "\n".join(data)
            events.append((name, payload if payload == "[DONE]" else json.loads(payload)))
    return events
