"""The knowledge base as an MCP server (Model Context Protocol), for assistants such
as Claude Desktop, VS Code or an agent: four tools (search_documents, ask,
list_documents, read_page) and two resource templates (a document, a page).

Two transports, one server:

- streamable HTTP at /mcp in the API's own app (`McpEndpoint`), authenticated with
  the API's Bearer keys through the SDK's token verifier (`KeyVerifier`);
- stdio (`rag mcp`, `run_stdio`), as the key in RAG_API_KEY.

Who may see what is never decided here: each call looks its key up again (a key
revoked mid-session stops at its next call), counts against the key's rate limit,
and goes through the functions the /v1 routes use (scoped_filters, search_for,
start_answer and AnswerRun, the views of api/views.py). The key itself is never
logged nor returned.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.responses import JSONResponse

from api.answering import AnswerRun, scoped_filters, search_for, start_answer
from api.errors import ApiError, error_body, scrub
from api.keys import KeyStore, Principal
from api.schemas import (
    MAX_TEXT,
    AnswerResponse,
    AskRequest,
    DocumentList,
    Filters,
    Page,
    Turn,
)
from api.services import Services
from api.views import answer_view, document_view, page_view, visible_document, visible_documents
from rag.errors import RagError, StoreLockedError

log = logging.getLogger(__name__)

SERVER_NAME = "company-documents"
PATH = "/mcp"
INSTRUCTIONS = (
    "The company's internal documents (policies, procedures, handbooks), in French and "
    "English. Use `ask` for a question that needs an answer: it returns a verified "
    "answer with its citations, or mode `not_found` when the documents do not say. Use "
    "`search_documents` for the passages themselves, `list_documents` to see what "
    "exists, and `read_page` to read a cited page in full. You only see the documents "
    "your API key's access groups allow."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

# -- outputs (their JSON schemas are the tools' output schemas) ---------------------------


class Passage(BaseModel):
    document_id: int
    title: str
    path: str = Field(description="The document's file name (its server path for admin keys).")
    page: int = Field(description="The page the passage starts on.")
    page_end: int
    heading: str | None
    quote: str = Field(description="The passage's text, as it is in the document.")
    score: float = Field(description="Relevance: 1/rank for employee keys.")
    chunk_id: int


class SearchOutput(BaseModel):
    query: str
    language: str
    passages: list[Passage]


QUERY = Annotated[
    str,
    Field(
        max_length=MAX_TEXT,
        description="What to look for, in French or English, in plain words.",
    ),
]
K = Annotated[
    int | None,
    Field(ge=1, le=500, description="How many passages (default: the server's setting)."),
]
FILTERS = Annotated[
    Filters | None,
    Field(
        description="Narrow the documents (the fields of /v1/search's filters): groups, "
        "document_ids, path_prefix (file name prefix), updated_after, updated_before "
        "(ISO 8601). They never widen what the key may see."
    ),
]


# -- errors -----------------------------------------------------------------------------


def _message(exc: ApiError) -> str:
    message = scrub(exc.message)
    retry = exc.extra.get("retry_after_s")
    return f"{message} (retry after {retry} s)" if retry and "retry" not in message else message


@contextmanager
def tool_errors() -> Iterator[None]:
    """The API's errors as tool errors: an `isError` result whose text says what to
    do, as the HTTP error body would. Anything else is the SDK's: a generic message
    to the client, the traceback in the server's log."""
    try:
        yield
    except ApiError as exc:
        raise ToolError(_message(exc)) from None
    except StoreLockedError:
        raise ToolError("an ingest job is writing to the store; retry in a moment") from None
    except RagError as exc:  # the services' own: bad questions, bad parameters
        raise ToolError(scrub(str(exc))) from None


@contextmanager
def resource_errors() -> Iterator[None]:
    """As `tool_errors`, for resource reads: a missing (or hidden) document or page is
    the SDK's not-found protocol error, anything else that was expected a resource
    error with its message."""
    try:
        yield
    except ApiError as exc:
        kind = ResourceNotFoundError if exc.status == 404 else ResourceError
        raise kind(_message(exc)) from None
    except (ToolError, RagError) as exc:  # the key refused, the rate limit, a bad value
        raise ResourceError(scrub(str(exc))) from None


# -- who calls --------------------------------------------------------------------------

KeyOf = Callable[[Context], str | None]


def http_key(ctx: Context) -> str | None:
    """The Bearer key of the HTTP request that carried this call (the SDK's bearer
    middleware put the verified token on the request's scope)."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None) or {}
    user = scope.get("user")
    return user.access_token.token if isinstance(user, AuthenticatedUser) else None


class KeyVerifier:
    """The SDK's token-verifier hook over the API's keys: an active key is a token,
    a revoked or unknown one is not (the SDK answers 401)."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def verify_token(self, token: str) -> AccessToken | None:
        who = await anyio.to_thread.run_sync(self.keys.authenticate, token)
        if who is None:
            return None
        # client_id and subject name the key (never the key itself): the SDK binds a
        # stateful session to them.
        return AccessToken(
            token=token, client_id=f"key-{who.key_id}", scopes=[who.role], subject=str(who.key_id)
        )


