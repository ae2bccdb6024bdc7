"""Request bodies and responses. Bounds here are the hard ones; limits that depend on
settings (question length, k) are checked in the routes so the error names the setting."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from api.keys import Role

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


# -- feedback -------------------------------------------------------------------------------

ANSWER_ID_PATTERN = r"^(chatcmpl-)?[0-9a-f]{32}$"
CHAT_ID_PREFIX = "chatcmpl-"  # /v1/chat/completions' ids: this, then the answer's id
MAX_COMMENT = 2000
MAX_CORRECTION = 10_000
AnswerId = Annotated[
    str,
    Path(
        pattern=ANSWER_ID_PATTERN,
        max_length=41,
        description="The answer's `id` (from /v1/ask), or the `id` of a /v1/chat/completions "
        "response (chatcmpl-...).",
    ),
]


class FeedbackRequest(Strict):
    rating: Literal["up", "down"] = Field(description="up: right and useful; down: not.")
    comment: str | None = Field(
        None, max_length=MAX_COMMENT, description="What was wrong or missing (optional)."
    )
    correct_answer: str | None = Field(
        None,
        max_length=MAX_CORRECTION,
        description="The right answer, if known (optional): the reference answer of the "
        "eval case the rating becomes.",
    )


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


# -- responses -----------------------------------------------------------------------------
#
# What the routes answer, field for field and in the order the routes build them (the
# models serialize in field order). FastAPI validates a route's return value against its
# response_model and drops keys the model lacks, so a key added to a payload must be
# added here too: tests/api/conftest.py fails any test whose response lost or changed a
# field on the way through its model.

Mode = Literal["generative", "extractive", "not_found"]
SHOWN_PATH = "The document's path on the server for admin keys, its file name for others."


class Health(BaseModel):
    status: Literal["ok"]


class StoreCheck(BaseModel):
    ready: bool
    reason: str | None = Field(
        None, description="Why it is not ready (admin keys only; absent when ready)."
    )
    documents: int | None = Field(
        None, description="Documents in the store (admin keys only, when ready)."
    )


class IndexCheck(BaseModel):
    ready: bool
    reason: str | None = None
    vectors: int | None = Field(None, description="Vectors in the index (when ready).")


class EmbedderCheck(BaseModel):
    ready: bool
    reason: str | None = None
    dimension: int | None = Field(None, description="The embedder's dimension (when ready).")


class LLMCheck(BaseModel):
    ready: bool
    reason: str | None = None
    name: str | None = Field(None, description="The LLM backend's name (when ready).")


class ReadinessChecks(BaseModel):
    store: StoreCheck
    index: IndexCheck
    embedder: EmbedderCheck
    llm: LLMCheck


class Readiness(BaseModel):
    """200 when every check is ready, 503 otherwise (same body). For an admin key a
    check carries `reason` when not ready and its own figure when ready, never both;
    anyone else gets `ready` alone. Absent keys are left out of the JSON, not sent as
    null."""

    ready: bool
    checks: ReadinessChecks


class Features(BaseModel):
    web_search: bool = Field(description="Whether /v1/ask accepts `web: true` here.")


class Me(BaseModel):
    name: str
    role: Role
    groups: list[str]
    features: Features


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    truncated_prompt: bool


class DocumentCitation(BaseModel):
    kind: Literal["document"]
    n: int = Field(description="The [n] marker in the answer.")
    document_id: int
    title: str
    path: str = Field(description=SHOWN_PATH)
    page: int
    quote: str
    start: int = Field(description="Offset of the quote in the document's text.")
    end: int
    chunk_id: int
    score: float = Field(
        description="The passage's fused score for admin keys; for others 1/rank among "
        "the answer's document citations."
    )
    supported: bool
    support: float


class WebCitation(BaseModel):
    kind: Literal["web"]
    n: str = Field(description="The [Wn] marker in the answer, e.g. W1.")
    title: str
    url: str
    quote: str
    start: int = Field(description="Offset of the quote in the web result's snippet.")
    end: int
    supported: bool
    support: float


Citation = Annotated[DocumentCitation | WebCitation, Field(discriminator="kind")]


class WebSource(BaseModel):
    n: str = Field(description="W1, W2...: the order of the web results in the prompt.")
    title: str
    url: str
    snippet: str
    engine: str | None


class Removed(BaseModel):
    text: str
    reason: str = Field(
        description="unsupported, off_topic, restates_question, no_quantity (the question "
        "asks how many or how long and the answer does not say), untrusted_url (a link, "
        "image or address no cited source holds: `text` is that address, defanged) or html"
    )


class Answerability(BaseModel):
    score: float
    p_yes: float
    dense: float
    sentence: float | None = Field(
        None,
        description="The closest single source sentence's similarity, where the score "
        "weighs it (RAG_ANSWER__ANSWERABLE_SENTENCE: English by default); null elsewhere.",
    )
    sure: float | None = Field(
        None,
        description="Where `sentence` counted: the score with the closest source's own "
        "similarity, which decides whether the check is sure enough for the labelled "
        "passages (RAG_ANSWER__EXTRACTIVE_THRESHOLD); null elsewhere.",
    )
    coverage: float | None = Field(
        None,
        description="How much of the question the best source sentence holds, its words "
        "weighed by rarity (null where it does not count: across languages, or a weight of 0).",
    )
    threshold: float
    redraft_p_yes: float | None = Field(
        None,
        description="Where no sentence of the first draft could be verified: the LLM's "
        "probability that the one sentence a second draft would restate answers the question "
        "by itself (RAG_ANSWER__REDRAFT_THRESHOLD); null where not asked.",
    )


class AnswerResponse(BaseModel):
    """An answer with its citations, as `rag ask --json` prints it (also the `done`
    event of the streamed form)."""

    id: str = Field(description="The answer's id: rate it with POST /v1/answers/{id}/feedback.")
    question: str
    standalone_question: str | None = Field(
        description="The follow-up question rewritten with its history (null without one)."
    )
    answer: str
    mode: Mode
    language: str
    citations: list[Citation]
    all_citations_supported: bool
    web_sources: list[WebSource]
    removed: list[Removed]
    notices: list[str]
    answerability: Answerability | None = Field(
        description="The check before answering (null when it did not run)."
    )
    timings: dict[str, float] = Field(description="Seconds per stage, and total_s.")
    usage: Usage


class SearchHit(BaseModel):
    chunk_id: int
    document_id: int
    path: str = Field(description=SHOWN_PATH)
    title: str
    page: int
    page_end: int
    heading: str
    score: float = Field(description="The fused score for admin keys; 1/rank for others.")
    dense_score: float | None = Field(description="null when dense retrieval missed it.")
    bm25_score: float | None = Field(
        description="null when BM25 missed it, and always for non-admin keys (BM25's "
        "statistics cover documents they cannot see)."
    )
    text: str
    start: int
    end: int


class SearchResponse(BaseModel):
    query: str
    language: str
    results: list[SearchHit]
    timings: dict[str, float] = Field(description="Seconds per retrieval stage, and search_s.")


class Document(BaseModel):
    id: int
    path: str = Field(description=SHOWN_PATH)
    title: str
    pages: int
    chunks: int
    groups: list[str] = Field(
        description="Every access group for admin keys; those the key shares for others."
    )
    sha256: str
    status: str
    mime: str
    size_bytes: int
    created_at: str
    updated_at: str
    flags: list[str] | None = Field(
        description="Admin keys: what ingest found that a reader of the file does not see "
        "(hidden text, HTML comments, invisible characters, instructions in metadata), one "
        "line each; [] when nothing. Null for other keys."
    )


class DocumentList(BaseModel):
    total: int = Field(description="Documents the caller may see, before limit/offset.")
    documents: list[Document]


class DocumentDetail(Document):
    page_numbers: list[int]


class Page(BaseModel):
    document_id: int
    title: str
    page: int
    text: str
    start: int = Field(description="Where the page starts in the document's text.")
    end: int


class JobError(BaseModel):
    file: str
    reason: str


class Job(BaseModel):
    id: int
    status: str = Field(
        description="queued, running, succeeded, partial or failed; a `rag ingest` run can "
        "also be interrupted (stopped with Ctrl-C, or its process died: the next run says so)"
    )
    source: str | None = Field(description="upload or path; null for `rag ingest` runs.")
    files: list[str] | None = Field(description="The uploaded files' names (uploads only).")
    groups: list[str] | None
    files_total: int
    files_done: int
    chunks: int
    chunks_per_s: float
    counts: dict[str, int | float] = Field(
        description="Every counter the job keeps (added, updated, unchanged, pages...); "
        "empty until the job starts."
    )
    errors: list[JobError]
    started_at: str
    finished_at: str | None


class JobList(BaseModel):
    jobs: list[Job]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, plus `citations` and `mode`."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    citations: list[DocumentCitation]
    mode: Mode


class LoggedCitation(BaseModel):
    document_id: int
    title: str
    page: int
    quote: str


class FeedbackItem(BaseModel):
    """A rating, with the answer it rates as it was given."""

    answer_id: str
    key_id: int = Field(description="The rating key's id (never the key).")
    rating: Literal["up", "down"]
    comment: str | None
    correct_answer: str | None
    rated_at: str
    asked_at: str
    asked_by: int = Field(description="The id of the key that asked.")
    question: str
    answer: str
    citations: list[LoggedCitation]
    mode: Mode
    model: str
    settings_fingerprint: str = Field(
        description="A hash of the settings the answer depends on "
        "(rag.settings.answer_fingerprint)."
    )


class FeedbackList(BaseModel):
    feedback: list[FeedbackItem]


class DayCount(BaseModel):
    day: str
    questions: int


class Figures(BaseModel):
    questions: int = Field(description="Questions answered (from the question log).")
    per_day: list[DayCount]
    not_found: int
    not_found_rate: float | None
    rated: int = Field(description="Ratings (from the ratings, kept with the log off too).")
    up: int
    down: int
    down_vote_rate: float | None = Field(description="down / rated.")
    median_first_token_s: float | None = Field(
        description="Median time from the start of the answer to its first token (answers "
        "that generated)."
    )


class _Group(BaseModel):
    group: str = Field(description="An access group of the asking keys; (no group) for none.")


class GroupFigures(Figures, _Group):  # `group` first
    pass


class Stats(BaseModel):
    question_log: bool = Field(
        description="Whether questions are logged (RAG_FEEDBACK__LOG_QUESTIONS)."
    )
    since: str | None
    overall: Figures
    by_group: list[GroupFigures]


class GapDocument(BaseModel):
    document_id: int
    title: str
    count: int = Field(description="Down-rated answers of the topic that cited it.")


class GapTopic(BaseModel):
    count: int
    not_found: int
    down: int
    examples: list[str]
    answer_ids: list[str]
    documents: list[GapDocument]
    last_asked_at: str


class GapReport(BaseModel):
    question_log: bool
    since: str | None
    questions: int = Field(description="Questions grouped (not found or rated down).")
    topics: list[GapTopic]


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorDetail(BaseModel):
    # Open: every raise site may add its own keys (ApiError(**extra)); those known
    # today are typed below, and absent ones are left out of the JSON, not sent as null.
    model_config = ConfigDict(extra="allow")
    code: str = Field(description="Machine-readable: unauthorized, not_found, limit_exceeded...")
    message: str
    fields: list[FieldProblem] | None = Field(None, description="422: each invalid field.")
    limit: str | None = Field(None, description="The limit or setting the request broke.")
    max: int | None = Field(None, description="That limit's value.")
    max_bytes: int | None = Field(None, description="413: the body limit in bytes.")
    stage: str | None = Field(None, description="504: the stage that was running.")
    retry_after_s: int | None = Field(None, description="429, 503: also in Retry-After.")
    request_id: str | None = Field(None, description="500: quote it to the operators.")


class ErrorResponse(BaseModel):
    """Every error, whatever the status: `{"error": {"code", "message", ...}}`."""

    error: ErrorDetail


# The routers' documented errors. 4XX replaces FastAPI's default 422 schema, which is
# not what api/errors.py sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": ErrorResponse,
        "description": "The request was refused (see `code`; 429: over the key's rate "
        "limit or its share of the answer queue, with Retry-After).",
    },
    "5XX": {
        "model": ErrorResponse,
        "description": "The server failed (500: quote `request_id`), is overloaded (503, "
        "Retry-After: the queue is full, or no slot came free in time) or an answer timed "
        "out (504).",
    },
}


# -- Server-Sent Events --------------------------------------------------------------------
#
# What /v1/ask and /v1/chat/completions stream. Open API 3.1 has the `text/event-stream`
# schema describe one event, {"event", "data"}, with `data` JSON text whose own schema is
# its contentSchema. These models are not any route's response_model, so create_app adds
# them to the schema's components (add_event_schemas).


class StageEvent(BaseModel):
    name: str = Field(description="rewrite, retrieve, web, generate or verify")


class TokenEvent(BaseModel):
    text: str


class ResetEvent(BaseModel):
    """The tokens streamed so far are abandoned (the answer comes in `done`)."""

    model_config = ConfigDict(extra="forbid")


class CitationsEvent(BaseModel):
    citations: list[Citation]
    web_sources: list[WebSource]


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = Field(None, description="In the first chunk only.")
    content: str


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    finish_reason: str | None = Field(description="stop in the last chunk, else null.")


class ChatCompletionChunk(BaseModel):
    """OpenAI's chat.completion.chunk; the last one also has citations, usage, mode."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatChunkChoice]
    citations: list[DocumentCitation] | None = Field(None, description="Last chunk only.")
    usage: ChatUsage | None = Field(None, description="Last chunk only.")
    mode: Mode | None = Field(None, description="Last chunk only.")


