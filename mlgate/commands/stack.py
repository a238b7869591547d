"""`mlgate up | down | status | deploy`: the local stack as detached processes.

``up`` starts a Prefect server (SQLite under the stack directory, or PostgreSQL when
``PREFECT_SERVER_DATABASE_CONNECTION_URL`` is set), the governance service (which
resumes gated flow runs through that Prefect server), a Prefect worker on a process
work pool, and the prediction server. Each runs in its own session with its log under
the stack directory; its pid, start time, port and URL go to ``stack.json``. ``down``
stops exactly those processes: a recorded pid whose start time no longer matches
belongs to someone else and is left alone. ``deploy`` registers every flow of
``prefect.yaml`` as a Prefect deployment. The machinery is in :mod:`mlgate.stack`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.settings import get_settings
from mlgate.errors import StackError
from mlgate.stack.deployments import (
    deploy_env,
    deployments_summary,
    run_deploy,
    schedule_project_monitor,
)
from mlgate.stack.processes import (
    REPO_ROOT,
    STATE_FILE,
    Service,
    healthy,
    is_running,
    port_free,
    read_state,
    stack_dir,
    stop,
    write_state,
)
from mlgate.stack.services import (
    prefect_api_url,
    serving_available,
    start_governance,
    start_prefect,
    start_serving,
    start_worker,
)
from mlgate.stack.tokens import FLOWS_PRINCIPAL, SERVE_TOKEN_FILE, TOKENS_FILE, ensure_tokens

stack_app = typer.Typer(help="Run the local stack and register the flows.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DEMO_SPEC = REPO_ROOT / "mlgate" / "demo" / "credit_risk.yaml"


StateDir = Annotated[
    Path | None, typer.Option("--dir", help="state directory (default MLGATE_STACK_DIR)")
]


@stack_app.command()
def up(
    directory: StateDir = None,
    host: Annotated[str, typer.Option(help="interface every service listens on")] = "127.0.0.1",
    prefect_port: Annotated[int, typer.Option(min=1, max=65535)] = 4200,
    governance_port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    serve_port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    pool: Annotated[str, typer.Option(help="Prefect process work pool")] = "mlgate-local",
    spec: Annotated[Path, typer.Option(help="project spec the prediction server serves")] = (
        DEMO_SPEC
    ),
    serving: Annotated[bool, typer.Option(help="start the prediction server")] = True,
    timeout: Annotated[float, typer.Option(min=1, help="seconds each part may take")] = 90,
    prefect_database_url: Annotated[
        str | None,
        typer.Option(
            envvar="MLGATE_PREFECT_DATABASE_URL",
            help="Prefect's database, e.g. postgresql+asyncpg://user@host/db (default SQLite)",
        ),
    ] = None,
) -> None:
    """Start Prefect server, governance, a worker and the prediction server in the background."""
    settings = get_settings()  # a bad MLGATE_* value is refused before anything starts
    where = stack_dir(directory)
    services = read_state(where)
    live = [s.name for s in services.values() if is_running(s)]
    if live:
        err.print(f"[red]the stack already runs[/] ({', '.join(live)}); `mlgate down` first")
        raise typer.Exit(1)
    ports = {"prefect": prefect_port, "governance": governance_port}
    if serving and serving_available():
        ports["serve"] = serve_port
    taken = [f"{n} port {p}" for n, p in ports.items() if not port_free(host, p)]
    if taken:
        err.print(f"[red]port taken[/]: {', '.join(taken)}; choose another with --<name>-port")
        raise typer.Exit(1)
    started: dict[str, Service] = {}
    try:
        with console.status("starting the Prefect server"):
            started["prefect"] = start_prefect(
                where, host, prefect_port, timeout, prefect_database_url
            )
        write_state(where, started)
        api = f"{started['prefect'].url}/api"
        with console.status("starting governance"):
            started["governance"] = start_governance(where, host, governance_port, api, timeout)
        write_state(where, started)
        gov_url = str(started["governance"].url)
        token = (
            settings.token.get_secret_value()
            if settings.token
            else ensure_tokens(where, gov_url).get(FLOWS_PRINCIPAL)
        )
        with console.status(f"starting a worker on work pool {pool}"):
            started["worker"] = start_worker(where, api, pool, token, timeout)
        write_state(where, started)
        if "serve" in ports:
            with console.status("starting the prediction server"):
                started["serve"] = start_serving(
                    where, host, serve_port, spec, gov_url, token, timeout
                )
            write_state(where, started)
    except StackError as exc:
        err.print(f"[red]start-up failed[/]: {exc}")
        for svc in reversed(list(started.values())):
            stop(svc)
        (where / STATE_FILE).unlink(missing_ok=True)
        raise typer.Exit(1) from None
    _print_urls(where, started, pool)


def _print_urls(where: Path, services: dict[str, Service], pool: str) -> None:
    prefect_svc = services["prefect"]
    console.print(f"[green]✓[/] Prefect UI      {prefect_svc.url}")
    console.print(f"[green]✓[/] Prefect API     {prefect_svc.url}/api")
    console.print(f"[green]✓[/] governance      {services['governance'].url} (OpenAPI at /docs)")
    console.print(f"[green]✓[/] worker          pool {pool} (pid {services['worker'].pid})")
    if "serve" in services:
        console.print(f"[green]✓[/] predictions     {services['serve'].url}")
        if (where / SERVE_TOKEN_FILE).exists():
            console.print(f"  bearer token of the prediction API: {where / SERVE_TOKEN_FILE}")
    if (where / TOKENS_FILE).exists():
        console.print(f"  tokens of the admin and the flows account: {where / TOKENS_FILE}")
    console.print(f"  logs: {where / 'logs'}; next: `mlgate deploy`, then `mlgate down`")


@stack_app.command()
def down(directory: StateDir = None) -> None:
    """Stop exactly the processes `mlgate up` started (checked by pid and start time)."""
    where = stack_dir(directory)
    services = read_state(where)
    if not services:
        console.print("nothing to stop")
        return
    for svc in reversed(list(services.values())):
        console.print(f"{svc.name:<11} {stop(svc)}")
    (where / STATE_FILE).unlink(missing_ok=True)


@stack_app.command()
def status(directory: StateDir = None) -> None:
    """Say which parts of the stack run and answer their health check."""
    services = read_state(stack_dir(directory))
    if not services:
        console.print("the stack is not running (`mlgate up` starts it)")
        raise typer.Exit(3)
    table = Table("part", "pid", "running", "healthy", "url")
    all_ok = True
    for svc in services.values():
        alive = is_running(svc)
        ok = alive and healthy(svc)
        all_ok = all_ok and ok
        table.add_row(svc.name, str(svc.pid), _yn(alive), _yn(ok), svc.url or "")
    console.print(table)
    raise typer.Exit(0 if all_ok else 1)


def _yn(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"


@stack_app.command()
def deploy(
    directory: StateDir = None,
    pool: Annotated[str, typer.Option(help="Prefect process work pool")] = "mlgate-local",
    spec: Annotated[Path, typer.Option(help="project spec the deployments default to")] = (
        DEMO_SPEC
    ),
    data_dir: Annotated[Path, typer.Option(help="base of relative file:// sources")] = Path(
        ".mlgate/demo/data"
    ),
    store: Annotated[str, typer.Option(help="artifact store")] = ".mlgate/artifacts",
    governance_url: Annotated[str | None, typer.Option(help="default: the stack's")] = None,
    current_source: Annotated[
        str, typer.Option(help="batch the pipeline scores and monitors (empty: none)")
    ] = "file://current.csv",
) -> None:
    """Register every flow of prefect.yaml as a Prefect deployment."""
    where = stack_dir(directory)
    api = prefect_api_url(where)
    if not api:
        err.print("[red]no Prefect server[/]: run `mlgate up` or set PREFECT_API_URL")
        raise typer.Exit(1)
    gov = read_state(where).get("governance")
    url = governance_url or (gov.url if gov and gov.url else "http://127.0.0.1:8000")
    if not store.startswith(("s3://", "file://")):
        store = str(Path(store).resolve())
    env = deploy_env(
        api,
        pool=pool,
        spec=spec,
        data_dir=data_dir,
        store=store,
        governance_url=url,
        current_source=current_source,
    )
    with console.status("registering deployments from prefect.yaml"):
        done = run_deploy(env)
    if done.returncode != 0:
        err.print(f"[red]prefect deploy failed[/]:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        raise typer.Exit(1)
    from core.spec import load_spec

    project_spec = load_spec(spec)
    cron = project_spec.monitoring.schedule
    if cron:
        name = schedule_project_monitor(api, project_spec.name, cron)
        if name:
            console.print(f"{name} scheduled: {cron} (UTC)")
    console.print(deployments_summary(api))
