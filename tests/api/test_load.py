"""A bounded load test on loopback: the API in its own process (uvicorn, one generation
slot, tests/api/worker.py `load`), its LLM a stand-in streaming RATE tokens a second,
and asyncio clients here (httpx) that flood it, queue politely, and hang up.

Asserted, with the figures printed (`-s` shows them):

- overload is refused at once: 429 `queue_share` past a key's share of the queue,
  503 `overloaded` past the queue, each with Retry-After, p95 under REFUSAL_P95_S;
- admitted requests finish within a bound computed from the token rate and the
  queue's length, and none waits out the queue's timeout;
- one greedy key flooding cannot starve another: the polite key's requests are all
  admitted and each served within a bound well under what waiting behind the flood
  would take;
- a client that hangs up (streaming or JSON) frees the generation slot within a
  second;
- memory is flat: the server's RSS after a warm-up and at the end of a soak of mixed
  traffic grows less than RSS_GROWTH_MB (a few seconds here; 5 minutes with `-m soak`).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.keys import KeyStore
from tests.api.server import free_port
from tests.api.test_concurrency import child_env

REPO = Path(__file__).resolve().parents[2]
RATE = 50.0  # tokens a second, as a small model on a few cores
REPLY = (
    "Le mariage du salarié donne droit à 5 jours de congé payé, à prendre au moment "
    "de l'événement, sur présentation d'un justificatif auprès des ressources humaines [1]."
)
TOKENS = len(REPLY.split(" "))  # SlowLLM streams one word a token
LONG = "LONGUE"  # a question with this word gets a 10 s answer (the hang-up tests)
LONG_REPLY = " ".join([REPLY] * 20)
QUEUE, PER_KEY = 8, 4  # a share of half the queue, the default
QUESTION = "Combien de jours de congé pour un mariage ?"
# A refusal comes back at once: its p95 under a third of one answer's time (on an
# idle machine it is ~20 ms; on the shared 2 cores under this flood 80-100 ms). A
# refusal that waited for a slot would take seconds.
REFUSAL_P95_S = 0.25
# A greedy client's pause after a refusal (it ignores Retry-After): short, yet it
# leaves the 2 shared cores to the server, which must refuse it at once.
PAUSE_S = 0.2
RSS_GROWTH_MB = 30.0
# One answer's time: its tokens at RATE, and a margin for retrieval and the rest of
# the pipeline on a shared 2-core machine.
SERVICE_S = TOKENS / RATE + 0.3


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    keys: dict[str, dict[str, str]]

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        assert match, "no VmRSS in /proc/<pid>/status"
        return int(match.group(1)) / 1024

    def gauge(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        assert match, f"{name} not in /metrics"
        return float(match.group(1))


@pytest.fixture(scope="module")
def server(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("load") / "data"
    shutil.copytree(demo_data, data)
    store = KeyStore(data / "keys.sqlite3")
    keys = {
        name: {"Authorization": f"Bearer {store.create(name, 'employee', ['public'])[0]}"}
        for name in ("polite", "greedy", "flood1", "flood2", "flood3", "soak")
    }
    config = {
        "reply": REPLY,
        "rate": RATE,
        "by_word": {LONG: LONG_REPLY},
        "api": {
            "generation_concurrency": 1,
            "generation_queue": QUEUE,
            "queue_per_key": PER_KEY,
            "queue_timeout_s": 30,
            "rate_limit": "1000000/minute",  # the gate is under test, not the rate limit
        },
    }
    port = free_port()
    log = (data.parent / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.api.worker", "load", str(data), str(port),
         json.dumps(config)],
        cwd=REPO, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the load server did not start:\n" + (data.parent / "server.log").read_text()
                )
            time.sleep(0.2)
        yield Server(url, process, keys)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# -- the clients -----------------------------------------------------------------------


@dataclass
class Result:
    who: str
    status: int
    seconds: float
    code: str = ""
    retry_after: str | None = None
    burst: bool = False  # sent with many others at the same instant
    ended: float = 0.0  # time.monotonic() at the response


@dataclass
class Tally:
    results: list[Result] = field(default_factory=list)

    def of(self, who: str | None = None, status: int | None = None) -> list[Result]:
        return [
            r
            for r in self.results
            if (who is None or r.who == who) and (status is None or r.status == status)
        ]

    def refusals(self) -> list[Result]:
        return [r for r in self.results if r.code in ("queue_share", "overloaded")]


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(tally: Tally, label: str) -> str:
    lines = [f"[{label}] {len(tally.results)} requests"]
    classes: dict[str, list[float]] = {}
    for r in tally.results:
        kind = "admitted" if r.status == 200 else f"{r.status} {r.code}"
        kind += " (burst)" if r.burst else ""
        classes.setdefault(f"{r.who} {kind}", []).append(r.seconds)
    for name, times in sorted(classes.items()):
        lines.append(
            f"  {name}: {len(times)}, p50 {pct(times, 0.5) * 1000:.0f} ms, "
            f"p95 {pct(times, 0.95) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )
    text = "\n".join(lines)
    print(text)
    return text


async def ask(
    client: httpx.AsyncClient, server: Server, who: str, tally: Tally, burst: bool = False
) -> Result:
    started = time.perf_counter()
    response = await client.post(
        "/v1/ask", json={"question": QUESTION}, headers=server.keys[who], timeout=60
    )
    seconds = time.perf_counter() - started
    code = ""
    if response.status_code != 200:
        code = response.json().get("error", {}).get("code", "?")
    else:
        assert "[1]" in response.json()["answer"], response.text
    retry_after = response.headers.get("retry-after")
    result = Result(who, response.status_code, seconds, code, retry_after, burst, time.monotonic())
    tally.results.append(result)
    return result


async def flood(
    client: httpx.AsyncClient, server: Server, who: str, tally: Tally, until: float
) -> None:
    """A greedy client: asks again as soon as it is answered or refused, ignoring
    Retry-After (a short pause only, to leave the shared CPU to the server)."""
    while time.monotonic() < until:
        result = await ask(client, server, who, tally)
        if result.status != 200:
            await asyncio.sleep(PAUSE_S)


async def polite(
    client: httpx.AsyncClient, server: Server, who: str, tally: Tally, until: float
) -> None:
    """One question at a time, the next after the answer."""
    while time.monotonic() < until:
        await ask(client, server, who, tally)
        await asyncio.sleep(0.05)


async def alongside(main: Awaitable[Any], background: list[Coroutine[Any, Any, None]]) -> None:
    """Run `background` while `main` runs, then hang them up (their clients go away:
    the server drops their places in the queue), rather than wait for the queue."""
    tasks = [asyncio.ensure_future(c) for c in background]
    await asyncio.sleep(0)
    try:
        await main
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def client_for(server: Server) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(base_url=server.url, limits=limits, trust_env=False)


def idle(server: Server) -> None:
    deadline = time.monotonic() + 30
    while server.gauge("rag_generations_running") or server.gauge("rag_generations_waiting"):
        assert time.monotonic() < deadline, "the server did not go idle between tests"
        time.sleep(0.1)


# -- the tests -------------------------------------------------------------------------


def test_overload_is_refused_at_once_and_admitted_requests_finish_in_time(
    server: Server,
) -> None:
    """Three keys each burst 12 requests at once, then keep asking for 3 s: each gets
    its share of the queue, the rest 429 (share) or 503 (queue full)."""
    idle(server)
    tally = Tally()
    floods = ("flood1", "flood2", "flood3")

    async def go() -> None:
        async with client_for(server) as client:
            until = time.monotonic() + 3
            burst = [
                ask(client, server, who, tally, burst=True) for who in floods for _ in range(12)
            ]
            loops = [flood(client, server, who, tally, until) for who in floods for _ in range(4)]

            async def after_the_burst() -> None:
                await asyncio.sleep(0.5)  # its refusals are back: the loops on their own
                await asyncio.gather(*loops)

            await asyncio.gather(*burst, after_the_burst())

    asyncio.run(go())
    figures(tally, "overload: 3 keys flooding")
    refused = tally.refusals()
    codes = {r.code for r in refused}
    assert {"queue_share", "overloaded"} <= codes, codes
    assert all(r.retry_after and int(r.retry_after) > 0 for r in refused), "Retry-After"
    assert {r.status for r in refused if r.code == "queue_share"} == {429}
    assert {r.status for r in refused if r.code == "overloaded"} == {503}
    others = [r for r in tally.results if r.status != 200 and r not in refused]
    assert not others, f"no other failure (no queue_timeout, no 5xx): {others[:5]}"
    # Asking again and again: each refusal at once. The 36 sent at the same instant
    # are handled one after another (the server has one event loop): the last of
    # them waits for the others' few milliseconds each, still far from an answer's time.
    steady = [r.seconds for r in refused if not r.burst]
    assert len(steady) > 30
    refusal_p95 = pct(steady, 0.95)
    assert refusal_p95 < REFUSAL_P95_S, f"refusals p95 {refusal_p95 * 1000:.0f} ms"
    in_burst = [r.seconds for r in refused if r.burst]
    assert in_burst and max(in_burst) < 1.0, f"burst refusals max {max(in_burst):.2f} s"
    admitted = [r.seconds for r in tally.of(status=200)]
    assert admitted
    # An admitted request waits at most for the one running and the whole queue.
    bound = (QUEUE + 1) * max(SERVICE_S, answer_interval(tally)) * 1.5
    assert pct(admitted, 0.95) < bound, f"admitted p95 {pct(admitted, 0.95):.2f} s > {bound:.2f}"


def test_a_greedy_key_cannot_starve_a_polite_one(server: Server) -> None:
    """One key floods (16 clients asking again and again, its share always full) while
    another asks one question at a time: each of its requests is admitted and served
    within about two answers' time (the one running, then its own: the slot goes round
    the keys), not behind the greedy key's queue."""
    idle(server)
    tally = Tally()

    async def go() -> None:
        async with client_for(server) as client:
            # The flood lasts as long as the polite key's three turns (a count, not a
            # duration: on a loaded machine 4 s held only two), with a deadline.
            until = time.monotonic() + 60
            greedy = [flood(client, server, "greedy", tally, until) for _ in range(16)]

            async def after_the_flood() -> None:
                await asyncio.sleep(0.3)  # the queue is full of the greedy key's requests
                for _ in range(3):
                    await ask(client, server, "polite", tally)
                    await asyncio.sleep(0.05)

            await alongside(after_the_flood(), greedy)

    asyncio.run(go())
    figures(tally, "greedy vs polite")
    mine = tally.of("polite")
    assert len(mine) == 3, "the polite key asked three times"
    assert all(r.status == 200 for r in mine), [(r.status, r.code) for r in mine]
    assert len(tally.of("greedy", 429)) > len(mine), "the greedy key was over its share"
    assert len(tally.of("greedy", 200)) >= len(mine) - 1, "the greedy key was served too"
    # Served after the running answer and its own (2 answers' time); behind the
    # greedy key's PER_KEY waiting it would take PER_KEY + 1 = 5. An answer's time is
    # its tokens at RATE with a margin, or what it took here (a loaded machine).
    bound = 3.5 * max(SERVICE_S, answer_interval(tally))
    worst = max(r.seconds for r in mine)
    print(f"  polite worst {worst:.2f} s, bound {bound:.2f} s")
    assert worst < bound, f"polite worst {worst:.2f} s > {bound:.2f} s"


