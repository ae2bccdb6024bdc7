"""The ingest job: folder -> parsed, chunked, embedded, stored documents.

Files are hashed here, parsed and chunked ahead in sandboxed workers while the
encoder embeds the previous window of chunks, so parsing overlaps with
embedding. Chunks are gathered across files into one encoder call (the encoder
sorts by length, so fewer padding tokens), then each file's document is written
in one transaction. The vector index (FAISS or Qdrant) follows each committed
transaction and is persisted at the end.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ingest.chunking import ChunkConfig, Chunker, tokenizer_file
from ingest.files import FileTooLarge, RefusedFile, hash_limited, open_inside
from ingest.loaders import LoaderError, kind_for
from ingest.sandbox import ParseLimits, ParserPool, ParseTask
from rag.embedding import Embedder, create_embedder, resolve_model_path
from rag.errors import RagError
from rag.settings import Settings
from rag.store import DocumentStore, storage_errors, writer_lock
from rag.types import ChunkDraft, DocumentRecord, NewDocument
from rag.vectors.backend import VectorBackend
from rag.vectors.factory import open_vector_store

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_SOME_FILES_FAILED = 3
SAVE_INDEX_EVERY_S = 120.0
CLI_JOB_KIND = "ingest"  # jobs a run records itself (the API queues its own kind)


class ProgressSink(Protocol):
    def start(self, total_files: int) -> None: ...
    def advance(self, path: str, outcome: str, pages: int = 0, chunks: int = 0) -> None: ...
    def notice(self, message: str) -> None: ...


class _NoProgress:
    def start(self, total_files: int) -> None:
        pass

    def advance(self, path: str, outcome: str, pages: int = 0, chunks: int = 0) -> None:
        pass

    def notice(self, message: str) -> None:
        log.info(message)


@dataclass
class IngestSummary:
    job_id: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    missing: int = 0  # documents whose file is gone, kept because --prune was not given
    # New paths whose content is already stored under another path (a copied or moved
    # corpus): both copies are kept, since each may carry its own access groups.
    duplicates: int = 0
    duplicate_example: tuple[str, str] | None = None
    files: int = 0
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    notices: list[str] = field(default_factory=list)
    # Documents ingested with hidden text (ingest.hidden): (path, flag), one per flag.
    # A warning, not a failure: the document is stored and searchable.
    flagged: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FILES_FAILED if self.failed else EXIT_OK

    def counts(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": len(self.failed),
            "missing": self.missing,
            "duplicates": self.duplicates,
            "files": self.files,
            "pages": self.pages,
            "chunks": self.chunks,
            "flagged": len({p for p, _ in self.flagged}),
        }

    def job_errors(self) -> list[dict[str, str]]:
        """The job's errors: failed files, then warnings for flagged documents."""
        return [{"path": p, "reason": r} for p, r in self.failed] + [
            {"path": p, "reason": f"warning: {f}"} for p, f in self.flagged
        ]

    def to_dict(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            **self.counts(),
            "failures": [{"path": p, "reason": r} for p, r in self.failed],
            "warnings": [{"path": p, "reason": f} for p, f in self.flagged],
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "notices": self.notices,
        }


@dataclass
class _Pending:
    path: str
    sha256: str
    size: int
    groups: tuple[str, ...]
    existing: DocumentRecord | None
    task: ParseTask


@dataclass
class _Ready:
    document: NewDocument
    chunks: list[ChunkDraft]
    existed: bool


def iter_files(root: Path, extensions: list[str]) -> Iterator[Path]:
    """Supported files under `root` (or `root` itself), sorted, hidden ones skipped.

    Links to folders are not walked into; links to files are listed, and the job
    follows them only inside `root` (`ingest.files`)."""
    wanted = {e.lower() for e in extensions}
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in wanted:
                yield Path(dirpath) / name


