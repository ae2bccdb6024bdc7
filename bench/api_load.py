"""Load on the web API over loopback: /v1/search throughput and latency at N
concurrent clients, the API's overhead over the in-process service, and /v1/ask
time to first token with the embedded model.

    python bench/api_load.py --data-dir /tmp/spf-store --dataset ../shared/datasets/spf

Ingests the data set's corpus into the store if it is empty, starts `rag serve` on
it and drives it with an asyncio httpx load generator. Baseline, in the same run:
`SearchService.search` called in-process on the same queries, interleaved with the
same query over HTTP; the overhead is the median per-query difference. Each load
run also reports the client-seen latency minus the server's own search time
(`timings.search_s`), per request.
Prints one JSON object. Server and load generator share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from api.keys import KeyStore
from eval.datasets import load_questions
from ingest.pipeline import IngestService
from rag.retrieval.service import SearchService
from rag.settings import Settings
from rag.store import DocumentStore


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)

    def at(q: float) -> float:
        return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 2)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "n": len(values)}


def interleaved(url: str, key: str, service: SearchService, queries: list[str]) -> dict:
    """Each query in-process, then the same query over HTTP, one after the other, so
    both see the same machine load. Overhead = median of per-query differences."""
    local, remote = [], []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        for q in queries * 2:
            t0 = time.perf_counter()
            service.search(q)
            local.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            client.post("/v1/search", json={"query": q}).raise_for_status()
            remote.append(time.perf_counter() - t0)
    return {
        "in_process": percentiles(local),
        "over_http": percentiles(remote),
        "overhead_median_ms": round(
            1000 * statistics.median(r - x for r, x in zip(remote, local, strict=True)), 2
        ),
    }


async def load(url: str, key: str, queries: list[str], clients: int, total: int) -> dict:
    latencies: list[float] = []
    overheads: list[float] = []  # client-seen latency minus the server's search time
    errors = 0
    counter = iter(range(total))
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                t0 = time.perf_counter()
                r = await c.post("/v1/search", json={"query": queries[i % len(queries)]})
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200
                if r.status_code == 200:
                    overheads.append(latencies[-1] - r.json()["timings"]["search_s"])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests_per_s": round(total / wall, 1),
        "errors": errors,
        **percentiles(latencies),
        "overhead_p50_ms": round(1000 * statistics.median(overheads), 2),
    }


def first_tokens(url: str, key: str, questions: list[str]) -> dict:
    """Time to the first streamed token over HTTP, and the service's own figure."""
    over_http, in_service = [], []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
        for q in questions:
            t0 = time.perf_counter()
            first = None
            body = {"question": q, "stream": True}
            with client.stream("POST", "/v1/ask", json=body) as r:
                event = None
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif event == "token" and first is None:
                        first = time.perf_counter() - t0
                    elif event == "done" and line.startswith("data:"):
                        done = json.loads(line[5:])
            if first is not None and "first_token_s" in done["timings"]:
                over_http.append(first)
                in_service.append(done["timings"]["first_token_s"])
    return {
        "questions": len(questions),
        "answered_with_tokens": len(over_http),
        "http_first_token_median_s": round(statistics.median(over_http), 3) if over_http else None,
        "service_first_token_median_s": round(statistics.median(in_service), 3)
        if in_service
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--ask", type=int, default=5, help="questions for first-token timing")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    queries = [q.question for q in load_questions(args.dataset)]
    settings = Settings(data_dir=args.data_dir)
    if DocumentStore(settings.db_path).count_documents() == 0:
        IngestService(settings).run(args.dataset / "corpus")
    key, _ = KeyStore(settings.data_dir / "keys.sqlite3").create("bench", "employee", ["public"])

    # Baseline: the in-process service, same queries, one at a time (warm).
    service = SearchService(settings)
    for q in queries[:5]:
        service.search(q)

    env = {**os.environ, "RAG_DATA_DIR": str(args.data_dir),
           "RAG_API__RATE_LIMIT": "1000000/minute", "RAG_API__GENERATION_QUEUE": "64"}  # fmt: skip
    rag = Path(sys.executable).with_name("rag")
    server = subprocess.Popen(
        [str(rag), "serve", "--port", str(args.port)], env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.monotonic() + 300
        while True:  # ready = store, index, embedder and LLM loaded
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("rag serve did not become ready")
            time.sleep(1)
        asyncio.run(load(url, key, queries, args.clients, 50))  # warm-up
        baseline = interleaved(url, key, service, queries)
        sequential = asyncio.run(load(url, key, queries, 1, len(queries)))
        concurrent = asyncio.run(load(url, key, queries, args.clients, args.requests))
        ask = first_tokens(url, key, queries[: args.ask]) if args.ask else None
    finally:
        server.terminate()
        server.wait(30)
    print(
        json.dumps(
            {
                "store": str(args.data_dir),
                "baseline_in_process_vs_http": baseline,
                "api_search_1_client": sequential,
                f"api_search_{args.clients}_clients": concurrent,
                "ask_first_token": ask,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
