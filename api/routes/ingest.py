"""Admins' ingest jobs: upload files (multipart) or name a folder under an allowed
root; the job id comes back at once and the job runs in the background."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.deps import admin, services_of
from api.errors import ApiError
from api.jobs import KIND, safe_name
from api.keys import Principal
from api.schemas import ERROR_RESPONSES, IngestPathRequest, Job, JobList, PathId
from api.services import Services
from ingest.loaders import LoaderError, kind_for
from rag.store.jobs import Job as StoredJob

router = APIRouter(prefix="/v1/ingest", tags=["ingest"], responses=ERROR_RESPONSES)
JOBS_PATH = "/v1/ingest/jobs"

_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        },
                        "groups": {
                            "type": "string",
                            "description": "comma-separated access groups of the "
                            "documents; required unless RAG_API__UPLOAD_DEFAULT_GROUPS is set",
                        },
                    },
                }
            },
            "application/json": {"schema": IngestPathRequest.model_json_schema()},
        },
    }
}


def job_view(job: StoredJob) -> dict[str, Any]:
    params = dict(job.params)
    if "root" in params:
        params["root"] = Path(params["root"]).name  # no server paths in answers
    counts = job.counts
    return {
        "id": job.id,
        "status": job.status,
        "source": params.get("source"),
        "files": params.get("files"),
        "groups": params.get("groups"),
        "files_total": counts.get("files_total", counts.get("files", 0)),
        "files_done": counts.get("files_done", 0),
        "chunks": counts.get("chunks", 0),
        "chunks_per_s": counts.get("chunks_per_s", 0.0),
        "counts": counts,
        "errors": [
            {"file": Path(e.get("path") or "").name, "reason": e.get("reason", "")}
            for e in job.errors
        ],
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def _groups(value: Any) -> list[str] | None:
    if value is None:
        return None
    groups = sorted({g.strip() for g in str(value).split(",") if g.strip()})
    return groups or None


def _allowed_path(services: Services, raw: str) -> Path:
    roots = [r.expanduser().resolve() for r in services.settings.api.ingest_roots]
    if not roots:
        raise ApiError(
            403,
            "forbidden",
            "ingest by server path is off; upload the files, or have the operator set "
            "RAG_API__INGEST_ROOTS",
        )
    candidate = Path(raw).expanduser()
    for root in roots:
        path = (candidate if candidate.is_absolute() else root / candidate).resolve()
        if path.is_relative_to(root):
            if not path.exists():
                raise ApiError(422, "invalid_request", "that path does not exist under the root")
            if not (path.is_dir() or path.is_file()):  # a FIFO, a device, a socket
                raise ApiError(
                    422, "invalid_request", "that path is not a folder or a regular file"
                )
            return path
    raise ApiError(403, "forbidden", "that path is outside the allowed ingest roots")


async def _upload(request: Request, services: Services) -> int:
    settings = services.settings
    limits = settings.ingest
    try:
        form = await request.form(
            max_files=settings.api.max_upload_files, max_fields=10, max_part_size=64 * 1024
        )
    except Exception as exc:  # the multipart parser's errors name the limit hit
        raise ApiError(
            413 if "Too many" in str(exc) else 400,
            "invalid_upload",
            f"cannot read the upload: {exc}",
            limit="max_upload_files",
        ) from None
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not files:
        raise ApiError(422, "invalid_request", "send one or more files in the `files` field")
    names = [safe_name(f.filename or "") for f in files]
    for name in names:
        if kind_for(Path(name)) is None or Path(name).suffix.lower() not in limits.extensions:
            raise ApiError(
                422,
                "unsupported_file",
                f"{name}: not a supported type ({', '.join(limits.extensions)})",
            )
    if len(set(names)) != len(names):
        raise ApiError(422, "invalid_request", "two files have the same name")
    # Who may read these documents is the uploader's decision, never a default that
    # makes them public: without `groups`, only a default the operator set on purpose.
    sent = form.get("groups")
    if sent is not None and not isinstance(sent, str):
        raise ApiError(422, "invalid_request", "`groups` is text (comma-separated), not a file")
    groups = _groups(sent) or _groups(",".join(settings.api.upload_default_groups))
    if not groups:
        raise ApiError(
            422,
            "groups_required",
            "say who may read these documents: send `groups`, the comma-separated access "
            "groups (e.g. hr,finance; `public` for every employee). The operator may set "
            "a default for uploads with RAG_API__UPLOAD_DEFAULT_GROUPS.",
        )
    max_bytes = int(limits.max_file_mb * 1024 * 1024)
    job_id, folder = services.jobs.new_upload()
    try:
        for upload, name in zip(files, names, strict=True):
            target = folder / name
            await run_in_threadpool(_save, upload, target)
            size = target.stat().st_size
            if size > max_bytes:
                raise ApiError(
                    413,
                    "file_too_large",
                    f"{name} is {size / 1e6:.1f} MB; the limit is {limits.max_file_mb:g} MB "
                    "(RAG_INGEST__MAX_FILE_MB)",
                    limit="max_file_mb",
                )
            if target.suffix.lower() == ".pdf":
                await run_in_threadpool(_check_pages, services, target, name)
    except BaseException as exc:
        reason = exc.message if isinstance(exc, ApiError) else "the upload failed"
        services.jobs.abandon_upload(job_id, reason)
        raise
    finally:
        await form.close()
    services.jobs.submit_upload(job_id, names, groups)
    return job_id


def _save(upload: UploadFile, target: Path) -> None:
    upload.file.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)


def _check_pages(services: Services, path: Path, name: str) -> None:
    max_pages = services.settings.ingest.max_pages
    try:
        pages = services.page_counter().pdf_pages(str(path))
    except LoaderError as exc:
        raise ApiError(422, "unreadable_file", f"{name}: {exc}") from None
    if pages > max_pages:
        raise ApiError(
            413,
            "too_many_pages",
            f"{name} has {pages:,} pages; the limit is {max_pages:,} (RAG_INGEST__MAX_PAGES)",
            limit="max_pages",
        )


@router.post(
    "/jobs",
    status_code=202,
    summary="Start an ingest job from uploaded files or a server folder (admins)",
    response_model=Job,
    openapi_extra=_UPLOAD_SCHEMA,
)
async def create_job(request: Request, who: Principal = Depends(admin)) -> dict[str, Any]:  # noqa: B008
    services = services_of(request)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        job_id = await _upload(request, services)
    elif content_type.startswith("application/json"):
        try:
            body = IngestPathRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            # The app's handler formats these like every other 422.
            raise RequestValidationError(exc.errors(include_url=False)) from None
        path = _allowed_path(services, body.path)
        job_id = services.jobs.submit_path(path, body.groups, body.prune)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            'send files as multipart/form-data (field `files`), or JSON {"path": ...}',
        )
    job = services.store.jobs.get(job_id)
    assert job is not None
    return job_view(job)


@router.get("/jobs", summary="Recent ingest jobs (admins)", response_model=JobList)
async def list_jobs(request: Request, who: Principal = Depends(admin)) -> dict[str, Any]:  # noqa: B008
    jobs = services_of(request).store.jobs.list(limit=100)
    # API jobs and `rag ingest` runs alike: admins see every change to the store.
    return {"jobs": [job_view(j) for j in jobs if j.kind in (KIND, "ingest")]}


@router.get(
    "/jobs/{job_id}", summary="One ingest job's state and progress (admins)", response_model=Job
)
async def get_job(
    job_id: PathId,
    request: Request,
    who: Principal = Depends(admin),  # noqa: B008
) -> dict[str, Any]:
    job = services_of(request).store.jobs.get(job_id)
    if job is None or job.kind not in (KIND, "ingest"):
        raise ApiError(404, "not_found", f"no ingest job {job_id}")
    return job_view(job)
