"""Parse untrusted files in child processes with a timeout and a memory limit.

pypdf has had infinite loops and memory blow-ups on hostile files, so parsing
never runs in the ingest process itself. pebble's ProcessPool gives what the
standard library's pool does not: a per-task timeout that kills the stuck
worker and replaces it, and a clean error when a worker dies.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from pebble import ProcessExpired, ProcessPool

from ingest.chunking import ChunkConfig, cached_chunker
from ingest.loaders import LoadedDocument, LoaderError, load_bytes
from rag.types import ChunkDraft


@dataclass(frozen=True)
class ParseLimits:
    timeout_s: float
    memory_mb: int
    max_pages: int


@dataclass(frozen=True)
class ParsedFile:
    document: LoadedDocument
    chunks: list[ChunkDraft]


def parse_file(
    data: bytes, name: str, kind: str, max_pages: int, chunk_config: ChunkConfig
) -> ParsedFile:
    """Runs in a worker: parse and chunk one file's bytes."""
    document = load_bytes(data, kind, name, max_pages)
    chunks = cached_chunker(chunk_config).split(document.text, document.pages)
    return ParsedFile(document, chunks)


def _limit_worker(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:  # parsing must not compete with the encoder for the cores' attention
        os.nice(5)
    except OSError:
        pass


class ParserPool:
    """A pool of sandboxed parser processes; use as a context manager."""

    def __init__(self, limits: ParseLimits, workers: int = 1) -> None:
        self.limits = limits
        # spawn, not fork: the parent may hold torch and OpenMP threads.
        self._pool = ProcessPool(
            max_workers=workers,
            initializer=_limit_worker,
            initargs=(limits.memory_mb,),
            context=multiprocessing.get_context("spawn"),
        )

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.stop()
        self._pool.join()

    def submit(
        self, data: bytes, name: str, kind: str, chunk_config: ChunkConfig
    ) -> Future[ParsedFile]:
        # The bytes travel to the worker so that what is parsed is exactly what
        # was hashed, even if the file changes meanwhile.
        return self._pool.schedule(
            parse_file,
            args=(data, name, kind, self.limits.max_pages, chunk_config),
            timeout=self.limits.timeout_s,
        )

    def result(self, future: Future[ParsedFile]) -> ParsedFile:
        """The parsed file, or LoaderError with a reason a person understands."""
        try:
            return future.result()
        except LoaderError:
            raise
        except FutureTimeout as exc:
            raise LoaderError(
                f"parser timed out after {self.limits.timeout_s:g} s"
            ) from exc
        except MemoryError as exc:
            raise LoaderError(
                f"parser ran out of memory (limit {self.limits.memory_mb} MB)"
            ) from exc
        except ProcessExpired as exc:
            raise LoaderError(f"parser crashed (exit code {exc.exitcode})") from exc
        except Exception as exc:
            raise LoaderError(f"parser failed ({type(exc).__name__}: {exc})"[:300]) from exc
