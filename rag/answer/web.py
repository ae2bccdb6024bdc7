"""Web results from a SearXNG server: an extra source, cited `[W1]`, `[W2]`... apart
from the internal documents, never stored and never mixed into access-controlled
results. A SearXNG that is down, misconfigured or slow costs at most its timeout:
the answer then uses the internal documents only, with a notice.

A thin adapter over httpx (already a dependency) for SearXNG's JSON API
(`GET /search?q=...&format=json`), because no client on PyPI fits (checked
2026): LangChain's `SearxSearchWrapper` calls `requests.get` with no timeout at all
and brings langchain-community; `searxng-search` 0.1.2 retries three times with
sleeps (a 3 s budget becomes 10 s and more), turns every failure into one
`ParsingException` (a 403 "json format disabled" cannot be told from a timeout) and
builds its own httpx client (no transport for tests); `pyserxng` 0.1.0 fetches the
list of public instances from searx.space when constructed (requests, bs4,
tenacity); `engines4ai` and the MCP servers are wrappers for agents. httpx gives a
timeout per request and `MockTransport` for the tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from rag.logs import loggable_url
from rag.settings import WebSettings

log = logging.getLogger(__name__)

SNIPPET_CHARS = 500  # a search engine's snippet is two or three sentences
# What a user is told when SearXNG fails (WebSearchUnavailable.public).
REFUSED = "the web search service refused the request"
UNUSABLE = "the web search service gave an answer that could not be read"


@dataclass(frozen=True)
class WebResult:
    title: str
    url: str
    snippet: str
    engine: str | None = None

    def to_dict(self, n: int) -> dict[str, Any]:
        return {
            "n": f"W{n}",
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            "engine": self.engine,
        }


class WebSearchUnavailable(Exception):
    """SearXNG gave no usable answer. The message says why and what to change, for the
    server log: it names SearXNG's address. `public` says what happened in words fit
    for any user (answer notices), with no address, setting or engine in it."""

    def __init__(self, message: str, public: str = "the web search failed") -> None:
        super().__init__(message)
        self.public = public


def _clean(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _cut(text: str, limit: int = SNIPPET_CHARS) -> str:
    if len(text) <= limit:
        return text
    head = text[:limit]
    return (head.rsplit(" ", 1)[0] if " " in head else head) + "…"


def parse_results(data: Any, limit: int) -> list[WebResult]:
    """The first `limit` usable results of a SearXNG JSON answer, in its order (by
    score). Results without an http(s) URL or without any text are skipped, and a
    URL given by several engines is kept once."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise WebSearchUnavailable(
            "the answer has no `results` list: is RAG_WEB__SEARXNG_URL a SearXNG server?",
            UNUSABLE,
        )
    results: list[WebResult] = []
    seen: set[str] = set()
    for item in data["results"]:
        if not isinstance(item, dict):
            continue
        url = item.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            continue
        title, snippet = _clean(item.get("title")), _cut(_clean(item.get("content")))
        if url in seen or not (title or snippet):
            continue
        seen.add(url)
        engine = item.get("engine")
        results.append(
            WebResult(title or url, url, snippet, engine if isinstance(engine, str) else None)
        )
        if len(results) >= limit:
            break
    if not results:
        # Every engine failing gives an empty list, not an error: say which failed.
        failed = [
            f"{e[0]} ({e[1]})"
            for e in data.get("unresponsive_engines") or []
            if isinstance(e, list | tuple) and len(e) == 2
        ]
        if failed:
            raise WebSearchUnavailable(
                "SearXNG's engines did not answer: " + ", ".join(failed),
                "the search engines did not answer",
            )
    return results


