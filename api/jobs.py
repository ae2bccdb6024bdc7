"""Ingest jobs submitted through the API: queued in the store, run one at a time in
a background thread, and never forgotten across restarts.

A job is a row in the store's `jobs` table before anything runs. Uploaded files
wait in `uploads/.incoming/<job>/` until the job moves them into
`uploads/<groups folder>/` (`upload_folder`): one folder per set of access groups,
so a file uploaded for `hr` never replaces, nor lends its groups to, a file of the
same name uploaded for `public`, while a new version uploaded to the same groups
replaces the old one. When the service starts, jobs left `running` by a stopped
process are queued again: ingest is idempotent (files are keyed by path and hash),
so running a job again resumes it, skipping what was already stored. A job is
started at most MAX_ATTEMPTS times: one that was running each time the server
stopped may be what stops it (a file that crashes the process), and is failed
rather than retried on every restart forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ingest.pipeline import IngestService, IngestSummary
from rag.errors import RagError, StoreLockedError
from rag.settings import Settings
from rag.store import DocumentStore
from rag.store.jobs import Job

log = logging.getLogger(__name__)

KIND = "api-ingest"
FINISHED = ("succeeded", "partial", "failed")
PROGRESS_EVERY_S = 0.5
# Starts of one job, counting those the server did not survive: after this many
# interrupted runs, the next start marks it failed instead of running it again.
MAX_ATTEMPTS = 3


def safe_name(name: str) -> str:
    """A client's file name reduced to a plain name (no folders, no dot-files)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .")
    return base[:200] or "upload"


def upload_folder(groups: list[str]) -> str:
    """The folder under `uploads/` of files uploaded for these access groups: the same
    set of groups (in any order) is the same folder, other groups another one. Readable
    (`groups-hr+public`) when the names allow it, else with a hash of the exact names,
    so two sets of groups never share a folder."""
    names = sorted(set(groups))
    parts = [re.sub(r"[^\w.\-]", "_", g) for g in names]
    slug = "+".join(parts)
    if parts != names or len(slug) > 100:
        digest = hashlib.sha256(json.dumps(names).encode()).hexdigest()[:16]
        slug = f"{slug[:80]}~{digest}"
    return f"groups-{slug}"


class JobProgress:
    """Writes a running job's progress to its row, at most twice a second."""

    def __init__(self, store: DocumentStore, job_id: int, on_file: Callable[[str], None]):
        self.store, self.job_id, self.on_file = store, job_id, on_file
        self.total = self.done = self.pages = self.chunks = 0
        self.errors: list[dict[str, str]] = []
        self.started = time.monotonic()
        self._last = 0.0

    def counts(self) -> dict[str, object]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            "files_total": self.total,
            "files_done": self.done,
            "pages": self.pages,
            "chunks": self.chunks,
            "chunks_per_s": round(self.chunks / elapsed, 2),
            "elapsed_s": round(elapsed, 1),
        }

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            self.store.jobs.update(self.job_id, counts=self.counts(), errors=self.errors)

    def start(self, total_files: int) -> None:
        self.total = total_files
        self._flush(force=True)

    def advance(self, path: str, outcome: str, pages: int = 0, chunks: int = 0) -> None:
        self.done += 1
        self.pages += pages
        self.chunks += chunks
        self.on_file(outcome)
        self._flush()

    def notice(self, message: str) -> None:
        log.info("job %s: %s", self.job_id, message)


