"""`mlgate serve`: the prediction server of one project, under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["serve"]


def serve(
    spec: Annotated[Path, typer.Option(help="the project spec (YAML)", exists=True)],
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8080,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve the project's production model over HTTP (one worker).

    Governance is read from MLGATE_GOVERNANCE_URL with MLGATE_TOKEN (a token or a
    secret reference such as env://NAME); models and the prediction log live in
    MLGATE_STORE (default .mlgate/artifacts). See serving.settings for the rest.
    """
    import uvicorn

    from core.errors import MlgateError
    from core.spec import load_spec
    from serving.app import create_app

    try:
        app = create_app(load_spec(spec))
    except MlgateError as exc:  # a bad spec or setting, a store or secret out of reach
        typer.echo(f"error: [{exc.code}] {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