class PendingWebSearch:
    """A search running in the background while the documents are searched."""

    def __init__(self, future: Future[list[WebResult]], client: SearxngClient) -> None:
        self._future = future
        self._client = client
        self.started = time.perf_counter()

    def results(self) -> list[WebResult]:
        """The results, waiting at most until the timeout counted from the start:
        httpx's timeout applies to each read, so a server that trickles bytes could
        otherwise hold the answer much longer."""
        remaining = max(0.0, self.started + self._client.timeout_s - time.perf_counter())
        try:
            return self._future.result(timeout=remaining)
        except FutureTimeout:
            self._future.cancel()
            raise self._client.too_slow() from None
        except WebSearchUnavailable:
            raise
        except Exception as exc:  # a web result is an extra: never fail the answer for it
            log.exception("web search failed")
            raise WebSearchUnavailable(f"{type(exc).__name__}: {exc}") from exc


class SearxngClient:
    def __init__(
        self,
        url: str,
        timeout_s: float = 3.0,
        max_results: int = 3,
        language: str = "auto",
        categories: Sequence[str] = ("general",),
        safesearch: int = 1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._shown = loggable_url(self.url)  # in messages (for the log): no password
        self.timeout_s = timeout_s
        self.max_results = max_results
        self.language = language
        self.categories = tuple(categories)
        self.safesearch = safesearch
        # Redirects are not followed: a SearXNG answering 3xx to /search is behind a
        # login or misconfigured, and following would only hide that.
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, web: WebSettings, **kwargs: Any) -> SearxngClient:
        return cls(
            web.searxng_url,
            web.timeout_s,
            web.max_results,
            web.language,
            web.categories,
            web.safesearch,
            **kwargs,
        )

    def params(self, query: str, lang: str | None = None) -> dict[str, str]:
        language = self.language
        if language == "auto" and lang:
            language = lang
        return {
            "q": query,
            "format": "json",
            "language": language,
            "categories": ",".join(self.categories),
            "safesearch": str(self.safesearch),
            "pageno": "1",
        }

    def too_slow(self) -> WebSearchUnavailable:
        return WebSearchUnavailable(
            f"SearXNG at {self._shown} did not answer within {self.timeout_s:g} s "
            "(RAG_WEB__TIMEOUT_S)",
            "the web search service did not answer in time",
        )

    def search(self, query: str, lang: str | None = None) -> list[WebResult]:
        """Blocking search; raises WebSearchUnavailable with the reason."""
        try:
            response = self._http.get("/search", params=self.params(query, lang))
        except httpx.TimeoutException as exc:
            raise self.too_slow() from exc
        except httpx.HTTPError as exc:
            raise WebSearchUnavailable(
                f"SearXNG is unreachable at {self._shown} ({type(exc).__name__}): start it, "
                "or fix RAG_WEB__SEARXNG_URL",
                "the web search service is unreachable",
            ) from exc
        status = response.status_code
        if status == 403:
            raise WebSearchUnavailable(
                f"SearXNG at {self._shown} refused the JSON format (403): add `json` to "
                "`search.formats` in its settings.yml",
                REFUSED,
            )
        if status == 429:
            raise WebSearchUnavailable(
                f"SearXNG at {self._shown} rate-limited this service (429): turn off "
                "`server.limiter` in its settings.yml or allow this service's address",
                REFUSED,
            )
        if status != 200:
            raise WebSearchUnavailable(
                f"SearXNG at {self._shown} answered HTTP {status}",
                "the web search service answered with an error",
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise WebSearchUnavailable(
                f"SearXNG at {self._shown} did not answer JSON: is RAG_WEB__SEARXNG_URL a "
                "SearXNG server?",
                UNUSABLE,
            ) from exc
        return parse_results(data, self.max_results)

    def submit(self, query: str, lang: str | None = None) -> PendingWebSearch:
        """Start a search on a background thread, so it runs alongside retrieval."""
        if self._pool is None:
            # A few threads: a SearXNG that hangs holds one per answer until its timeout.
            self._pool = ThreadPoolExecutor(4, thread_name_prefix="web-search")
        return PendingWebSearch(self._pool.submit(self.search, query, lang), self)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._http.close()
