"""Parse untrusted files in child processes with a timeout and a memory limit.

pypdf has had infinite loops and memory blow-ups on hostile files, so parsing
never runs in the ingest process itself. pebble's ProcessPool gives what the
standard library's pool does not: a per-task timeout that kills the stuck
worker and replaces it, and a clean error when a worker dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import resource
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

from ingest.chunking import ChunkConfig, cached_chunker
from ingest.files import FileTooLarge, RefusedFile, open_inside, read_limited
from ingest.loaders import LoadedDocument, LoaderError, load_bytes
from rag.types import ChunkDraft


@dataclass(frozen=True)
class ParseLimits:
    timeout_s: float
    memory_mb: int
    max_pages: int
    max_bytes: int = 0  # 0: no limit (the job checked the size before parsing)


@dataclass(frozen=True)
class ParsedFile:
    document: LoadedDocument
    chunks: list[ChunkDraft]
    sha256: str  # of the bytes actually parsed, in case the file changed meanwhile


def parse_file(
    path: str,
    kind: str,
    max_pages: int,
    chunk_config: ChunkConfig,
    root: str | None = None,
    max_bytes: int = 0,
) -> ParsedFile:
    """Runs in a worker: read, parse and chunk one file. The worker reads the file
    itself, so a huge file exhausts the worker's memory, not the pool's channel.

    With `root`, the file is opened as the job checked it: a regular file inside
    `root`, links followed only inside it (`ingest.files`); with `max_bytes`, at most
    that many bytes are read."""
    try:
        if root is None:
            data = Path(path).read_bytes()
        else:
            with open_inside(Path(path), Path(root)) as fh:
                data = read_limited(fh, max_bytes) if max_bytes else fh.read()
    except FileTooLarge as exc:
        raise LoaderError("over the size limit") from exc
    except RefusedFile as exc:
        raise LoaderError(str(exc)) from exc
    except OSError as exc:
        raise LoaderError(f"cannot read the file ({exc.strerror or exc})") from exc
    document = load_bytes(data, kind, Path(path).name, max_pages)
    chunks = cached_chunker(chunk_config).split(document.text, document.pages)
    return ParsedFile(document, chunks, hashlib.sha256(data).hexdigest())


def count_pdf_pages(path: str) -> int:
    """Runs in a worker: the page count of a PDF, without extracting any text."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise LoaderError("the PDF is encrypted: upload a copy without a password")
        return len(reader.pages)
    except PyPdfError as exc:
        raise LoaderError(f"not a readable PDF ({exc})"[:200]) from exc


@dataclass
class ParseTask:
    args: tuple[str, str, int, ChunkConfig, str | None, int]
    future: Future[ParsedFile]


def _limit_worker(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Parsers log a warning for each broken object they skip, quoting the file: a hostile
    # PDF made pypdf print 33,000 lines to the job's stderr (the server's log, or the
    # admin's terminal). What the admin needs is the failure reason, returned as such.
    logging.disable(logging.ERROR)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    with contextlib.suppress(OSError):  # parsing yields the cores to the encoder
        os.nice(5)


class ParserPool:
    """A pool of sandboxed parser processes; use as a context manager."""

    def __init__(self, limits: ParseLimits, workers: int = 1) -> None:
        self.limits = limits
        self._workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPool:
        # spawn, not fork: the parent may hold torch and OpenMP threads.
        return ProcessPool(
            max_workers=self._workers,
            initializer=_limit_worker,
            initargs=(self.limits.memory_mb,),
            context=multiprocessing.get_context("spawn"),
        )

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.stop()
        self._pool.join()

    def _schedule(
        self, args: tuple[str, str, int, ChunkConfig, str | None, int]
    ) -> Future[ParsedFile]:
        return self._pool.schedule(parse_file, args=args, timeout=self.limits.timeout_s)

    def submit(
        self, path: str, kind: str, chunk_config: ChunkConfig, root: Path | None = None
    ) -> ParseTask:
        """Parse `path` in a worker; with `root`, only as a regular file inside it."""
        args = (
            path,
            kind,
            self.limits.max_pages,
            chunk_config,
            None if root is None else str(root),
            self.limits.max_bytes,
        )
        return ParseTask(args, self._schedule(args))

    def pdf_pages(self, path: str) -> int:
        """A PDF's page count, read in the sandbox (LoaderError if it cannot be)."""
        future = self._pool.schedule(count_pdf_pages, args=(path,), timeout=self.limits.timeout_s)
        try:
            return self._result(future)  # type: ignore[arg-type,return-value]
        except BrokenProcessPool as exc:
            self._pool.stop()
            self._pool = self._new_pool()
            raise LoaderError("parser crashed (worker process died)") from exc

    def result(self, task: ParseTask) -> ParsedFile:
        """The parsed file, or LoaderError with a reason a person understands."""
        try:
            return self._result(task.future)
        except BrokenProcessPool:
            # A worker died outside a task (e.g. out of memory while receiving it)
            # and took the pool down: start a new one and try this file once more,
            # so one hostile file never fails the files queued behind it.
            self._pool.stop()
            self._pool = self._new_pool()
            try:
                return self._result(self._schedule(task.args))
            except BrokenProcessPool as exc:
                self._pool.stop()
                self._pool = self._new_pool()
                raise LoaderError("parser crashed (worker process died)") from exc

    def _result(self, future: Future[ParsedFile]) -> ParsedFile:
        try:
            return future.result()
        except (LoaderError, BrokenProcessPool):
            raise
        except FutureTimeout as exc:
            raise LoaderError(f"parser timed out after {self.limits.timeout_s:g} s") from exc
        except MemoryError as exc:
            raise LoaderError(
                f"parser ran out of memory (limit {self.limits.memory_mb} MB)"
            ) from exc
        except ProcessExpired as exc:
            raise LoaderError(f"parser crashed (exit code {exc.exitcode})") from exc
        except Exception as exc:
            raise LoaderError(f"parser failed ({type(exc).__name__}: {exc})"[:300]) from exc
