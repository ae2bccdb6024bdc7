"""`rag search` and `rag ask`: the employee's command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from rag.errors import RagError
from rag.retrieval.hybrid import MODES
from rag.retrieval.service import SearchService
from rag.settings import Settings, get_settings
from rag.types import SearchFilters

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def settings_or_exit() -> Settings:
    """Settings for a command, or exit 1 with the invalid variable named (no traceback)."""
    try:
        return get_settings()
    except Exception as exc:  # pydantic's validation errors name the bad variable
        console.print(f"[red]error:[/red] invalid settings: {exc}")
        raise typer.Exit(1) from exc


def _split(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for, in French or English.")],
    k: Annotated[int | None, typer.Option("--k", help="How many chunks to return.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    mode: Annotated[str, typer.Option(help=f"One of {', '.join(MODES)}.")] = "hybrid",
    groups: Annotated[
        str | None, typer.Option(help="Only documents of these access groups (comma-separated).")
    ] = None,
    path_prefix: Annotated[str | None, typer.Option(help="Only documents under this path.")] = None,
    mmr: Annotated[
        float | None,
        typer.Option(help="Diversify with maximal marginal relevance, lambda in 0..1."),
    ] = None,
) -> None:
    """Ranked passages for a query: chunk id, document, page, score and text."""
    try:
        service = SearchService(settings_or_exit())
        result = service.search(
            query,
            k,
            SearchFilters(groups=_split(groups), path_prefix=path_prefix),
            mode,
            mmr_lambda=mmr,
        )
    except RagError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "query": query,
                    "language": result.language,
                    "results": [h.to_dict() for h in result.hits],
                    "timings": {k: round(v, 4) for k, v in result.timings.items()},
                }
            )
        )
        return
    if not result.hits:
        console.print("No matching passage.")
    for rank, hit in enumerate(result.hits, start=1):
        # Titles, paths and text come from the documents: text, never Rich markup
        # (a "[/x]" in a document made the command fail).
        out.print(
            f"[bold]{rank}. {escape(hit.document.title)}[/bold] (p. {hit.chunk.page_start}, "
            f"chunk {hit.chunk.id}, score {hit.score:.4f})\n   {escape(hit.document.path)}\n"
            f"   {escape(' '.join(hit.chunk.text.split())[:300])}"
        )


def _load_history(path: Path | None) -> list[dict[str, str]] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RagError(f"cannot read the conversation {path}: {exc}") from exc
    turns = data.get("messages", data) if isinstance(data, dict) else data
    if not isinstance(turns, list) or not all(
        isinstance(t, dict) and isinstance(t.get("content"), str) for t in turns
    ):
        raise RagError(
            f"{path} must hold a JSON list of {{'role': 'user'|'assistant', 'content': '...'}}"
        )
    return turns


def ask_command(
    question: Annotated[str, typer.Argument(help="The question, in French or English.")],
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it comes.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    history: Annotated[
        Path | None, typer.Option(help="JSON file with the conversation so far (follow-ups).")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="Passages given to the LLM.")] = None,
    groups: Annotated[
        str | None, typer.Option(help="Only documents of these access groups (comma-separated).")
    ] = None,
    web: Annotated[
        bool,
        typer.Option(
            "--web", help="Add web results from SearXNG, cited [W1] (needs RAG_WEB__ENABLED)."
        ),
    ] = False,
) -> None:
    """A short answer built from the documents, with [n] citations (and [Wn] for web
    results with --web)."""
    from rag.answer.service import AnswerService

    try:
        service = AnswerService(settings_or_exit())
        answer = None
        for event in service.stream(
            question,
            history=_load_history(history),
            filters=SearchFilters(groups=_split(groups)),
            k=k,
            web=web,
        ):
            if event["type"] == "token" and stream and not as_json:
                out.print(event["text"], end="", markup=False)
            elif event["type"] == "reset" and stream and not as_json:
                out.print("\n[yellow](draft taken back)[/yellow]")
            elif event["type"] == "answer":
                answer = event["answer"]
    except RagError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    assert answer is not None
    if as_json:
        out.print_json(json.dumps(answer.to_dict()))
        return
    if stream and answer.mode == "generative":
        out.print()
    else:
        out.print(answer.text, markup=False)
    # Titles and quotes come from documents and web pages: text, never Rich markup.
    for c in answer.citations:
        flag = "" if c.supported else "  [red](not supported by this source)[/red]"
        out.print(escape(f"  [{c.n}] {c.title}, p. {c.page} — « {c.quote[:160]} »") + flag)
    for w in answer.web_citations:
        flag = "" if w.supported else "  [red](not supported by this result)[/red]"
        line = f"  [W{w.n}] (web) {w.title} — {w.url} — « {w.quote[:160]} »"
        out.print(escape(line) + flag)
    for notice in answer.notices:
        console.print(f"[yellow]note:[/yellow] {escape(notice)}")


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)
    app.command("ask")(ask_command)
