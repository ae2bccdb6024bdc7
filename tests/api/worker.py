"""Child processes for the concurrency tests, with the test doubles inside them.

    python -m tests.api.worker serve DATA_DIR PORT
    python -m tests.api.worker ingest DATA_DIR FOLDER GROUP HOLD_S WINDOW LOG
    python -m tests.api.worker load DATA_DIR PORT CONFIG_JSON
    python -m tests.api.worker mcp DATA_DIR

`serve` runs the API (uvicorn, one process) over DATA_DIR with the small hashing
embedder and EchoLLM, as tests/api/conftest.py builds it in-process. `ingest`
ingests FOLDER for GROUP with the same embedder, WINDOW chunks per write
transaction; each transaction is held open HOLD_S seconds longer before it commits
(a slow writer: a big batch, a slow disk), and its begin and commit times (wall
clock, so the test can line them up with its requests) go to LOG, one JSON line
each. `load` runs the API for the load test (tests/api/test_load.py): one generation
slot and SlowLLM streaming at a set rate; CONFIG_JSON holds the ApiSettings and the
LLM's `reply`, `rate` and `by_word`. `mcp` is `rag mcp` (MCP over stdio, as the
key in RAG_API_KEY) with the same doubles and ScriptedLLM answering MCP_ANSWER. Run
from the repository root (the test does) so `tests` imports.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.settings import AnswerSettings, ApiSettings, IngestSettings, Settings
from tests.fakes import BilingualEncoder, EchoLLM, HashingEmbedder

EMBEDDER = HashingEmbedder(1024)  # the same as tests/api/conftest.py: its stores fit


def worker_settings(data: Path, **ingest: Any) -> Settings:
    """Rate limit and queue out of the way (the tests send many requests with few
    keys), and answers that carry as much source text as they can."""
    return Settings(
        data_dir=data,
        ingest=IngestSettings(parse_workers=1, **ingest),
        api=ApiSettings(warm_up=False, rate_limit="1000000/minute", generation_queue=64),
        answer=AnswerSettings(
            source_tokens=0,
            answerable_threshold={"en": 0.01, "fr": 0.01},
            extractive_threshold={"en": 0.02, "fr": 0.02},
        ),
    )


def _test_doubles() -> None:
    """What tests/conftest.py does for every fast test: the small multilingual encoder."""
    import rag.answer.service

    rag.answer.service.create_multilingual = lambda name: BilingualEncoder() if name else None  # type: ignore[assignment]


def serve(data: Path, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.services import Services

    _test_doubles()
    settings = worker_settings(data)
    services = Services.build(settings, embedder=EMBEDDER, llm=EchoLLM())
    app = create_app(settings, services)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def load(data: Path, port: int, config: dict[str, Any]) -> None:
    import uvicorn

    from api.app import create_app
    from api.services import Services
    from tests.fakes import SlowLLM

    _test_doubles()
    llm = SlowLLM(config["reply"], delay_s=0.0, rate=config["rate"], by_word=config["by_word"])
    settings = Settings(data_dir=data, api=ApiSettings(warm_up=False, **config["api"]))
    services = Services.build(settings, embedder=EMBEDDER, llm=llm)
    app = create_app(settings, services)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


MCP_ANSWER = "Le mariage du salarié donne droit à 5 jours de congé payé [1]."


def mcp(data: Path) -> None:
    from api.cli import mcp_key_or_exit
    from api.mcp_server import run_stdio
    from api.services import Services
    from rag.logs import configure_logging
    from tests.fakes import ScriptedLLM

    configure_logging()  # as `rag` does: to standard error
    _test_doubles()
    settings = worker_settings(data)
    key = mcp_key_or_exit(settings.data_dir)
    services = Services.build(settings, embedder=EMBEDDER, llm=ScriptedLLM(*[MCP_ANSWER] * 20))
    try:
        run_stdio(services, key)
    finally:
        services.close()


def ingest(data: Path, folder: Path, group: str, hold_s: float, window: int, log: Path) -> None:
    from ingest.pipeline import IngestService

    service = IngestService(worker_settings(data, embed_window=window), embedder=EMBEDDER)
    store = service.store
    plain = store.transaction

    @contextmanager
    def held() -> Iterator[None]:
        with plain():
            began = time.time()
            yield
            time.sleep(hold_s)  # inside the transaction: the write lock stays held
            released = time.time()
        with log.open("a") as fh:
            fh.write(json.dumps({"began": began, "released": released, "committed": time.time()}))
            fh.write("\n")

    store.transaction = held  # type: ignore[method-assign]
    summary = service.run(folder, [group], lock_timeout_s=30)
    print(json.dumps(summary.to_dict()), flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "serve":
        serve(Path(args[0]), int(args[1]))
    elif command == "load":
        load(Path(args[0]), int(args[1]), json.loads(args[2]))
    elif command == "mcp":
        mcp(Path(args[0]))
    elif command == "ingest":
        ingest(Path(args[0]), Path(args[1]), args[2], float(args[3]), int(args[4]), Path(args[5]))
    else:
        raise SystemExit(f"unknown command {command!r}: serve, load, mcp or ingest")
