"""Reads while a writer writes: two API worker processes (uvicorn, each its own
process, tests/api/worker.py) over one data dir, and a third process ingesting a
batch into it, with every write transaction held open a while (a slow writer).

Throughout, threads here search, list, and ask through both workers, and afterwards:

- no response is a 5xx;
- no document is ever partially visible: every chunk of a batch document carries
  the document's canary and its revision, so a search for the canary returns
  either nothing (not there yet) or all of one revision's chunks, never some of
  them and never two revisions mixed (the batch replaces documents as well as
  adding them); the documents list shows a (sha256, chunks) pair of a revision;
- a key outside the batch's group never sees any of it;
- reads are not blocked by the writer: searches that start while the writer holds
  its transaction finish within a bound far below the hold;
- once the ingest has finished, both workers see every new document at once, in
  full text search and in the vector index (caught up on the store's generation).

Default suite: a short run (a small batch, a few held transactions); `-m soak`: a
longer one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.keys import KeyStore
from tests.api.server import free_port

REPO = Path(__file__).resolve().parents[2]
GROUP = "ops"


@dataclass(frozen=True)
class BatchDoc:
    canary: str
    sentences: dict[int, int]  # revision -> sentences (so revisions differ in chunks)

    @property
    def file(self) -> str:
        return f"{self.canary}.md"

    def text(self, revision: int) -> str:
        lines = [f"# Operations rota {self.canary}", ""]
        for i in range(self.sentences[revision]):
            lines.append(
                f"Shift {i} of the operations rota {self.canary} revision r{revision} starts "
                f"at {6 + i % 12} h, with {2 + i % 5} people on call and a handover note."
            )
            if i % 4 == 3:
                lines.append("")
        return "\n".join(lines) + "\n"


def batch(n_replaced: int, n_new: int) -> tuple[list[BatchDoc], list[BatchDoc]]:
    """Documents ingested first (revision 1) then replaced (revision 2, more
    sentences), and documents that only revision 2 brings."""

    def doc(i: int, revisions: tuple[int, ...]) -> BatchDoc:
        canary = f"canary{i:03d}x{secrets.token_hex(3)}9"
        return BatchDoc(canary, {r: 12 + 6 * r + i % 3 for r in revisions})

    replaced = [doc(i, (1, 2)) for i in range(n_replaced)]
    new = [doc(n_replaced + i, (2,)) for i in range(n_new)]
    return replaced, new


def write_revision(folder: Path, docs: list[BatchDoc], revision: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for d in docs:
        if revision in d.sentences:
            (folder / d.file).write_text(d.text(revision), encoding="utf-8")


# -- the processes ---------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {
        **env,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(REPO),
    }


def start_worker(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.api.worker", "serve", str(data), str(port)],
        cwd=REPO,
        env=child_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def run_ingest(
    data: Path, folder: Path, hold_s: float, window: int, log: Path, out: Path
) -> subprocess.Popen[bytes]:
    args = ["ingest", str(data), str(folder), GROUP, str(hold_s), str(window), str(log)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.api.worker", *args],
        cwd=REPO,
        env=child_env(),
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_until(what: str, ready: Callable[[], bool], timeout_s: float, procs: list[Any]) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        for proc, log in procs:
            if proc.poll() is not None:
                raise AssertionError(
                    f"{what}: a child exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.1)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- what the readers record ---------------------------------------------------------


@dataclass
class Sample:
    kind: str
    worker: int
    started: float  # wall clock, to line up with the writer's transactions
    latency: float
    status: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    urls: list[str]
    keys: dict[str, dict[str, str]]
    replaced: list[BatchDoc]
    new: list[BatchDoc]
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def docs(self) -> list[BatchDoc]:
        return self.replaced + self.new

    def record(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def timed(
        self, kind: str, worker: int, client: httpx.Client, method: str, path: str, **kw: Any
    ) -> tuple[httpx.Response | None, Sample]:
        started, t0 = time.time(), time.perf_counter()
        try:
            r = client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            with self.lock:
                self.errors.append(f"{kind} on worker {worker}: {exc!r}")
            return None, Sample(kind, worker, started, time.perf_counter() - t0, 0)
        sample = Sample(kind, worker, started, time.perf_counter() - t0, r.status_code)
        self.record(sample)
        return r, sample


def canary_hits(results: list[dict[str, Any]], canary: str) -> tuple[int, set[str], set[int]]:
    """How many hits carry the canary, the revisions they say, their documents."""
    hits = [h for h in results if canary in h["text"]]
    revisions = {w for h in hits for w in ("r1", "r2") if f"{canary} revision {w}" in h["text"]}
    return len(hits), revisions, {h["document_id"] for h in hits}


def searcher(run: Run, worker: int) -> None:
    """Plain searches, timed: over the demo documents and over the batch."""
    with httpx.Client(base_url=run.urls[worker], timeout=60) as client:
        queries = [
            ("public", "Combien de jours de congé pour un mariage ?"),
            (GROUP, "operations rota shift handover"),
        ]
        i = 0
        while not run.stop.is_set():
            key, query = queries[i % 2]
            run.timed(
                "search",
                worker,
                client,
                "POST",
                "/v1/search",
                json={"query": query, "k": 10},
                headers=run.keys[key],
            )
            i += 1


def checker(run: Run, worker: int) -> None:
    """Each batch document in turn, by its canary: full text, vectors, both; the
    documents list; and a key of another group, which must never see the batch."""
    with httpx.Client(base_url=run.urls[worker], timeout=60) as client:
        i = 0
        while not run.stop.is_set():
            doc = run.docs[i % len(run.docs)]
            mode = ("bm25", "hybrid", "dense")[i % 3]
            body = {"query": doc.canary, "k": 50, "mode": mode}
            r, sample = run.timed(
                "canary", worker, client, "POST", "/v1/search", json=body, headers=run.keys[GROUP]
            )
            if r is not None and r.status_code == 200:
                n, revisions, ids = canary_hits(r.json()["results"], doc.canary)
                sample.detail = {
                    "canary": doc.canary,
                    "mode": mode,
                    "n": n,
                    "revisions": sorted(revisions),
                    "ids": sorted(ids),
                }
            if i % 3 == 0:
                r, sample = run.timed(
                    "list",
                    worker,
                    client,
                    "GET",
                    "/v1/documents",
                    params={"limit": 1000},
                    headers=run.keys[GROUP],
                )
                if r is not None and r.status_code == 200:
                    sample.detail = {
                        "documents": [
                            (Path(d["path"]).name, d["sha256"], d["chunks"], d["id"])
                            for d in r.json()["documents"]
                        ]
                    }
                r, sample = run.timed(
                    "outsider",
                    worker,
                    client,
                    "POST",
                    "/v1/search",
                    json={"query": doc.canary, "k": 50},
                    headers=run.keys["public"],
                )
                if r is not None and r.status_code == 200:
                    text = json.dumps(r.json()["results"])
                    sample.detail = {"leaked": [d.canary for d in run.docs if d.canary in text]}
            i += 1


def asker(run: Run, worker: int) -> None:
    """Answers (JSON and streamed) about batch documents, present or not yet."""
    with httpx.Client(base_url=run.urls[worker], timeout=60) as client:
        i = 0
        while not run.stop.is_set():
            doc = run.docs[i % len(run.docs)]
            body = {
                "question": f"When does the operations rota {doc.canary} start?",
                "stream": i % 2 == 1,
            }
            r, sample = run.timed(
                "ask", worker, client, "POST", "/v1/ask", json=body, headers=run.keys[GROUP]
            )
            if r is not None and body["stream"] and "event: error" in r.text:
                sample.status = 599  # an error event after a 200 counts as a failure
            i += 1


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the run ---------------------------------------------------------------------------


@pytest.fixture
def concurrency_run(demo_data: Path, tmp_path: Path) -> Iterator[Callable[..., dict[str, Any]]]:
    children: list[subprocess.Popen[bytes]] = []

    def go(n_replaced: int, n_new: int, hold_s: float, window: int) -> dict[str, Any]:
        data = tmp_path / "data"
        shutil.copytree(demo_data, data)
        keys_store = KeyStore(data / "keys.sqlite3")
        keys = {
            name: {"Authorization": f"Bearer {keys_store.create(name, role, groups)[0]}"}
            for name, role, groups in (
                ("admin", "admin", []),
                (GROUP, "employee", [GROUP]),
                ("public", "employee", ["public"]),
            )
        }
        replaced, new = batch(n_replaced, n_new)
        folder = tmp_path / "batch"  # one folder: revision 2 replaces files of revision 1
        write_revision(folder, replaced, 1)
        logs = tmp_path / "logs"
        logs.mkdir()

        # The workers start while revision 1 goes in.
        t0 = time.perf_counter()
        ports = [free_port(), free_port()]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        workers = []
        for n, port in enumerate(ports):
            proc = start_worker(data, port, logs / f"worker{n}")
            children.append(proc)
            workers.append((proc, logs / f"worker{n}"))
        first = run_ingest(data, folder, 0.0, 4096, logs / "tx1.jsonl", logs / "in1")
        children.append(first)
        assert first.wait(120) == 0, (logs / "in1").read_text()[-3000:]
        write_revision(folder, replaced + new, 2)
        for url in urls:
            wait_until(f"worker {url} answering /healthz", lambda u=url: healthy(u), 90, workers)
        print(f"workers up {time.perf_counter() - t0:.1f} s")
        run = Run(urls, keys, replaced, new)
        expected = expected_revisions(run, urls[0], {1})
        threads = [
            threading.Thread(target=f, args=(run, w), daemon=True)
            for f in (searcher, checker, asker)
            for w in (0, 1)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(0.5)  # a baseline before the writer starts
        second = run_ingest(data, folder, hold_s, window, logs / "tx2.jsonl", logs / "in2")
        children.append(second)
        try:
            assert second.wait(600) == 0, (logs / "in2").read_text()[-3000:]
        finally:
            time.sleep(0.3)  # the readers see the last commit too
            run.stop.set()
            for t in threads:
                t.join(60)
        elapsed = time.perf_counter() - started
        summary = json.loads((logs / "in2").read_text().strip().splitlines()[-1])
        assert summary["added"] == len(new) and summary["updated"] == len(replaced), summary
        holds = [json.loads(line) for line in (logs / "tx2.jsonl").read_text().splitlines()]
        # After the job: both workers see every document, whole, at once.
        final = expected_revisions(run, urls[0], {2})
        assert expected_revisions(run, urls[1], {2}) == final
        for worker, url in enumerate(urls):
            caught_up(run, url, final, worker)
        changes_reach_every_worker(run, data, keys_store)
        for proc, log in workers:
            assert proc.poll() is None, f"a worker died:\n{log.read_text()[-3000:]}"
        expected.update(final)
        return check_samples(run, expected, holds, hold_s, elapsed)

    yield go
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
    for proc in children:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def expected_revisions(
    run: Run, url: str, revisions: set[int]
) -> dict[tuple[str, int], tuple[str, int]]:
    """(canary, revision) -> (sha256, chunks), read from the documents list when no
    writer is running: what a whole revision of each document looks like."""
    r = httpx.get(f"{url}/v1/documents", params={"limit": 1000}, headers=run.keys[GROUP])
    assert r.status_code == 200, r.text
    listed = {Path(d["path"]).name: d for d in r.json()["documents"]}
    out = {}
    for doc in run.docs:
        for revision in revisions & set(doc.sentences):
            d = listed[doc.file]
            assert d["chunks"] >= 3, "each document spans several chunks"
            out[(doc.canary, revision)] = (d["sha256"], d["chunks"])
    return out


def caught_up(
    run: Run, url: str, final: dict[tuple[str, int], tuple[str, int]], worker: int
) -> None:
    """Right after the job, with no waiting: each document whole by its canary in full
    text and in the vector index (scoped to the document, so only the index can miss)."""
    listed = httpx.get(f"{url}/v1/documents", params={"limit": 1000}, headers=run.keys[GROUP])
    ids = {Path(d["path"]).name: d["id"] for d in listed.json()["documents"]}
    for doc in run.docs:
        _, chunks = final[(doc.canary, 2)]
        for extra in (
            {"mode": "bm25"},
            {"mode": "dense", "filters": {"document_ids": [ids[doc.file]]}},
        ):
            body = {"query": doc.canary, "k": 50, **extra}
            r = httpx.post(f"{url}/v1/search", json=body, headers=run.keys[GROUP], timeout=30)
            n, revisions, _ = canary_hits(r.json()["results"], doc.canary)
            assert (n, revisions) == (chunks, {"r2"}), (worker, doc.canary, extra, n, revisions)


def changes_reach_every_worker(run: Run, data: Path, keys: KeyStore) -> None:
    """A group change and a revocation made by another process (the test, as `rag
    ingest --groups` and `rag keys revoke` would) apply in both workers at once."""
    from rag.store import DocumentStore

    store = DocumentStore(data / "store.sqlite3")
    doc = run.docs[0]
    record = store.get_document_by_path(str((data.parent / "batch" / doc.file).resolve()))
    assert record is not None
    store.set_groups(record.id, ["elsewhere"])
    revoked = {"Authorization": f"Bearer {keys.create('leaving', 'employee', [GROUP])[0]}"}
    for url in run.urls:
        assert httpx.get(f"{url}/v1/me", headers=revoked).status_code == 200
    keys.revoke("leaving")
    for url in run.urls:
        assert httpx.get(f"{url}/v1/me", headers=revoked).status_code == 401, url
        for mode in ("bm25", "dense", "hybrid"):
            body = {"query": doc.canary, "k": 50, "mode": mode}
            r = httpx.post(f"{url}/v1/search", json=body, headers=run.keys[GROUP], timeout=30)
            assert canary_hits(r.json()["results"], doc.canary)[0] == 0, (url, mode)
        r = httpx.get(f"{url}/v1/documents/{record.id}", headers=run.keys[GROUP])
        assert r.status_code == 404, (url, r.text)
    store.close()


def check_samples(
    run: Run,
    expected: dict[tuple[str, int], tuple[str, int]],
    holds: list[dict[str, float]],
    hold_s: float,
    elapsed: float,
) -> dict[str, Any]:
    assert not run.errors, run.errors[:5]
    failed = [s for s in run.samples if s.status != 200]
    assert not failed, [(s.kind, s.worker, s.status) for s in failed[:10]]
    chunks = {(c, f"r{r}"): n for (c, r), (_, n) in expected.items()}
    pairs = {(f"{c}.md", sha, n) for (c, _), (sha, n) in expected.items()}
    replaced = {d.canary for d in run.replaced}
    partial = []
    lagging = 0
    for s in run.samples:
        if s.kind == "canary":
            d = s.detail
            if d["n"] == 0 and d["canary"] in replaced and d["mode"] == "dense":
                lagging += 1
            if d["n"] == 0:
                # Not there yet; a replaced document is always there in full text (the
                # old revision until the new one commits). The vector index may lag by
                # a commit: it is reloaded on the next search.
                if d["canary"] in replaced and d["mode"] != "dense":
                    partial.append(("vanished", d))
            elif (
                len(d["revisions"]) != 1
                or len(d["ids"]) != 1
                or d["n"] != chunks[(d["canary"], d["revisions"][0])]
            ):
                partial.append(("partial", d))
        elif s.kind == "list":
            for name, sha, n, _ in s.detail["documents"]:
                if name.startswith("canary") and (name, sha, n) not in pairs:
                    partial.append(("list", (name, sha, n)))
        elif s.kind == "outsider":
            assert not s.detail["leaked"], s.detail
    assert not partial, partial[:5]

    def during(s: Sample) -> bool:
        """Did this read run while the writer held a transaction (for some of its time)?"""
        return any(s.started < h["released"] and s.started + s.latency > h["began"] for h in holds)

    searches = [s for s in run.samples if s.kind in ("search", "canary", "outsider", "list")]
    held = [s.latency for s in searches if during(s)]
    free = [s.latency for s in searches if not during(s)]
    asks = [s.latency for s in run.samples if s.kind == "ask"]
    kinds: dict[str, int] = {}
    for s in run.samples:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    figures = {
        "seconds": round(elapsed, 1),
        "requests": len(run.samples),
        "by_kind": kinds,
        "transactions_held": len(holds),
        "dense_lagging": lagging,
        "hold_s": hold_s,
        "reads_during_holds": len(held),
        "during_p50_ms": round(1000 * statistics.median(held), 1) if held else None,
        "during_p95_ms": round(1000 * percentile(held, 95), 1) if held else None,
        "during_max_ms": round(1000 * max(held), 1) if held else None,
        "outside_p50_ms": round(1000 * statistics.median(free), 1) if free else None,
        "outside_p95_ms": round(1000 * percentile(free, 95), 1) if free else None,
        "ask_p50_ms": round(1000 * statistics.median(asks), 1) if asks else None,
    }
    print("\nconcurrency:", json.dumps(figures))
    # Reads go on while the writer holds its transaction: a blocked read would wait for
    # the commit, half a hold on average (and few reads would start meanwhile). The
    # bounds are generous: 2 shared cores run both workers, the writer and the readers.
    assert len(held) >= 10, f"few reads ran while the writer held a transaction: {figures}"
    assert percentile(held, 95) < hold_s / 2, figures
    assert statistics.median(held) < hold_s / 5, figures
    return figures


def test_reads_during_an_ingest_in_another_process_see_whole_documents_and_are_not_blocked(
    concurrency_run,  # type: ignore[no-untyped-def]
) -> None:
    figures = concurrency_run(n_replaced=3, n_new=3, hold_s=1.0, window=8)
    assert figures["transactions_held"] >= 3


@pytest.mark.soak
def test_reads_during_a_long_ingest(concurrency_run) -> None:  # type: ignore[no-untyped-def]
    figures = concurrency_run(n_replaced=15, n_new=25, hold_s=1.5, window=12)
    assert figures["transactions_held"] >= 15
