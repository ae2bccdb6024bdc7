"""An app over the demo corpus (small embedder, scripted LLM) and keys for each role."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.settings import ApiSettings, Settings, WebSettings
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

    def make(llm: Any = None, web: Any = None, **api: Any) -> Api:
        """`web`: a SearxngClient (on a stand-in) turns web results on."""
        data = tmp_path / f"data{len(clients)}"
        shutil.copytree(demo_data, data)
        settings = Settings(
            data_dir=data,
            api=ApiSettings(warm_up=False, **api),
            web=WebSettings(enabled=web is not None),
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