class IngestService:
    """Runs ingest jobs against one store. The CLI and the API both call this."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        store: DocumentStore | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or create_embedder(settings.embedding)
        with storage_errors(settings.data_dir):  # creating the store writes its schema
            self.store = store or DocumentStore(settings.db_path)
        self.chunk_config = ChunkConfig(
            tokenizer_file=tokenizer_file(resolve_model_path(settings.embedding.model)),
            chunk_tokens=settings.chunking.chunk_tokens,
            overlap_tokens=settings.chunking.overlap_tokens,
        )
        self.fingerprint = f"{self.embedder.fingerprint}||{self.chunk_config.fingerprint()}"
        self._index: VectorBackend | None = None

    # -- the vector index ----------------------------------------------------------------

    def _load_index(self) -> VectorBackend:
        if self._index is None:
            self._index, report = open_vector_store(
                self.settings, self.store, self.embedder.dimension, self.fingerprint
            )
            log.info("vector index %s %s", report.action, report.reason)
        return self._index

    def _save_index(self) -> None:
        if self._index is not None:
            self._index.persist(self.store.generation)

    # -- documents -------------------------------------------------------------------------

    def delete_document(self, document_id: int) -> bool:
        with writer_lock(self.settings.data_dir, timeout_s=30):
            if self.store.get_document(document_id) is None:
                return False
            removed = self.store.delete_document(document_id)
            index = self._load_index()
            index.remove(removed)
            self._save_index()
            return True

    # -- the job ---------------------------------------------------------------------------

    def run(
        self,
        root: Path,
        groups: list[str] | None = None,
        prune: bool = False,
        progress: ProgressSink | None = None,
        job_id: int | None = None,
        lock_timeout_s: float = 0.0,
        only: list[Path] | None = None,
    ) -> IngestSummary:
        """Ingest every supported file under `root`. Raises RagError if the job fails.

        `job_id` names a job already recorded (queued by the API); without it the run
        records its own. `only` ingests just these files under `root` (an upload), and
        then `prune` and the count of missing files do not apply."""
        progress = progress or _NoProgress()
        root = root.expanduser().resolve()
        if not root.exists():
            raise RagError(f"{root} does not exist: give a folder or a file to ingest.")
        if not (root.is_dir() or root.is_file()):
            raise RagError(f"{root} is not a folder or a regular file: nothing to ingest.")
        if only is not None:
            files = [p.resolve() for p in only]
            prune = False
        else:
            files = list(iter_files(root, self.settings.ingest.extensions))
        if not files:
            raise RagError(
                f"No supported files under {root} (looked for "
                f"{', '.join(self.settings.ingest.extensions)})."
            )
        with (
            storage_errors(self.settings.data_dir),
            writer_lock(self.settings.data_dir, timeout_s=lock_timeout_s),
        ):
            return self._run_locked(root, files, groups, prune, progress, job_id, only is None)

    def _run_locked(
        self,
        root: Path,
        files: list[Path],
        groups: list[str] | None,
        prune: bool,
        progress: ProgressSink,
        job_id: int | None = None,
        whole_folder: bool = True,
    ) -> IngestSummary:
        started = time.perf_counter()
        summary = IngestSummary(files=len(files))
        # The writer lock is ours, so a command-line job still `running` is one whose
        # process died (the API's own jobs are resumed by its runner: api/jobs.py).
        if dead := self.store.jobs.interrupt_running(CLI_JOB_KIND):
            log.warning("%d earlier ingest job(s) had died mid-run: marked interrupted", dead)
        summary.job_id = job_id or self.store.jobs.create(
            CLI_JOB_KIND, {"root": str(root), "groups": groups, "prune": prune}
        )
        previous = self.store.get_meta("fingerprint")
        if previous and previous != self.fingerprint and self.store.count_documents():
            stale = len(self.store.stale_documents(self.fingerprint))
            summary.notices.append(
                f"Embedding or chunking settings changed (was {previous}, now "
                f"{self.fingerprint}): re-embedding {stale} documents."
            )
            progress.notice(summary.notices[-1])
        self._index = None
        index = self._load_index()
        progress.start(len(files))
        status = "failed"
        try:
            seen = _FileLoop(self, root, groups, summary, progress, index).run(files)
            self._reembed_stale(seen, summary, progress, index)
            if prune:
                self._prune(root, seen, summary, index)
            elif whole_folder:
                summary.missing = sum(
                    1 for d in self.store.list_documents(_prefix(root)) if d.path not in seen
                )
            if summary.duplicate_example:
                new, old = summary.duplicate_example
                summary.notices.append(
                    f"{summary.duplicates} new files have the same content as documents "
                    f"already stored under other paths (e.g. {new} = {old}); both copies are "
                    "searchable. If the folder moved, delete the old copies (`rag documents "
                    "delete`) or ingest into a fresh RAG_DATA_DIR."
                )
                progress.notice(summary.notices[-1])
            if not self.store.stale_documents(self.fingerprint):
                self.store.set_meta("fingerprint", self.fingerprint)
            status = "partial" if summary.failed else "succeeded"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            try:
                self._save_index()
            except BaseException:
                status = "failed"
                raise
            finally:  # the job is recorded as ended even when the index cannot be saved
                summary.seconds = time.perf_counter() - started
                self.store.jobs.finish(
                    summary.job_id,
                    status,
                    summary.counts(),
                    summary.job_errors(),
                )
        return summary

    def _write_window(
        self,
        window: list[_Ready],
        summary: IngestSummary,
        progress: ProgressSink,
        index: VectorBackend,
    ) -> None:
        texts = [c.text for r in window for c in r.chunks]
        t0 = time.perf_counter()
        vectors = self.embedder.embed_documents(texts)
        summary.embed_seconds += time.perf_counter() - t0
        removed: list[int] = []
        added_ids: list[int] = []
        with self.store.transaction():
            offset = 0
            for ready in window:
                n = len(ready.chunks)
                _, gone, new = self.store.put_document(
                    ready.document, ready.chunks, vectors[offset : offset + n]
                )
                offset += n
                removed.extend(gone)
                added_ids.extend(new)
        # The transaction committed: now the in-memory index follows it.
        index.remove(removed)
        index.upsert(np.asarray(added_ids, dtype=np.int64), vectors)
        for ready in window:
            if ready.existed:
                summary.updated += 1
            else:
                summary.added += 1
            summary.pages += len(ready.document.pages)
            summary.chunks += len(ready.chunks)
            progress.advance(
                ready.document.path,
                "updated" if ready.existed else "added",
                len(ready.document.pages),
                len(ready.chunks),
            )

    def _reembed_stale(
        self,
        seen: set[str],
        summary: IngestSummary,
        progress: ProgressSink,
        index: VectorBackend,
    ) -> None:
        """Re-chunk and re-embed, from their stored text, documents made with other
        settings whose files were not part of this run."""
        stale = [d for d in self.store.stale_documents(self.fingerprint) if d.path not in seen]
        if not stale:
            return
        chunker = Chunker(self.chunk_config)
        for doc in stale:
            text = self.store.document_text(doc.id) or ""
            pages = tuple(self.store.page_map(doc.id))
            chunks = chunker.split(text, pages)
            new_doc = NewDocument(
                path=doc.path,
                sha256=doc.sha256,
                title=doc.title,
                mime=doc.mime,
                groups=doc.groups,
                text=text,
                pages=pages,
                size_bytes=doc.size_bytes,
                fingerprint=self.fingerprint,
                flags=doc.flags,
            )
            self._write_window([_Ready(new_doc, chunks, existed=True)], summary, progress, index)

    def _prune(
        self, root: Path, seen: set[str], summary: IngestSummary, index: VectorBackend
    ) -> None:
        for doc in self.store.list_documents(_prefix(root)):
            if doc.path not in seen:
                index.remove(self.store.delete_document(doc.id))
                summary.removed += 1


class _FileLoop:
    """One job's pass over its files, in order. Each file is read and hashed here; an
    unchanged one is settled at once, any other goes to the sandboxed parsers. Parsed
    files gather in a window of chunks, and a full window is embedded and written.

    Parsing runs up to `lookahead` files ahead of the window, so memory stays bounded by
    one window whatever the corpus size."""

    def __init__(
        self,
        service: IngestService,
        root: Path,
        groups: list[str] | None,
        summary: IngestSummary,
        progress: ProgressSink,
        index: VectorBackend,
    ) -> None:
        self.service = service
        self.root = root  # resolved: no file outside it is read
        self.store = service.store
        self.config = service.settings.ingest
        self.summary = summary
        self.progress = progress
        self.index = index
        # The groups asked for, or None to keep each document's own.
        self.groups: tuple[str, ...] | None = tuple(sorted(set(groups))) if groups else None
        self.max_bytes = int(self.config.max_file_mb * 1024 * 1024)
        self.workers = self.config.parse_workers or (os.cpu_count() or 1)
        self.lookahead = 2 * self.workers + 2
        # Paths met in this run, whatever their outcome: the rest of the job (stale
        # documents, --prune, the count of missing files) goes by them.
        self.seen: set[str] = set()
        self.pending: deque[_Pending] = deque()  # submitted to the parsers, in file order
        self.window: list[_Ready] = []  # parsed, waiting to be embedded and written
        self.window_chunks: int = 0  # chunks in the window
        self.last_save: float = time.monotonic()  # the loop's start, then its last index save
        self.pool = ParserPool(
            ParseLimits(
                self.config.parse_timeout_s,
                self.config.parse_memory_mb,
                self.config.max_pages,
                self.max_bytes,
            ),
            self.workers,
        )

    def run(self, files: list[Path]) -> set[str]:
        """Ingest `files`; returns the paths seen."""
        with self.pool:
            for file in files:
                self.ingest_file(file)
            self.finish()
        return self.seen

    # -- one file --------------------------------------------------------------------------

    def ingest_file(self, file: Path) -> None:
        path = str(file)
        self.seen.add(path)
        existing = self.store.get_document_by_path(path)
        read = self.read(file, path)
        if read is None:
            return
        size, sha = read
        if existing is None:
            self.note_copy(path, sha)
        if (
            existing is not None
            and existing.sha256 == sha
            and existing.fingerprint == self.service.fingerprint
        ):
            self.keep_unchanged(existing, path)
            return
        self.submit_parse(file, path, sha, size, existing)
        while len(self.pending) > self.lookahead:
            self.collect_parsed(self.pending.popleft())

    def read(self, file: Path, path: str) -> tuple[int, str] | None:
        """The file's size and SHA-256, or None once it has failed (too big, unreadable,
        a link out of the root, not a regular file: `ingest.files`)."""
        try:
            with open_inside(file, self.root) as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > self.max_bytes:
                    raise FileTooLarge(size)
                return hash_limited(fh, self.max_bytes)
        except FileTooLarge as exc:
            seen = f"{exc.size / 1024 / 1024:.1f} MB" if exc.size is not None else "more was read"
            self.fail(path, None, f"over the {self.config.max_file_mb:g} MB limit ({seen})")
        except RefusedFile as exc:
            self.fail(path, None, str(exc))
        except OSError as exc:
            self.fail(path, None, f"cannot read the file ({exc.strerror or exc})")
        return None

    def note_copy(self, path: str, sha: str) -> None:
        """A new path whose content is already stored under another one is counted,
        for the job's notice; it is ingested all the same."""
        if copy := self.store.find_copy(sha, path):
            self.summary.duplicates += 1
            self.summary.duplicate_example = self.summary.duplicate_example or (path, copy.path)

    def keep_unchanged(self, existing: DocumentRecord, path: str) -> None:
        """Same content, same settings: nothing to embed, only the groups may change."""
        if self.groups is not None and self.groups != existing.groups:
            # Index payload first: if SQLite's write then fails, the next
            # run still sees the change to make (SQLite decides access).
            self.index.set_document_groups(existing.id, self.groups)
            self.store.set_groups(existing.id, self.groups)
            self.summary.updated += 1
            self.progress.advance(path, "updated")
        else:
            self.summary.unchanged += 1
            self.progress.advance(path, "unchanged")
        self.store.clear_failure(path)

    def submit_parse(
        self, file: Path, path: str, sha: str, size: int, existing: DocumentRecord | None
    ) -> None:
        kind = kind_for(file) or "text"
        groups = self.groups or (existing.groups if existing else tuple(self.config.default_groups))
        task = self.pool.submit(path, kind, self.service.chunk_config, self.root)
        self.pending.append(_Pending(path, sha, size, groups, existing, task))

    def collect_parsed(self, item: _Pending) -> None:
        """Wait for one file's parse and add its document to the window (or fail it)."""
        try:
            parsed = self.pool.result(item.task)
        except LoaderError as exc:
            self.fail(item.path, item.sha256, str(exc))
            return
        if parsed.sha256 != item.sha256:
            # What is stored must be what was checked and hashed here.
            self.fail(item.path, item.sha256, "the file changed while it was ingested: run again")
            return
        if not parsed.chunks:
            self.fail(item.path, item.sha256, "no text to index after chunking")
            return
        doc = parsed.document
        document = NewDocument(
            path=item.path,
            sha256=parsed.sha256,
            title=doc.title,
            mime=doc.mime,
            groups=item.groups,
            text=doc.text,
            pages=doc.pages,
            size_bytes=item.size,
            fingerprint=self.service.fingerprint,
            flags=doc.flags,
        )
        for flag in doc.flags:
            # Hidden text is indexed all the same (docs/ingest.md, "Hidden text").
            # The log names the kind only: the flag quotes the document, which the
            # log's readers may not be entitled to see.
            log.warning("%s: %s (see `rag documents show`)", item.path, flag.split(":")[0])
            self.summary.flagged.append((item.path, flag))
        self.window.append(_Ready(document, parsed.chunks, existed=item.existing is not None))
        self.window_chunks += len(parsed.chunks)
        if self.window_chunks >= self.config.embed_window:
            self.write_window()

    def fail(self, path: str, sha: str | None, reason: str) -> None:
        self.summary.failed.append((path, reason))
        self.store.record_failure(path, sha, reason)
        self.progress.advance(path, "failed")

    # -- the window ------------------------------------------------------------------------

    def write_window(self) -> None:
        """Embed and store the window's documents, and save the index now and then.

        A window is parsed with every core, then encoded with every core. Overlapping
        the two was measured slower on 2 cores: the parser preempts one of the
        encoder's OpenMP threads and the whole team waits (bench/ingest_throughput.py)."""
        if self.window:
            self.service._write_window(self.window, self.summary, self.progress, self.index)
            self.window.clear()
            self.window_chunks = 0
        if time.monotonic() - self.last_save > SAVE_INDEX_EVERY_S:
            self.service._save_index()
            self.last_save = time.monotonic()

    def finish(self) -> None:
        """Collect every parse still pending, then write the last window."""
        while self.pending:
            self.collect_parsed(self.pending.popleft())
        self.write_window()


def _prefix(root: Path) -> str:
    return str(root) if root.is_file() else str(root).rstrip(os.sep) + os.sep
