"""Documents: employees see those of their groups; a document outside them is a 404,
the same as one that does not exist, so its existence does not leak. An employee sees
a document's file name and the groups it shares with it (api/views.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import admin, principal, services_of
from api.errors import ApiError
from api.keys import Principal
from api.schemas import ERROR_RESPONSES, DocumentDetail, DocumentList, Page, PathId
from api.views import document_view, page_view, visible_document, visible_documents

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=ERROR_RESPONSES)


@router.get("", summary="Documents the caller may see", response_model=DocumentList)
async def list_documents(
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
    path_prefix: str | None = Query(None, max_length=1000),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    # An employee's path_prefix matches the file names it is shown (api/views.py).
    visible = visible_documents(services_of(request).store, who, path_prefix)
    return {
        "total": len(visible),
        "documents": [document_view(d, who) for d in visible[offset : offset + limit]],
    }


@router.get(
    "/{document_id}",
    summary="One document's record and its pages",
    response_model=DocumentDetail,
)
async def get_document(
    document_id: PathId,
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
) -> dict[str, Any]:
    store = services_of(request).store
    doc = visible_document(store, who, document_id)
    pages = store.page_map(document_id)
    return document_view(doc, who) | {"page_numbers": [p.number for p in pages]}


@router.get(
    "/{document_id}/pages/{page}",
    summary="The text of one page, and where it sits in the document's text",
    response_model=Page,
)
async def get_page(
    document_id: PathId,
    page: PathId,
    request: Request,
    who: Principal = Depends(principal),  # noqa: B008
) -> dict[str, Any]:
    return page_view(services_of(request).store, who, document_id, page)


@router.delete(
    "/{document_id}",
    status_code=204,
    summary="Remove a document (admins)",
    response_class=Response,
    responses={204: {"description": "Removed, with its chunks and vectors; no body."}},
)
async def delete_document(
    document_id: PathId,
    request: Request,
    who: Principal = Depends(admin),  # noqa: B008
) -> Response:
    services = services_of(request)
    from ingest.pipeline import IngestService

    def delete() -> bool:
        ingest = IngestService(services.settings, embedder=services.embedder, store=services.store)
        return ingest.delete_document(document_id)

    if not await run_in_threadpool(delete):
        raise ApiError(404, "not_found", f"no document {document_id}")
    return Response(status_code=204)