EVENT_MODELS: tuple[type[BaseModel], ...] = (
    StageEvent,
    TokenEvent,
    ResetEvent,
    CitationsEvent,
    ChatCompletionChunk,
)
_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json_data(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def _event(name: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"properties": {"event": {"const": name}, "data": _json_data(_ref(model))}}


ASK_STREAM: dict[str, Any] = {
    "description": "One event: `stage`s and `token`s, `reset` if streamed tokens are "
    "abandoned, then `citations` and `done` (the JSON answer); `error` if the answer "
    "fails once the stream has begun.",
    "type": "object",
    "required": ["event", "data"],
    "oneOf": [
        _event("stage", StageEvent),
        _event("token", TokenEvent),
        _event("reset", ResetEvent),
        _event("citations", CitationsEvent),
        _event("done", AnswerResponse),
        _event("error", ErrorResponse),
    ],
}

CHAT_STREAM: dict[str, Any] = {
    "description": "One event (unnamed): a `chat.completion.chunk`, the last one with "
    "`finish_reason: stop`, `citations`, `usage` and `mode`; then `[DONE]`. An error once "
    "the stream has begun comes as an error body, then `[DONE]`.",
    "type": "object",
    "required": ["event", "data"],
    "properties": {"event": {"const": "message"}, "data": {"type": "string"}},
    "if": {"properties": {"data": {"const": "[DONE]"}}},
    "else": {
        "properties": {
            "data": _json_data({"anyOf": [_ref(ChatCompletionChunk), _ref(ErrorResponse)]})
        }
    },
}


def add_event_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Put EVENT_MODELS (and the models they use) in the schema's components, where
    ASK_STREAM and CHAT_STREAM refer to them; those already there are kept."""
    _, defs = models_json_schema([(m, "serialization") for m in EVENT_MODELS], ref_template=_REF)
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in defs.get("$defs", {}).items():
        components.setdefault(name, schema)
    return openapi
