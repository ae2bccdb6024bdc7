"""`rag ingest` and `rag documents ...`: the admin's command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ingest.pipeline import EXIT_JOB_FAILED, IngestService, IngestSummary
from rag.cli.commands import settings_or_exit
from rag.errors import RagError
from rag.store import DocumentStore

console = Console(stderr=True, soft_wrap=True)  # no hard wraps: messages stay greppable
out = Console()


class RichProgress:
    """Files, pages, chunks/s and ETA on the terminal; quiet when not a TTY."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files  {task.fields[pages]} pages  {task.fields[chunks]} chunks"),
            TextColumn("{task.fields[rate]:.1f} chunks/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self._task: TaskID | None = None
        self._pages = 0
        self._chunks = 0
        self._t0 = time.perf_counter()

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def start(self, total_files: int) -> None:
        self._t0 = time.perf_counter()
        self._task = self._progress.add_task("ingest", total=total_files, pages=0, chunks=0, rate=0)

    def advance(self, path: str, outcome: str, pages: int = 0, chunks: int = 0) -> None:
        self._pages += pages
        self._chunks += chunks
        rate = self._chunks / max(time.perf_counter() - self._t0, 1e-6)
        if self._task is not None:
            self._progress.update(
                self._task, advance=1, pages=self._pages, chunks=self._chunks, rate=rate
            )

    def notice(self, message: str) -> None:
        console.print(f"[yellow]{escape(message)}")  # notices quote paths


def _print_summary(summary: IngestSummary) -> None:
    rate = summary.chunks / summary.seconds if summary.seconds else 0.0
    console.print(
        f"Ingest job {summary.job_id}: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.removed} removed, "
        f"{len(summary.failed)} failed  ({summary.files} files, {summary.pages} pages, "
        f"{summary.chunks} chunks in {summary.seconds:.1f} s, {rate:.1f} chunks/s)"
    )
    for path, reason in summary.failed:  # both may quote the file: not Rich markup
        console.print(f"  [red]failed[/red] {escape(path)}: {escape(reason)}")
    for path, flag in summary.flagged:
        console.print(f"  [yellow]warning[/yellow] {escape(path)}: {escape(flag)}")
    if summary.missing:
        console.print(
            f"{summary.missing} stored documents under this folder no longer exist on disk; "
            "run again with --prune to remove them."
        )


def _fail(message: str, code: int = EXIT_JOB_FAILED) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def ingest_command(
    path: Annotated[Path, typer.Argument(help="Folder (or single file) to ingest.")],
    groups: Annotated[
        str | None,
        typer.Option(help="Comma-separated access groups for these documents, e.g. hr,finance."),
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove stored documents whose file is gone.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest documents: new and changed files are embedded, unchanged ones skipped.

    Exit code: 0 all files went in, 3 some files failed, 1 the job itself failed.
    """
    group_list = [g.strip() for g in groups.split(",") if g.strip()] if groups else None
    try:
        service = IngestService(settings_or_exit())
        with RichProgress() as progress:
            summary = service.run(path, group_list, prune, progress)
    except RagError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt as exc:
        raise _fail("interrupted: documents written so far are kept; run again to finish") from exc
    _print_summary(summary)
    if as_json:
        out.print_json(json.dumps(summary.to_dict()))
    raise typer.Exit(summary.exit_code)


documents = typer.Typer(help="List, show and delete stored documents.", no_args_is_help=True)


@documents.command("list")
def list_documents(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every stored document: id, path, title, pages, chunks, groups, sha256, status,
    flags (hidden text found at ingest: `rag documents show ID` lists them)."""
    store = DocumentStore(settings_or_exit().db_path)
    docs = store.list_documents()
    if as_json:
        out.print_json(json.dumps([d.to_dict() for d in docs]))
        return
    table = Table("id", "path", "title", "pages", "chunks", "groups", "sha256", "status", "flags")
    for d in docs:
        table.add_row(  # a path or a title may hold "[...]": text, not Rich markup
            str(d.id),
            escape(d.path),
            escape(d.title[:60]),
            str(d.pages),
            str(d.chunks),
            escape(",".join(d.groups)),
            d.sha256[:12],
            d.status,
            ", ".join(f.split(":")[0] for f in d.flags),
        )
    out.print(table)
    failures = store.list_failures()
    if failures:
        console.print(f"{len(failures)} files failed to ingest: see `rag documents failures`.")


@documents.command("show")
def show_document(
    document_id: Annotated[int, typer.Argument(help="Document id, from `rag documents list`.")],
) -> None:
    """One document's record and its chunks' pages."""
    store = DocumentStore(settings_or_exit().db_path)
    doc = store.get_document(document_id)
    if doc is None:
        raise _fail(f"no document with id {document_id}; `rag documents list` shows the ids.")
    chunks = store.chunks_for_document(document_id)
    record = doc.to_dict() | {
        "chunk_list": [
            {
                "id": c.id,
                "pages": [c.page_start, c.page_end],
                "offsets": [c.start, c.end],
                "heading": c.heading,
                "preview": c.text[:80],
            }
            for c in chunks
        ]
    }
    out.print_json(json.dumps(record))


@documents.command("delete")
def delete_document(
    document_id: Annotated[int, typer.Argument(help="Document id, from `rag documents list`.")],
) -> None:
    """Remove a document and its chunks from the store and the index."""
    try:
        deleted = IngestService(settings_or_exit()).delete_document(document_id)
    except RagError as exc:
        raise _fail(str(exc)) from exc
    if not deleted:
        raise _fail(f"no document with id {document_id}; `rag documents list` shows the ids.")
    console.print(f"Deleted document {document_id}.")


@documents.command("failures")
def list_failures(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Files whose last ingest failed, with the reason."""
    failures = DocumentStore(settings_or_exit().db_path).list_failures()
    if as_json:
        out.print_json(json.dumps(failures))
        return
    for f in failures:
        out.print(f"{f['path']}: {f['reason']}", markup=False)


def demo_command(
    folder: Annotated[
        Path, typer.Option("--dir", help="Where to write the demo documents.")
    ] = Path("demo_docs"),
) -> None:
    """Write a small fictional company's documents (PDF, DOCX, HTML, Markdown) and
    ingest them, one access group per sub-folder."""
    from ingest.demo import write_demo_corpus

    written = write_demo_corpus(folder)
    try:
        service = IngestService(settings_or_exit())
        failed = 0
        for group, paths in written.items():
            with RichProgress() as progress:
                summary = service.run(paths[0].parent, [group], False, progress)
            _print_summary(summary)
            failed += len(summary.failed)
    except RagError as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"Demo store ready in {service.settings.data_dir}: `rag documents list` shows it."
    )
    raise typer.Exit(3 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("demo")(demo_command)
    app.add_typer(documents, name="documents")
