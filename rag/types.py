"""Plain data types shared by ingestion, retrieval and the API."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PageSpan:
    """Page `number` (1-based) covers document text [start, end)."""

    number: int
    start: int
    end: int


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: text plus where it sits in its document."""

    text: str
    start: int
    end: int
    page_start: int
    page_end: int
    heading: str = ""
    n_tokens: int = 0


@dataclass(frozen=True)
class NewDocument:
    """Everything the store needs to write one document at once."""

    path: str
    sha256: str
    title: str
    mime: str
    groups: tuple[str, ...]
    text: str
    pages: tuple[PageSpan, ...]
    size_bytes: int
    fingerprint: str
    flags: tuple[str, ...] = ()  # what ingest found a reader does not see (ingest.hidden)


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    path: str
    sha256: str
    title: str
    mime: str
    groups: tuple[str, ...]
    pages: int
    chunks: int
    status: str
    fingerprint: str
    size_bytes: int
    created_at: str
    updated_at: str
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "title": self.title,
            "pages": self.pages,
            "chunks": self.chunks,
            "groups": list(self.groups),
            "sha256": self.sha256,
            "status": self.status,
            "mime": self.mime,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class ChunkRecord:
    id: int
    document_id: int
    ordinal: int
    text: str
    start: int
    end: int
    page_start: int
    page_end: int
    heading: str
    groups: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SearchFilters:
    """What a caller may see and wants to see.

    groups: the caller's access groups; None means no restriction (a local admin),
    an empty tuple means the caller sees nothing.
    exclude_document_ids: documents hidden from this search (the evaluation asks a
    question with its gold documents hidden, to see whether the answer falls back to
    "not found" on the near misses left); None or empty hides nothing.
    """

    groups: tuple[str, ...] | None = None
    document_ids: tuple[int, ...] | None = None
    exclude_document_ids: tuple[int, ...] | None = None
    path_prefix: str | None = None
    updated_after: str | None = None  # ISO 8601, compared with documents.updated_at
    updated_before: str | None = None

    @property
    def restricts(self) -> bool:
        return any(
            v is not None and v != ""
            for v in (
                self.groups,
                self.document_ids,
                self.exclude_document_ids or None,
                self.path_prefix,
                self.updated_after,
                self.updated_before,
            )
        )

    def allows(self, chunk: ChunkRecord) -> bool:
        return self.groups is None or bool(set(self.groups) & set(chunk.groups))
