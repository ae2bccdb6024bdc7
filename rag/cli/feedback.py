"""`rag feedback list | export | gaps`: the ratings and the question log, for whoever
runs the service (the CLI reads the data dir's files directly, as an admin would
through the API; docs/feedback.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rag.cli.commands import settings_or_exit
from rag.embedding import create_embedder
from rag.feedback import eval_case, gap_report
from rag.settings import Settings
from rag.store.questions import RATINGS, Feedback, QuestionLog, Rating, since_stamp

feedback_app = typer.Typer(
    help="Ratings of answers: list them, export them (as an eval set), and the gap report.",
    no_args_is_help=True,
)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
FORMATS = ("jsonl", "eval")

RatingOption = Annotated[str | None, typer.Option(help="Only this rating: up or down.")]
SinceOption = Annotated[
    str | None, typer.Option(help="Only from this ISO 8601 date or time on (UTC).")
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def _log(settings: Settings) -> QuestionLog | None:
    """The data dir's question log, or None (said on stderr) when it has none."""
    if not settings.questions_path.exists():
        console.print(
            f"no question log in {escape(str(settings.data_dir))}: nothing rated or "
            "logged yet (or RAG_DATA_DIR points elsewhere)"
        )
        return None
    return QuestionLog(
        settings.questions_path,
        enabled=settings.feedback.log_questions,
        retention_days=settings.feedback.retention_days,
    )


def _rating(value: str | None) -> Rating | None:
    if value is None:
        return None
    if value not in RATINGS:
        raise _fail(f"--rating must be one of {', '.join(RATINGS)}, not {value!r}")
    return value  # type: ignore[return-value]


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return since_stamp(value)
    except ValueError:
        raise _fail(
            f"--since must be an ISO 8601 date or time such as 2026-01-31, not {value!r}"
        ) from None


def _short(text: str | None, size: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= size else text[: size - 1] + "…"


@feedback_app.command("list")
def list_command(
    rating: RatingOption = None,
    since: SinceOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ratings, newest first: when, rating, rater key, question, comment."""
    chosen, after = _rating(rating), _since(since)
    settings = settings_or_exit()
    log = _log(settings)
    items = log.feedback(rating=chosen, since=after, limit=limit) if log else []
    if as_json:
        out.print_json(json.dumps([f.to_dict() for f in items], ensure_ascii=False))
        return
    table = Table("rated", "rating", "key", "mode", "question", "comment", "correction")
    for f in items:
        table.add_row(
            f.rated_at,
            f.rating,
            str(f.key_id),
            f.mode,
            escape(_short(f.question)),
            escape(_short(f.comment, 40)),
            "yes" if f.correct_answer else "",
        )
    out.print(table)


def _document_stems(settings: Settings, feedback: list[Feedback]) -> dict[int, str]:
    """The cited documents' file stems (an eval set's doc ids), for those still stored."""
    ids = {int(c["document_id"]) for f in feedback for c in f.citations}
    if not ids or not settings.db_path.exists():
        return {}
    from rag.store import DocumentStore

    store = DocumentStore(settings.db_path)
    try:
        docs = {i: store.get_document(i) for i in ids}
    finally:
        store.close()
    return {i: Path(d.path).stem for i, d in docs.items() if d is not None}


@feedback_app.command("export")
def export_command(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl: every rating as stored; eval: the rated questions as an eval "
            "question set (`rag eval run --dataset FILE`).",
        ),
    ] = "jsonl",
    rating: RatingOption = None,
    since: SinceOption = None,
) -> None:
    """Ratings on standard output, one JSON object a line, oldest first."""
    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    chosen, after = _rating(rating), _since(since)
    settings = settings_or_exit()
    log = _log(settings)
    items = list(reversed(log.feedback(rating=chosen, since=after))) if log else []
    lines: list[dict[str, Any]]
    if fmt == "jsonl":
        lines = [f.to_dict() | {"groups": list(f.groups)} for f in items]
    else:
        stems = _document_stems(settings, items)
        lines = [
            eval_case(f, [stems[i] for c in f.citations if (i := c["document_id"]) in stems])
            for f in items
        ]
    for line in lines:
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    console.print(f"{len(lines)} rating(s) exported")


@feedback_app.command("gaps")
def gaps_command(
    since: SinceOption = None,
    limit: Annotated[
        int, typer.Option(min=1, max=5000, help="The newest questions grouped, at most.")
    ] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Questions answered not found or rated down, grouped by topic, largest first."""
    after = _since(since)
    settings = settings_or_exit()
    log = _log(settings)
    candidates = log.gap_candidates(after, limit) if log else []
    report: dict[str, Any] = {"questions": 0, "topics": []}
    if candidates:
        report = gap_report(
            candidates, create_embedder(settings.embedding), settings.feedback.gap_similarity
        )
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))
        return
    if not report["topics"]:
        console.print("No question answered not found or rated down.")
    for rank, topic in enumerate(report["topics"], start=1):
        out.print(
            f"[bold]{rank}. {topic['count']} question(s)[/bold] ({topic['not_found']} not "
            f"found, {topic['down']} rated down)"
        )
        for example in topic["examples"]:
            out.print(f"   - {escape(_short(example, 120))}")
        if topic["documents"]:
            cited = ", ".join(f"{d['title']} ({d['count']})" for d in topic["documents"])
            out.print(f"   cited by the answers rated down: {escape(cited)}")


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
