"""Limits that protect the service: body size, generation slots, per-key rate."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.errors import ApiError, error_body

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for a body over its route's limit: uploads get `upload_bytes`, every
    other route `body_bytes`. Checked on Content-Length, and again while reading
    (a chunked body has no length)."""

    def __init__(self, app: Any, body_bytes: int, upload_bytes: int, upload_paths: set[str]):
        self.app = app
        self.body_bytes = body_bytes
        self.upload_bytes = upload_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"] in self.upload_paths
        limit = self.upload_bytes if upload else self.body_bytes
        setting = "RAG_API__MAX_UPLOAD_MB" if upload else "RAG_API__MAX_BODY_KB"
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(send, limit, setting)
            return
        received = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit, setting)

    @staticmethod
    async def _refuse(send: Send, limit: int, setting: str) -> None:
        body = json.dumps(
            error_body(
                "body_too_large",
                f"the request body is over the {limit:,}-byte limit ({setting})",
                limit="body_bytes",
                max_bytes=limit,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _Expired(Exception):
    """A waiter's time in the queue ran out."""


class GenerationGate:
    """At most `concurrency` generations at once and `queue` requests waiting for one,
    of which one API key may hold `per_key`: past the queue the caller gets 503, past
    its key's share 429, both at once and with Retry-After, instead of piling up. A
    request waits `timeout_s` at most (503). When a slot frees it goes to the waiting
    keys in turn (round-robin), each key's requests in their order, so a key that
    floods the queue delays its own requests, not the other keys'.

    Runs on the event loop: `acquire` and `release` are called from it only."""

    def __init__(
        self,
        concurrency: int,
        queue: int,
        per_key: int | None = None,
        timeout_s: float = 30.0,
        retry_after_s: int = 5,
    ) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.per_key = per_key if per_key is not None else max(1, math.ceil(queue / 2))
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.running = 0
        self.waiting = 0
        # Each key's waiters, oldest first; the dict's order is the round's order.
        self._waiters: dict[Hashable, deque[asyncio.Future[None]]] = {}

    def _refuse(self, status: int, code: str, message: str, **extra: Any) -> ApiError:
        return ApiError(
            status,
            code,
            message,
            headers={"Retry-After": str(self.retry_after_s)},
            retry_after_s=self.retry_after_s,
            **extra,
        )

    async def acquire(self, key: Hashable, timeout_s: float | None = None) -> None:
        """A slot for `key`, at once or after waiting its turn. Raises ApiError 503
        (queue full, or no slot within `timeout_s`) or 429 (the key's share of the
        queue is taken); a cancelled waiter leaves the queue."""
        if self.running < self.concurrency and not self.waiting:
            self.running += 1
            return
        if self.waiting >= self.queue:
            raise self._refuse(
                503,
                "overloaded",
                f"all {self.concurrency} answer slots are busy and {self.waiting} requests "
                "are waiting; retry shortly",
            )
        mine = self._waiters.get(key)
        if mine is not None and len(mine) >= self.per_key:
            raise self._refuse(
                429,
                "queue_share",
                f"this key already has {len(mine)} requests waiting for an answer slot, its "
                f"share of the {self.queue}-place queue (RAG_API__QUEUE_PER_KEY); wait for "
                "an answer before asking again",
                limit="queue_per_key",
                max=self.per_key,
            )
        wait = self.timeout_s if timeout_s is None else min(timeout_s, self.timeout_s)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(key, deque()).append(future)
        self.waiting += 1
        timer = loop.call_later(wait, self._expire, key, future)
        try:
            await future
        except BaseException as exc:
            if future.done() and not future.cancelled() and future.exception() is None:
                # The slot came as this waiter gave up (client gone): pass it on.
                self.release()
            else:
                self._forget(key, future)
            if isinstance(exc, _Expired):
                raise self._refuse(
                    503,
                    "queue_timeout",
                    f"no answer slot came free within {wait:g} s (RAG_API__QUEUE_TIMEOUT_S); "
                    "the service is busy, retry later",
                ) from None
            raise
        finally:
            timer.cancel()

    def _forget(self, key: Hashable, future: asyncio.Future[None]) -> None:
        mine = self._waiters.get(key)
        if mine is None or future not in mine:
            return
        mine.remove(future)
        self.waiting -= 1
        if not mine:
            del self._waiters[key]

    def _expire(self, key: Hashable, future: asyncio.Future[None]) -> None:
        if not future.done():
            self._forget(key, future)
            future.set_exception(_Expired())

    def release(self) -> None:
        """Give a slot back: to the next key in the round, else to no one."""
        while self._waiters:
            key = next(iter(self._waiters))
            mine = self._waiters.pop(key)
            future = mine.popleft()
            self.waiting -= 1
            if mine:
                self._waiters[key] = mine  # to the back of the round
            if not future.done():
                future.set_result(None)  # the slot passes on: `running` stays
                return
        self.running -= 1


class RateLimiter:
    """Per-key moving-window limit (`limits` notation, e.g. '60/minute').

    In memory, per server process: with N workers a key gets up to N times the
    limit. Put a shared store (Redis) behind `limits` when that matters."""

    def __init__(self, rule: str) -> None:
        try:
            self.item: RateLimitItem = parse(rule)
        except ValueError as exc:
            raise ValueError(
                f"RAG_API__RATE_LIMIT={rule!r} is not a rate such as '60/minute'"
            ) from exc
        self.rule = rule
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: str) -> None:
        if self._limiter.hit(self.item, key):
            return
        reset = self._limiter.get_window_stats(self.item, key).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            "rate_limited",
            f"this key is over its rate limit ({self.rule}); retry in {retry} s",
            headers={"Retry-After": str(retry)},
            retry_after_s=retry,
        )
