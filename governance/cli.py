"""``mlgate governance …``: run the service and administer its database.

``serve`` runs the API under uvicorn; ``init`` creates the tables and the first admin and
prints its token once; ``grant-service-role`` (PostgreSQL) gives the service's own role
what it needs and no way to rewrite the trail; ``verify-audit`` walks the chain in the
database itself, for an operator whose service is down. These are the only commands
that touch the database (``MLGATE_DATABASE_URL``); every other ``mlgate`` command goes
through the HTTP client. The ``mlgate`` CLI mounts :data:`app`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from governance.errors import MlgateError

__all__ = ["app"]

app = typer.Typer(help="Run and set up the governance service.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _database_url() -> str:
    from governance.config import get_settings

    try:
        return get_settings().database_url
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {escape(str(exc))}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
) -> None:
    """Serve the governance API (database from MLGATE_DATABASE_URL)."""
    import uvicorn

    from governance.config import get_settings
    from governance.main import create_app

    try:
        app = create_app(get_settings())
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    console.print(f"governance listening on http://{host}:{port} (OpenAPI at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info")


@app.command()
def init(
    admin: Annotated[str, typer.Option(help="name of the first admin principal")] = "admin",
) -> None:
    """Create the tables and the first admin; print its API token (shown only this once)."""
    from governance.admin import bootstrap_admin

    try:
        token = bootstrap_admin(_database_url(), name=admin)
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc}")
        raise typer.Exit(1) from exc
    err.print(f"admin [bold]{admin}[/bold] created; its token is shown only this once:")
    # The token alone on stdout, so scripts can capture it: MLGATE_TOKEN=$(mlgate … init)
    typer.echo(token)


@app.command("grant-service-role")
def grant_service_role(
    role: Annotated[
        str, typer.Argument(help="an existing PostgreSQL role the service will log in as")
    ],
) -> None:
    """PostgreSQL: bring the schema up to date as its owner, then grant ROLE what the
    service needs and no way to rewrite the audit trail.

    Connects with MLGATE_DATABASE_URL as the tables' owner. ROLE gets SELECT and INSERT
    on the audit events (no UPDATE, DELETE or TRUNCATE) and read/write on the rest; run
    the service as ROLE. Run this again after every upgrade: new tables need grants.
    """
    from sqlalchemy.exc import DBAPIError

    from governance import admin

    try:
        admin.grant_service_role(_database_url(), role)
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc}")
        raise typer.Exit(1) from exc
    except DBAPIError as exc:  # e.g. the role does not exist
        reason = str(exc.orig).strip().splitlines()[0]
        err.print(f"[red]error[/red] cannot grant {escape(role)}: {escape(reason)}")
        raise typer.Exit(1) from exc
    console.print(
        f"granted [bold]{escape(role)}[/bold]: read/write on governance tables, "
        "SELECT and INSERT only on the audit trail"
    )


@app.command("verify-audit")
def verify_audit(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="a head pinned earlier (SEQ:HASH): fail unless the chain still holds that "
            "event unchanged",
        ),
    ] = None,
) -> None:
    """Walk the audit chain in the database (MLGATE_DATABASE_URL) itself; exit 1 naming
    the first broken event. For when the service is down; otherwise `mlgate audit verify`.
    """
    from governance import admin
    from governance.chain import parse_head

    try:
        pinned = parse_head(expect_head) if expect_head else None
        result = admin.verify_audit(_database_url(), expect_head=pinned)
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc}")
        raise typer.Exit(2) from exc
    if result.ok:
        console.print(f"audit chain intact: {result.events_checked} events verified")
        return
    broken = result.first_broken
    where = f"event {broken.seq}: {broken.reason}" if broken else "unknown event"
    err.print(f"[red]audit chain broken[/red] at {where}")
    raise typer.Exit(1)
