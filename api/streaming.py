"""Drive the answer service's blocking event generator from async routes.

A producer thread iterates the generator and hands events to the event loop. The
route can stop waiting at a deadline or when the client goes away; it then asks
the producer to stop, and the producer closes the generator after the event in
hand, which stops the LLM (closing a generator from another thread while it runs
is not allowed, hence the flag).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any

Event = dict[str, Any]
_END = object()


class EventStream:
    def __init__(self, make_events: Callable[[], Iterator[Event]]) -> None:
        self._make_events = make_events
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._stop = threading.Event()
        self.finished = threading.Event()
        # The producer runs in the request's context, so its log lines and spans
        # carry the request id (threads do not inherit context variables).
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._produce,), name="answer", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _produce(self) -> None:
        events: Iterator[Event] | None = None
        try:
            events = self._make_events()
            for event in events:
                if self._stop.is_set():
                    break
                self._put(event)
        except BaseException as exc:
            self._put(exc)
        finally:
            if events is not None and hasattr(events, "close"):
                with contextlib.suppress(Exception):
                    events.close()
            self.finished.set()
            self._put(_END)

    async def next(self, timeout_s: float | None = None) -> Event | None:
        """The next event; None at the end. Raises the producer's exception, or
        TimeoutError when nothing came in time."""
        item = await asyncio.wait_for(self._queue.get(), timeout_s)
        if item is _END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def cancel(self) -> None:
        self._stop.set()
