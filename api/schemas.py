"""Request bodies. Bounds here are the hard ones; limits that depend on settings
(question length, k) are checked in the routes so the error names the setting."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 100_000  # hard cap before settings-based checks
MAX_ID = 2**62  # SQLite integers are 64-bit
DocumentId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Turn(Strict):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TEXT)


class Filters(Strict):
    groups: list[str] | None = Field(
        None, description="Narrow to these access groups (never widens the key's own)."
    )
    document_ids: list[DocumentId] | None = Field(None, max_length=1000)
    path_prefix: str | None = Field(None, max_length=1000)
    updated_after: str | None = Field(None, description="ISO 8601 date or time.")
    updated_before: str | None = Field(None, description="ISO 8601 date or time.")


class Generation(Strict):
    """Per-request generation settings, within the same bounds as the settings."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1, le=1000)
    max_tokens: int | None = Field(None, ge=16, le=4096)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class AskRequest(Generation):
    question: str = Field(max_length=MAX_TEXT)
    history: list[Turn] | None = Field(None, max_length=50)
    filters: Filters | None = None
    k: int | None = Field(None, ge=1, le=500, description="Passages given to the LLM.")
    stream: bool = False
    web: bool = Field(False, description="Add web results (when the deployment enables it).")


class SearchRequest(Strict):
    query: str = Field(max_length=MAX_TEXT)
    k: int | None = Field(None, ge=1, le=500)
    filters: Filters | None = None
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    mmr_lambda: float | None = Field(None, ge=0, le=1)


class IngestPathRequest(Strict):
    path: str = Field(max_length=4096, description="A folder or file under an allowed root.")
    groups: list[str] | None = Field(None, max_length=100)
    prune: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; fields this service does not use are ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=16, le=4096)
    max_completion_tokens: int | None = Field(None, ge=16, le=4096)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
