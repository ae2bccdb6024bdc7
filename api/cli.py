"""`rag serve` and `rag keys`: run the web API, manage who may call it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.keys import ROLES, KeyStore
from rag.cli.commands import settings_or_exit
from rag.errors import RagError

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
    key: Annotated[str, typer.Argument(help="The key's id or name, from `rag keys list`.")],
) -> None:
    """Revoke a key at once; requests with it get 401."""
    count = _key_store().revoke(key)
    if not count:
        console.print(f"[red]error:[/red] no active key {key!r}; `rag keys list` shows them.")
        raise typer.Exit(1)
    console.print(f"Revoked {count} key(s).")


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes.")] = None,
) -> None:
    """Run the web API and the web page (http://HOST:PORT/)."""
    import uvicorn

    settings = settings_or_exit()
    api = settings.api
    first_key = KeyStore(settings.data_dir / "keys.sqlite3").ensure_admin()
    if first_key:
        # Printed once, to the terminal only; never logged, never stored in clear.
        console.print(
            "[bold]First run: an admin API key was created. It is shown only now:[/bold]\n"
            f"  {first_key}\n"
            "Create employees' keys with `rag keys create --name NAME --groups G1,G2`."
        )
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


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.add_typer(keys, name="keys")
