"""What a caller is shown of documents, search hits and citations.

Admins manage the store and see it as it is. Anyone else sees:

- a document's file name as its `path`, not where it lies on the server (user names,
  mount points and other teams' folder names are not an employee's business), and a
  `path_prefix` filter is matched against that name, so it cannot probe the paths;
- only the access groups of a document that the caller shares (the others name
  groups, and so teams or projects, it is not part of);
- no `flags` (null): what ingest found hidden in a document is for the admins who
  manage the store (it quotes the hidden text and says where a file is suspect);
- ranks instead of raw retrieval scores: `score` is 1/rank, `bm25_score` null. BM25's
  term statistics (IDF, average length) are computed over the whole index, hidden
  documents included, so a raw BM25 score, or a fused score built from it, changes
  when a document the caller cannot see contains the query's terms. `dense_score` is
  kept: a cosine between the query and a chunk the caller sees depends on nothing
  else, and it is the one absolute measure of relevance left to the caller.

Field names are the API's contract; only their values change.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from api.errors import ApiError
from api.keys import Principal
from rag.retrieval.hybrid import SearchHit
from rag.store import DocumentStore
from rag.types import DocumentRecord

# A path_prefix of an employee becomes the ids of the documents it names; the store
# passes them to SQLite as parameters, which it caps at 32766 per statement.
MAX_PREFIX_DOCUMENTS = 10_000


def shown_path(path: str, who: Principal) -> str:
    return path if who.is_admin else PurePath(path).name


def shown_groups(groups: tuple[str, ...] | list[str], who: Principal) -> list[str]:
    return list(groups) if who.is_admin else [g for g in groups if g in who.groups]


def document_view(doc: DocumentRecord, who: Principal) -> dict[str, Any]:
    body = doc.to_dict()
    body["path"] = shown_path(doc.path, who)
    body["groups"] = shown_groups(doc.groups, who)
    if not who.is_admin:
        body["flags"] = None
    return body


def visible_document(store: DocumentStore, who: Principal, document_id: int) -> DocumentRecord:
    """The document, if `who` may see it; else the same 404 as for one that does not
    exist, so a document's existence does not leak."""
    doc = store.get_document(document_id)
    if doc is None or not who.may_see(doc.groups):
        raise ApiError(404, "not_found", f"no document {document_id} among those you may see")
    return doc


def page_view(store: DocumentStore, who: Principal, document_id: int, page: int) -> dict[str, Any]:
    """One page of a document `who` may see: its text, and where it sits in the
    document's text (start/end: the frame of a citation's offsets; the page highlights
    a quote at citation.start - start)."""
    doc = visible_document(store, who, document_id)
    spans = {p.number: p for p in store.page_map(document_id)}
    if page not in spans:
        raise ApiError(
            404, "not_found", f"document {document_id} has no page {page} (pages: 1-{doc.pages})"
        )
    text = store.document_text(document_id) or ""
    span = spans[page]
    return {
        "document_id": document_id,
        "title": doc.title,
        "page": page,
        "text": text[span.start : span.end],
        "start": span.start,
        "end": span.end,
    }


def visible_documents(
    store: DocumentStore, who: Principal, path_prefix: str | None = None
) -> list[DocumentRecord]:
    """The documents `who` may see whose shown path starts with `path_prefix`, in the
    order of their shown paths."""
    if who.is_admin:
        return store.list_documents(path_prefix or None)
    docs = [d for d in store.list_documents() if who.may_see(d.groups)]
    if path_prefix:
        docs = [d for d in docs if shown_path(d.path, who).startswith(path_prefix)]
    return sorted(docs, key=lambda d: (shown_path(d.path, who), d.id))


def prefix_document_ids(store: DocumentStore, who: Principal, path_prefix: str) -> tuple[int, ...]:
    """The ids of the documents an employee's `path_prefix` names (see the module)."""
    ids = tuple(d.id for d in visible_documents(store, who, path_prefix))
    if len(ids) > MAX_PREFIX_DOCUMENTS:
        raise ApiError(
            422,
            "invalid_request",
            f"path_prefix {path_prefix!r} names {len(ids)} documents, more than "
            f"{MAX_PREFIX_DOCUMENTS}: use a longer prefix",
        )
    return ids


def hits_view(hits: list[SearchHit], who: Principal) -> list[dict[str, Any]]:
    shown = [h.to_dict() for h in hits]
    if who.is_admin:
        return shown
    for rank, hit in enumerate(shown, start=1):
        hit["path"] = shown_path(str(hit["path"]), who)
        hit["score"] = round(1 / rank, 6)
        hit["bm25_score"] = None
    return shown


def citations_view(citations: list[dict[str, Any]], who: Principal) -> list[dict[str, Any]]:
    """An answer's citations (as Answer.to_dict gives them) as `who` may see them:
    document citations' paths and scores as for search hits; the rank is by score
    among the document citations."""
    if who.is_admin:
        return citations
    documents = [c for c in citations if c.get("kind", "document") == "document"]
    ranks = {
        id(c): rank for rank, c in enumerate(sorted(documents, key=lambda c: -c["score"]), start=1)
    }
    shown = []
    for c in citations:
        if id(c) in ranks:
            c = c | {"path": shown_path(c["path"], who), "score": round(1 / ranks[id(c)], 6)}
        shown.append(c)
    return shown


def answer_view(body: dict[str, Any], who: Principal) -> dict[str, Any]:
    """An answer's JSON (Answer.to_dict) as `who` may see it."""
    return body | {"citations": citations_view(body["citations"], who)}
