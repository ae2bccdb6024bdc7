"""The `rag` command. Each package adds its own subcommands through the
`rag.commands` entry-point group, so this core package never imports upward.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points

import typer

from rag.logs import configure_logging

app = typer.Typer(
    name="rag",
    help="Question answering over company documents, with cited sources.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def build_app() -> typer.Typer:
    for ep in sorted(entry_points(group="rag.commands"), key=lambda e: e.name):
        ep.load()(app)
    return app


def main() -> None:
    # Models come from installed packages or local paths, never from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        configure_logging()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        build_app()(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:
        # Commands turn expected failures into messages; this is the last net.
        if os.environ.get("RAG_DEBUG"):
            raise
        print(
            f"error: {type(exc).__name__}: {exc}\n(set RAG_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