# -- the tools --------------------------------------------------------------------------


def _text(result: Any) -> list[TextContent]:
    return [TextContent(type="text", text=result)]


def _search_text(body: dict[str, Any]) -> str:
    passages = body["passages"]
    if not passages:
        return (
            f"No passage matches {body['query']!r} among the documents this key may see. "
            "Try other words, or `list_documents` to see what exists."
        )
    lines = [f"{len(passages)} passages for {body['query']!r}:"]
    for i, p in enumerate(passages, start=1):
        lines.append(
            f"\n[{i}] {p['title']} (document {p['document_id']}, page {p['page']})\n{p['quote']}"
        )
    return "\n".join(lines)


def _answer_text(body: dict[str, Any]) -> str:
    text = body["answer"]
    if body["mode"] == "not_found":
        return f"{text}\n\n(mode: not_found: the documents this key may see do not answer it)"
    sources = [
        f"[{c['n']}] {c['title']}, page {c['page']} (document {c['document_id']}): "
        f"\u201c{c['quote']}\u201d"
        if c.get("kind", "document") == "document"
        else f"[{c['n']}] {c['title']} ({c['url']}): \u201c{c['quote']}\u201d"
        for c in body["citations"]
    ]
    if sources:
        text += "\n\nSources:\n" + "\n".join(sources)
    for notice in body.get("notices") or ():
        text += f"\n\nNote: {notice}"
    return text


def _documents_text(body: dict[str, Any]) -> str:
    docs = body["documents"]
    if not docs:
        return "No document matches among those this key may see."
    lines = [
        f"{body['total']} documents"
        + (f" (showing {len(docs)})" if len(docs) < body["total"] else "")
        + ":"
    ]
    for d in docs:
        about = f"{d['path']}; {d['pages']} pages; updated {d['updated_at']}"
        lines.append(f"- [{d['id']}] {d['title']} ({about})")
    return "\n".join(lines)


class KnowledgeBase:
    """The tools and resources, over one app's services, as the key `key_of` finds."""

    def __init__(self, services: Services, key_of: KeyOf) -> None:
        self.services = services
        self.key_of = key_of

    def caller(self, ctx: Context) -> Principal:
        """The calling key, active now and within its rate limit."""
        key = self.key_of(ctx)
        who = self.services.keys.authenticate(key) if key else None
        if who is None:
            raise ToolError(
                "this API key is unknown or revoked: ask an admin for a key (`rag keys create`) "
                "and reconnect with it"
            )
        try:
            self.services.rate_limiter.check(str(who.key_id))
        except ApiError as exc:
            self.services.metrics.rejected.labels("rate_limit").inc()
            raise ToolError(_message(exc)) from None
        return who

    async def search_documents(
        self, query: QUERY, ctx: Context, k: K = None, filters: FILTERS = None
    ) -> Annotated[CallToolResult, SearchOutput]:
        """Find the passages of the company's documents that match a query (hybrid
        keyword and semantic search, French and English). Returns each passage with its
        document id, title, page and quote; read a whole page with `read_page`."""
        with tool_errors():
            who = self.caller(ctx)
            found = await search_for(self.services, who, query, k, filters)
        body = {
            "query": found["query"],
            "language": found["language"],
            "passages": [
                {
                    "document_id": h["document_id"],
                    "title": h["title"],
                    "path": h["path"],
                    "page": h["page"],
                    "page_end": h["page_end"],
                    "heading": h["heading"],
                    "quote": h["text"],
                    "score": h["score"],
                    "chunk_id": h["chunk_id"],
                }
                for h in found["results"]
            ],
        }
        return CallToolResult(content=_text(_search_text(body)), structured_content=body)

    async def ask(
        self,
        question: Annotated[
            str,
            Field(
                max_length=MAX_TEXT,
                description="The question, in French or English, as a person would ask it.",
            ),
        ],
        ctx: Context,
        history: Annotated[
            list[Turn] | None,
            Field(
                max_length=50,
                description="Earlier turns of this conversation (role user or assistant, "
                "oldest first), for a follow-up question such as 'and for a birth?'.",
            ),
        ] = None,
    ) -> Annotated[CallToolResult, AnswerResponse]:
        """Answer a question from the company's documents. The answer is checked
        against its sources: every claim cites a passage ([1], [2]...), each citation
        says whether the passage supports it, and `mode` is `not_found` when the
        documents this key may see do not answer the question (say so rather than
        guess). The same fields as the HTTP API's /v1/ask."""
        with tool_errors():
            who = self.caller(ctx)
            body = AskRequest(question=question, history=history)
            run: AnswerRun = await start_answer(self.services, who, body)
            try:
                answer = await run.answer()
            finally:
                run.close()
            shown = answer_view(answer.to_dict(), who)
        return CallToolResult(content=_text(_answer_text(shown)), structured_content=shown)

    async def list_documents(
        self,
        ctx: Context,
        filters: FILTERS = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="Most documents to return.")] = 100,
        offset: Annotated[int, Field(ge=0, description="Documents to skip (paging).")] = 0,
    ) -> Annotated[CallToolResult, DocumentList]:
        """List the documents this key may see (id, title, file name, pages, access
        groups, last update), in file-name order, optionally narrowed by filters."""
        with tool_errors():
            who = self.caller(ctx)
            store = self.services.store
            visible = visible_documents(store, who)
            if filters is not None:
                matching = store.document_ids_matching(scoped_filters(who, filters, store))
                visible = [d for d in visible if d.id in matching]
        body = {
            "total": len(visible),
            "documents": [document_view(d, who) for d in visible[offset : offset + limit]],
        }
        return CallToolResult(content=_text(_documents_text(body)), structured_content=body)

    async def read_page(
        self,
        document_id: Annotated[int, Field(ge=1, le=2**62, description="From a passage or list.")],
        page: Annotated[int, Field(ge=1, le=2**62, description="The page number, from 1.")],
        ctx: Context,
    ) -> Annotated[CallToolResult, Page]:
        """The full text of one page of a document (a document outside this key's
        access groups is "not found", like one that does not exist)."""
        with tool_errors():
            who = self.caller(ctx)
            body = page_view(self.services.store, who, document_id, page)
        text = f"{body['title']}, page {page} (document {document_id}):\n\n{body['text']}"
        return CallToolResult(content=_text(text), structured_content=body)

    # Resources: rag://documents/{id} and rag://documents/{id}/pages/{page}.

    async def document_resource(self, document_id: int, ctx: Context) -> str:
        """A document's record and its page numbers, as JSON (GET /v1/documents/{id})."""
        with resource_errors():
            who = self.caller(ctx)
            store = self.services.store
            doc = visible_document(store, who, document_id)
            body = document_view(doc, who) | {
                "page_numbers": [p.number for p in store.page_map(document_id)]
            }
        return json.dumps(body, ensure_ascii=False)

    async def page_resource(self, document_id: int, page: int, ctx: Context) -> str:
        """The text of one page of a document."""
        with resource_errors():
            who = self.caller(ctx)
            return str(page_view(self.services.store, who, document_id, page)["text"])


