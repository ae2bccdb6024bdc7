"""`rag serve`, `rag mcp` and `rag keys`: run the web API or the MCP server, manage
who may call them."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.keys import ROLES, AmbiguousKeyError, KeyStore
from rag.cli.commands import settings_or_exit
from rag.errors import RagError

log = logging.getLogger(__name__)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
keys = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def _key_store() -> KeyStore:
    settings = settings_or_exit()
    return KeyStore(settings.data_dir / "keys.sqlite3")


@keys.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "employee",
    groups: Annotated[
        str, typer.Option(help="Access groups whose documents the key may see (comma-separated).")
    ] = "public",
) -> None:
    """Create a key and print it once; only its hash is stored."""
    try:
        key, who = _key_store().create(name, role, groups.split(","))
    except RagError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    out.print(key)
    console.print(
        f"Key {who.key_id} for {who.name} ({who.role}; groups: {', '.join(who.groups) or 'none'})."
        " It is shown only now: store it safely."
    )


@keys.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every key: id, name, role, groups, last characters, created, revoked."""
    rows = _key_store().list()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("id", "name", "role", "groups", "key", "created", "revoked")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["name"]),
            str(r["role"]),
            ",".join(r["groups"]),  # type: ignore[arg-type]
            str(r["key"]),
            str(r["created_at"]),
            str(r["revoked_at"] or ""),
        )
    out.print(table)


@keys.command("revoke")
def revoke_key(
    key: Annotated[
        str | None,
        typer.Argument(
            help="The key's id or name, from `rag keys list` (refused when it is both one "
            "key's id and another's name: then use --id or --name)."
        ),
    ] = None,
    key_id: Annotated[
        int | None, typer.Option("--id", min=1, max=2**63 - 1, help="Revoke the key with this id.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Revoke every active key with this name.")
    ] = None,
) -> None:
    """Revoke a key at once; requests with it get 401."""
    given = [v for v in (key, key_id, name) if v is not None]
    if len(given) != 1:
        console.print(
            "[red]error:[/red] name one key: `rag keys revoke ID_OR_NAME`, "
            "`rag keys revoke --id ID` or `rag keys revoke --name NAME`."
        )
        raise typer.Exit(2)
    try:
        count = _key_store().revoke(key, key_id=key_id, name=name)
    except AmbiguousKeyError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not count:
        console.print(f"[red]error:[/red] no active key {given[0]!r}; `rag keys list` shows them.")
        raise typer.Exit(1)
    console.print(f"Revoked {count} key(s).")


ADMIN_KEY_FILE = "admin-key.txt"


def write_secret(path: Path, text: str) -> None:
    """`text` in a new file that only its owner may read or write (0600), created so:
    never a file or link that was there before."""
    path.unlink(missing_ok=True)  # a leftover of an older store: its key is gone too
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def first_run_admin_key(data_dir: Path) -> None:
    """A store that never had an admin key gets one, written to a 0600 file in the
    data dir; the terminal gets the file's path, never the key (in a container the
    terminal is the log stream, shipped with the logs). A store whose admin keys are
    all revoked gets none: a warning says how to create one."""
    store = KeyStore(data_dir / "keys.sqlite3")
    path = data_dir / ADMIN_KEY_FILE
    created = store.ensure_admin(lambda key: write_secret(path, key + "\n"))
    if created is not None:
        console.print(
            f"[bold]First run: an admin API key (key {created.key_id}) was created and "
            f"written to {escape(str(path))}[/bold], readable by this user only. Read it, keep it "
            "somewhere safe, then delete the file: the key is not shown anywhere else.\n"
            "Create employees' keys with `rag keys create --name NAME --groups G1,G2`."
        )
        return
    if not store.has_admin():
        log.warning(
            "no active admin API key: every admin key was revoked, and none is created "
            "again on start. Create one with `rag keys create --name NAME --role admin`."
        )
    if path.exists():
        log.warning(
            "the first-run admin key file %s is still there: delete it once its key is "
            "stored safely (or revoked)",
            path,
        )


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes.")] = None,
) -> None:
    """Run the web API and the web page (http://HOST:PORT/)."""
    import uvicorn

    settings = settings_or_exit()
    api = settings.api
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    first_run_admin_key(settings.data_dir)
    host, port = host or api.host, port or api.port
    console.print(f"Serving on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(
        "api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers or api.workers,
        log_level="warning",
        log_config=None,  # rag.logs set it up (text or JSON lines, with request ids)
        access_log=False,  # the API's own access line carries the request id
        timeout_graceful_shutdown=10,
    )


MCP_KEY_VARIABLE = "RAG_API_KEY"


def mcp_key_or_exit(data_dir: Path) -> str:
    """The API key in RAG_API_KEY, if it is an active key of the store in `data_dir`;
    else a message on standard error and exit 2 (before any model is loaded)."""
    key = os.environ.get(MCP_KEY_VARIABLE, "").strip()
    if not key:
        console.print(
            f"[red]error:[/red] {MCP_KEY_VARIABLE} is not set: `rag mcp` answers as one API key. "
            f"Put an employee's key (from `rag keys create`) in {MCP_KEY_VARIABLE} in the MCP "
            "client's configuration (docs/mcp.md)."
        )
        raise typer.Exit(2)
    path = data_dir / "keys.sqlite3"
    who = KeyStore(path).authenticate(key) if path.exists() else None
    if who is None:
        console.print(
            f"[red]error:[/red] the key in {MCP_KEY_VARIABLE} is unknown or revoked in "
            f"{escape(str(data_dir))} (RAG_DATA_DIR): ask an admin for a key (`rag keys create`)."
        )
        raise typer.Exit(2)
    log.info("MCP over stdio as key %s (%s, %s)", who.key_id, who.name, who.role)
    return key


def mcp_command() -> None:
    """Serve the documents to a local MCP client (Claude Desktop, VS Code) on standard
    input and output, as the API key in RAG_API_KEY (its access groups apply)."""
    from api.mcp_server import run_stdio
    from api.services import Services

    settings = settings_or_exit()
    key = mcp_key_or_exit(settings.data_dir)
    services = Services.build(settings)
    if settings.api.warm_up:
        services.warm_up()
    try:
        run_stdio(services, key)
    finally:
        services.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("mcp")(mcp_command)
    app.add_typer(keys, name="keys")
