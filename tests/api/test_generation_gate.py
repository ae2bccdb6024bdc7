"""The generation gate on its own (api/limits.py): the per-key share of the queue,
round-robin hand-over, the bounded wait, and waiters that give up at awkward moments.
The routes' side of it is in test_routes.py and test_server.py."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from api.errors import ApiError
from api.limits import GenerationGate


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 10))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_share_of_a_key_defaults_to_half_the_queue() -> None:
    assert GenerationGate(1, 8).per_key == 4
    assert GenerationGate(1, 5).per_key == 3
    assert GenerationGate(1, 1).per_key == 1
    assert GenerationGate(1, 8, per_key=2).per_key == 2


def test_slots_go_round_robin_by_key_and_each_key_in_its_order() -> None:
    async def test() -> None:
        gate = GenerationGate(1, queue=8, per_key=4)
        await gate.acquire("a")
        served: list[str] = []

        async def wait(key: str, name: str) -> None:
            await gate.acquire(key)
            served.append(name)

        tasks = []
        for key, name in (("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1"), ("c", "c1")):
            tasks.append(asyncio.create_task(wait(key, name)))
            await settle()
        assert gate.waiting == 5 and gate.running == 1
        for _ in range(5):
            gate.release()
            await settle()
        assert served == ["a1", "b1", "c1", "a2", "a3"]
        assert gate.running == 1 and gate.waiting == 0
        gate.release()
        assert gate.running == 0
        await asyncio.gather(*tasks)

    run(test())


def test_past_its_share_a_key_gets_429_and_others_still_queue() -> None:
    async def test() -> None:
        gate = GenerationGate(1, queue=4, per_key=2)
        await gate.acquire("a")
        waiters = [asyncio.create_task(gate.acquire("a")) for _ in range(2)]
        await settle()
        with pytest.raises(ApiError) as refused:
            await gate.acquire("a")
        assert refused.value.status == 429 and refused.value.code == "queue_share"
        assert refused.value.headers["Retry-After"] == "5"
        waiters.append(asyncio.create_task(gate.acquire("b")))
        await settle()
        assert gate.waiting == 3
        for _ in range(4):
            gate.release()
            await settle()
        await asyncio.gather(*waiters)
        assert gate.running == 0 and gate.waiting == 0

    run(test())


def test_a_full_queue_is_503_whatever_the_key() -> None:
    async def test() -> None:
        gate = GenerationGate(1, queue=2, per_key=2)
        await gate.acquire("a")
        waiters = [asyncio.create_task(gate.acquire(k)) for k in ("a", "b")]
        await settle()
        with pytest.raises(ApiError) as refused:
            await gate.acquire("c")
        assert refused.value.status == 503 and refused.value.code == "overloaded"
        for task in waiters:
            task.cancel()
        await settle()

    run(test())


def test_a_waiter_leaves_after_the_timeout_and_the_slot_skips_it() -> None:
    async def test() -> None:
        gate = GenerationGate(1, queue=4, timeout_s=0.1)
        await gate.acquire("a")
        with pytest.raises(ApiError) as late:
            await gate.acquire("b")
        assert late.value.status == 503 and late.value.code == "queue_timeout"
        assert late.value.headers["Retry-After"] == "5"
        assert gate.waiting == 0
        with pytest.raises(ApiError, match=r"0\.05 s"):
            await gate.acquire("b", timeout_s=0.05)  # the request's own deadline is sooner
        gate.release()
        assert gate.running == 0, "no expired waiter got the slot"
        await gate.acquire("c")  # and the next one gets it at once
        assert gate.running == 1

    run(test())


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    async def test() -> None:
        gate = GenerationGate(1, queue=4)
        await gate.acquire("a")
        gone = asyncio.create_task(gate.acquire("b"))
        stays = asyncio.create_task(gate.acquire("c"))
        await settle()
        gone.cancel()
        await settle()
        assert gate.waiting == 1
        gate.release()
        await stays
        assert gate.running == 1 and gate.waiting == 0

    run(test())


def test_a_waiter_cancelled_as_its_slot_comes_passes_the_slot_on() -> None:
    async def test() -> None:
        gate = GenerationGate(1, queue=4)
        await gate.acquire("a")
        late = asyncio.create_task(gate.acquire("b"))
        next_one = asyncio.create_task(gate.acquire("c"))
        await settle()
        gate.release()  # to "b", which is cancelled before it runs again
        late.cancel()
        await settle()
        assert late.cancelled()
        await next_one
        assert gate.running == 1 and gate.waiting == 0
        gate.release()
        assert gate.running == 0

    run(test())
