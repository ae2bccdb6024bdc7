"""`rag index ...`: the admin's commands for the vector index (FAISS or Qdrant)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from rag.cli.commands import settings_or_exit
from rag.errors import RagError
from rag.vectors.migration import TARGETS, migrate_index

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True, highlight=False)

index_app = typer.Typer(
    help="The vector index: move it between FAISS and Qdrant.", no_args_is_help=True
)


@index_app.callback()
def _index_group() -> None:
    """The vector index: move it between FAISS and Qdrant."""


@index_app.command("migrate")
def migrate_command(
    to: Annotated[str, typer.Option("--to", help=f"Target index: {' or '.join(TARGETS)}.")],
    url: Annotated[
        str | None, typer.Option(help="Qdrant server URL (default: RAG_INDEX__QDRANT_URL).")
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(help="Qdrant local-mode folder (default: RAG_INDEX__QDRANT_PATH)."),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option(help="Collection name prefix (default: RAG_INDEX__QDRANT_COLLECTION)."),
    ] = None,
) -> None:
    """Copy every chunk's stored embedding into another index, without re-embedding.

    Safe to run again; prints the settings that switch the service to the new index.
    """
    settings = settings_or_exit()
    try:
        result = migrate_index(settings, to, url, path, collection)
    except RagError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    where = (
        f"Qdrant collection {result.collection} at {result.location}"
        if result.target == "qdrant"
        else f"the FAISS index in {result.location}"
    )
    removed = f", removed {result.removed} stale points" if result.removed else ""
    console.print(
        escape(
            f"Copied {result.vectors} stored embeddings (nothing re-embedded) into {where}"
            f"{removed}; count checked against SQLite, in {result.seconds:.1f} s."
        )
    )
    console.print("To search it, set:")
    for name, value in result.env.items():
        out.print(escape(f"{name}={value}"))
    if "RAG_INDEX__QDRANT_URL" in result.env and settings.index.qdrant_api_key is not None:
        console.print("and keep RAG_INDEX__QDRANT_API_KEY set.")


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