def build_server(services: Services, key_of: KeyOf, *, http: bool) -> MCPServer:
    """The MCP server over `services`; `http`: behind the SDK's bearer authentication
    with the API's keys (stdio has no request to carry a key: `key_of` gives it)."""
    auth: dict[str, Any] = {}
    if http:
        auth = {
            "token_verifier": KeyVerifier(services.keys),
            # Resource-server mode without OAuth: no metadata routes are published
            # (resource_server_url None); the issuer is a required field the SDK only
            # uses with an OAuth provider, which this server does not run.
            "auth": AuthSettings(issuer_url="http://localhost/", resource_server_url=None),
        }
    server: MCPServer = MCPServer(
        SERVER_NAME,
        title="Company documents",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        log_level="WARNING",
        **auth,
    )
    kb = KnowledgeBase(services, key_of)
    for fn, title in (
        (kb.search_documents, "Search the documents"),
        (kb.ask, "Ask the documents"),
        (kb.list_documents, "List the documents"),
        (kb.read_page, "Read a page"),
    ):
        server.add_tool(fn, name=fn.__name__, title=title, annotations=READ_ONLY)
    server.resource(
        "rag://documents/{document_id}",
        name="document",
        title="A document",
        mime_type="application/json",
    )(kb.document_resource)
    server.resource(
        "rag://documents/{document_id}/pages/{page}",
        name="page",
        title="A page of a document",
        mime_type="text/plain",
    )(kb.page_resource)
    return server


# -- streamable HTTP, inside the API's app ----------------------------------------------


class McpEndpoint:
    """The ASGI app at /mcp: the SDK's streamable HTTP app (bearer authentication,
    then the session manager), started by the API app's lifespan (`running`).

    Stateless (no session kept between requests: any worker of `rag serve --workers N`
    serves any request) and JSON responses. Each event loop that runs the app's
    lifespan gets its own session manager (the SDK's runs once, on one loop)."""

    def __init__(self, services: Services) -> None:
        self.server = build_server(services, http_key, http=True)
        self._apps: dict[asyncio.AbstractEventLoop, Starlette] = {}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        app = self.server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=True,
            json_response=True,
            # Every request needs an API key, which a page reached by DNS rebinding
            # does not have; a Host allow-list would break deployments behind a proxy.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = self.server.session_manager
        loop = asyncio.get_running_loop()
        async with manager.run():
            self._apps[loop] = app
            try:
                yield
            finally:
                self._apps.pop(loop, None)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self._apps.get(asyncio.get_running_loop())
        if app is None:
            response = JSONResponse(
                error_body("unavailable", "the MCP endpoint is starting or stopping; retry"),
                503,
                headers={"Retry-After": "5"},
            )
            await response(scope, receive, send)
            return
        await app(scope, receive, send)


# -- stdio --------------------------------------------------------------------------------


def run_stdio(services: Services, key: str) -> None:
    """Serve MCP on standard input and output, as `key` (checked again at each call),
    until the client closes the pipe. Logs go to standard error."""
    server = build_server(services, lambda ctx: key, http=False)
    anyio.run(server.run_stdio_async)
