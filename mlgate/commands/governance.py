"""CLI commands for the governance service and its audit trail.

``governance_app``: ``serve`` (run the API under uvicorn) and ``init`` (create the first
admin and print its token once). ``audit_app``: ``verify`` and ``export`` through the
client, configured by ``MLGATE_URL`` and ``MLGATE_TOKEN``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from governance.errors import MlgateError

governance_app = typer.Typer(help="Run and set up the governance service.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Check and export the tamper-evident audit trail.", no_args_is_help=True
)

console = Console()
err = Console(stderr=True)


@governance_app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
) -> None:
    """Serve the governance API (database from MLGATE_DATABASE_URL)."""
    import uvicorn

    from governance.config import get_settings
    from governance.main import create_app

    app = create_app(get_settings())
    console.print(f"governance listening on http://{host}:{port} (OpenAPI at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info")


@governance_app.command()
def init(
    admin: Annotated[str, typer.Option(help="name of the first admin principal")] = "admin",
) -> None:
    """Create the tables and the first admin; print its API token (shown only this once)."""
    from governance.config import get_settings
    from governance.server import bootstrap_admin

    try:
        token = bootstrap_admin(get_settings().database_url, name=admin)
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc}")
        raise typer.Exit(1) from exc
    err.print(f"admin [bold]{admin}[/bold] created; its token is shown only this once:")
    # The token alone on stdout, so scripts can capture it: MLGATE_TOKEN=$(mlgate … init)
    typer.echo(token)


@audit_app.command()
def verify() -> None:
    """Recompute the audit chain; exit 1 naming the first broken event."""
    from governance.client import GovernanceClient

    try:
        with GovernanceClient.from_env() as client:
            result = client.verify_audit()
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


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="JSON Lines file to write")] = Path("audit.jsonl"),
    after_seq: Annotated[int, typer.Option(help="export events after this seq", min=0)] = 0,
) -> None:
    """Export audit events as JSON Lines, one event per line in chain order."""
    from governance.client import GovernanceClient

    count = 0
    try:
        with GovernanceClient.from_env() as client, out.open("w", encoding="utf-8") as handle:
            while True:
                events = client.audit_events(after_seq=after_seq, limit=1000)
                if not events:
                    break
                for event in events:
                    handle.write(json.dumps(event.model_dump(mode="json"), sort_keys=True) + "\n")
                count += len(events)
                after_seq = events[-1].seq
    except MlgateError as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc}")
        raise typer.Exit(2) from exc
    console.print(f"{count} audit events written to {out}")
