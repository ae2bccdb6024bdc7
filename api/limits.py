"""Limits that protect the service: body size, generation slots, per-key rate."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
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


class GenerationGate:
    """At most `concurrency` generations at once and `queue` waiting; past that the
    caller is refused at once (503 + Retry-After) instead of piling up."""

    def __init__(self, concurrency: int, queue: int, retry_after_s: int = 5) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.retry_after_s = retry_after_s
        self._semaphore = asyncio.Semaphore(concurrency)
        self.waiting = 0
        self.running = 0

    async def acquire(self) -> None:
        if self._semaphore.locked() and self.waiting >= self.queue:
            raise ApiError(
                503,
                "overloaded",
                f"all {self.concurrency} answer slots are busy and {self.waiting} requests "
                "are waiting; retry shortly",
                headers={"Retry-After": str(self.retry_after_s)},
                retry_after_s=self.retry_after_s,
            )
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        self._semaphore.release()


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