class JobRunner:
    """Runs queued API ingest jobs, oldest first. With several server processes only
    the one holding `jobs.lock` runs jobs; the others stand by to take over."""

    def __init__(
        self,
        settings: Settings,
        store: DocumentStore,
        ingest_factory: Callable[[], IngestService],
        on_file: Callable[[str], None] = lambda outcome: None,
        on_finished: Callable[[str, IngestSummary | None], None] = lambda s, summary: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._ingest_factory = ingest_factory
        self._ingest: IngestService | None = None
        self._on_file = on_file
        self._on_finished = on_finished
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = FileLock(str(settings.data_dir / "jobs.lock"))
        self.incoming = settings.uploads_dir / ".incoming"

    # -- submitting ------------------------------------------------------------------------

    def submit_path(self, root: Path, groups: list[str] | None, prune: bool) -> int:
        params = {"source": "path", "root": str(root), "groups": groups, "prune": prune}
        return self._queue(params)

    def new_upload(self) -> tuple[int, Path]:
        """A job id and its folder for incoming files; call `submit_upload` once written."""
        job_id = self.store.jobs.create(KIND, {"source": "upload"}, status="receiving")
        folder = self.incoming / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        return job_id, folder

    def submit_upload(self, job_id: int, names: list[str], groups: list[str]) -> None:
        self.store.jobs.set_params(job_id, {"source": "upload", "files": names, "groups": groups})
        self.store.jobs.update(job_id, status="queued")
        self._wake.set()

    def abandon_upload(self, job_id: int, reason: str) -> None:
        shutil.rmtree(self.incoming / str(job_id), ignore_errors=True)
        self.store.jobs.finish(job_id, "failed", {}, [{"path": "", "reason": reason}])

    def _queue(self, params: dict[str, Any]) -> int:
        job_id = self.store.jobs.create(KIND, params, status="queued")
        self._wake.set()
        return job_id

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ingest-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        with contextlib.suppress(Exception):
            self._lock.release(force=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._lock.acquire(timeout=0)
            except Timeout:
                self._stop.wait(5.0)  # another server process runs the jobs
                continue
            self._recover()
            break
        while not self._stop.is_set():
            ran = False
            for job in self.store.jobs.list(["queued"]):
                if job.kind == KIND and self.store.jobs.claim(job.id):
                    self.run_job(job)
                    ran = True
                if self._stop.is_set():
                    return
            if not ran:
                self._wake.wait(1.0)
                self._wake.clear()

    def _recover(self) -> None:
        """Jobs a stopped process left behind: running ones are queued again (their
        `interrupted` count, kept in their params, goes up; at MAX_ATTEMPTS they are
        failed instead), uploads that never finished arriving are marked failed."""
        for job in self.store.jobs.list(["running", "receiving"]):
            if job.kind != KIND:
                continue
            job_id = job.id
            if job.status == "receiving":
                self.abandon_upload(job_id, "the upload was interrupted; send the files again")
                continue
            interrupted = int(job.params.get("interrupted", 0)) + 1
            if interrupted >= MAX_ATTEMPTS:
                log.error(
                    "job %s was running the %d times the server stopped during it; not "
                    "resuming it (it may be what stops the server)",
                    job_id,
                    interrupted,
                )
                shutil.rmtree(self.incoming / str(job_id), ignore_errors=True)
                reason = (
                    f"the server stopped while this job ran, {interrupted} times: it may be "
                    "what stops the server (a file that crashes it), so it is not retried. "
                    "Look in the server log for what stopped it (files_done says how far "
                    "the job got), remove or fix the file at fault, then submit the job again"
                )
                errors = [*job.errors, {"path": "", "reason": reason}]
                self.store.jobs.finish(job_id, "failed", job.counts, errors)
                continue
            log.warning(
                "job %s was interrupted by a restart; resuming it (start %d of at most %d)",
                job_id,
                interrupted + 1,
                MAX_ATTEMPTS,
            )
            self.store.jobs.set_params(job_id, {**job.params, "interrupted": interrupted})
            self.store.jobs.update(job_id, status="queued")

    def run_job(self, job: Job) -> None:
        job_id = job.id
        params = job.params
        progress = JobProgress(self.store, job_id, self._on_file)
        summary: IngestSummary | None = None
        try:
            if self._ingest is None:
                self._ingest = self._ingest_factory()
            root, only, groups = self._inputs(job_id, params)
            while True:
                try:
                    summary = self._ingest.run(
                        root,
                        groups,
                        bool(params.get("prune")),
                        progress,
                        job_id=job_id,
                        lock_timeout_s=30,
                        only=only,
                    )
                    break
                except StoreLockedError:
                    if self._stop.wait(5.0):  # a command-line ingest holds the store
                        self.store.jobs.update(job_id, status="queued")
                        return
            status = "partial" if summary.failed else "succeeded"
            self.store.jobs.update(job_id, counts={**summary.counts(), **progress.counts()})
        except RagError as exc:
            status = "failed"
            self.store.jobs.finish(job_id, status, progress.counts(), [*progress.errors,
                                  {"path": "", "reason": str(exc)}])  # fmt: skip
        except Exception as exc:  # a job must end recorded, whatever happened
            status = "failed"
            log.exception("ingest job %s failed", job_id)
            self.store.jobs.finish(
                job_id,
                status,
                progress.counts(),
                [{"path": "", "reason": f"internal error ({type(exc).__name__})"}],
            )
        self._on_finished(status, summary)

    def _inputs(
        self, job_id: int, params: dict[str, Any]
    ) -> tuple[Path, list[Path] | None, list[str] | None]:
        """The job's root, its files when it is an upload, and the groups to give them."""
        if params.get("source") == "path":
            return Path(params["root"]), None, params.get("groups")
        uploads = self.settings.uploads_dir
        staged = self.incoming / str(job_id)
        groups = params.get("groups") or self.settings.api.upload_default_groups
        if not groups:  # a job queued by an older version, without groups: fail closed
            shutil.rmtree(staged, ignore_errors=True)
            raise RagError("the upload names no access groups; send it again with `groups`")
        folder = uploads / upload_folder(groups)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for name in params.get("files", []):
            final = folder / name
            if (staged / name).exists():
                os.replace(staged / name, final)
            if final.exists():
                files.append(final)
        shutil.rmtree(staged, ignore_errors=True)
        if not files:
            raise RagError("the uploaded files are gone; send them again")
        return uploads, files, groups