def answer_interval(tally: Tally) -> float:
    """The mean time between two answers, measured: the slot's real service time."""
    ends = sorted(r.ended for r in tally.of(status=200))
    return (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else 0.0


def _running_stops_within(server: Server, seconds: float) -> float:
    gone = time.monotonic()
    while server.gauge("rag_generations_running"):
        waited = time.monotonic() - gone
        assert waited < seconds, f"the slot was still held {waited:.2f} s after the hang-up"
        time.sleep(0.02)
    return time.monotonic() - gone


def test_a_client_that_hangs_up_mid_stream_frees_the_slot_within_a_second(
    server: Server,
) -> None:
    idle(server)
    body = {"question": f"{QUESTION} {LONG}", "stream": True}
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        with client.stream("POST", "/v1/ask", json=body, headers=server.keys["polite"]) as r:
            assert r.status_code == 200
            tokens = 0
            for line in r.iter_lines():
                tokens += line.startswith("event: token")
                if tokens == 5:
                    break
        freed = _running_stops_within(server, 1.0)
    print(f"[hang-up, streaming] slot free {freed * 1000:.0f} ms after the client left")


def test_a_json_client_that_hangs_up_frees_the_slot_within_a_second(server: Server) -> None:
    idle(server)
    host, port = server.url.removeprefix("http://").split(":")
    data = json.dumps({"question": f"{QUESTION} {LONG}"}).encode()
    head = (
        f"POST /v1/ask HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
        f"Authorization: {server.keys['polite']['Authorization']}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + data)
        deadline = time.monotonic() + 10
        while not server.gauge("rag_generations_running"):
            assert time.monotonic() < deadline, "the answer did not start"
            time.sleep(0.05)
        time.sleep(0.5)  # well into its 10 s answer
    freed = _running_stops_within(server, 1.0)
    print(f"[hang-up, JSON] slot free {freed * 1000:.0f} ms after the client left")


async def hang_up_streaming(client: httpx.AsyncClient, server: Server, who: str) -> None:
    body = {"question": f"{QUESTION} {LONG}", "stream": True}
    async with client.stream("POST", "/v1/ask", json=body, headers=server.keys[who]) as r:
        if r.status_code == 200:
            async for line in r.aiter_lines():
                if line.startswith("event: token"):
                    break


def soak(server: Server, warm_up_s: float, soak_s: float, steps: int = 1) -> None:
    """Mixed traffic: a polite key, a greedy key flooding, and a client that hangs up
    on streamed answers; RSS after the warm-up, after each of `steps` parts of the
    soak (the trend) and at the end."""
    idle(server)
    tally = Tally()
    rss: dict[str, float] = {"before": server.rss_mb()}
    hang_ups = 0

    async def traffic(until: float) -> None:
        nonlocal hang_ups

        async def leaver() -> None:
            nonlocal hang_ups
            while time.monotonic() < until:
                await hang_up_streaming(client, server, "soak")
                hang_ups += 1
                await asyncio.sleep(1.0)

        async with client_for(server) as client:
            greedy = [flood(client, server, "greedy", tally, until) for _ in range(10)]
            await alongside(
                asyncio.gather(polite(client, server, "polite", tally, until), leaver()), greedy
            )

    asyncio.run(traffic(time.monotonic() + warm_up_s))
    idle(server)
    rss["warm"] = server.rss_mb()
    tally.results.clear()
    hang_ups = 0
    started = time.monotonic()
    trend = []
    for _ in range(steps):
        asyncio.run(traffic(time.monotonic() + soak_s / steps))
        idle(server)
        trend.append(server.rss_mb())
    rss["end"] = trend[-1]
    elapsed = time.monotonic() - started
    figures(tally, f"soak {elapsed:.0f} s")
    growth = rss["end"] - rss["warm"]
    print(
        f"[soak] RSS {rss['before']:.1f} MB at start, {rss['warm']:.1f} MB after the warm-up, "
        f"{rss['end']:.1f} MB at the end ({growth:+.1f} MB); {hang_ups} hang-ups; "
        f"by step: {', '.join(f'{m:.1f}' for m in trend)} MB"
    )
    polite_results = tally.of("polite")
    assert polite_results and all(r.status == 200 for r in polite_results)
    assert not [r for r in tally.results if r.status >= 500], "no 5xx in the soak"
    assert growth < RSS_GROWTH_MB, f"RSS grew {growth:.1f} MB over the soak"
    assert statistics.median(r.seconds for r in polite_results) < 3 * SERVICE_S


def test_memory_is_flat_over_a_short_soak(server: Server) -> None:
    soak(server, warm_up_s=1, soak_s=3)


@pytest.mark.soak
def test_memory_is_flat_over_a_five_minute_soak(server: Server) -> None:
    # A warm-up past the rate limiter's window (a minute of each key's hits, kept in
    # memory), so what it holds at its fullest is in the baseline.
    soak(server, warm_up_s=70, soak_s=300, steps=5)
