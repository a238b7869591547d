"""`mlgate up | down | status | deploy`: the local stack as detached processes.

``up`` starts a Prefect server (SQLite under the stack directory, or PostgreSQL when
``PREFECT_SERVER_DATABASE_CONNECTION_URL`` is set), the governance service (which
resumes gated flow runs through that Prefect server), a Prefect worker on a process
work pool, and the prediction server. Each runs in its own session with its log under
the stack directory; its pid, start time, port and URL go to ``stack.json``. ``down``
stops exactly those processes: a recorded pid whose start time no longer matches
belongs to someone else and is left alone. ``deploy`` registers every flow of
``prefect.yaml`` as a Prefect deployment.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from core.offline import OFFLINE_DEFAULTS
from flows.settings import get_settings
from mlgate.errors import StackError

stack_app = typer.Typer(help="Run the local stack and register the flows.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_SPEC = REPO_ROOT / "mlgate" / "demo" / "credit_risk.yaml"
STATE_FILE = "stack.json"
TOKENS_FILE = "tokens.json"
SERVE_TOKEN_FILE = "serve.token"
FLOWS_PRINCIPAL = "flows"


@dataclass
class Service:
    """One process of the stack as ``up`` recorded it."""

    name: str
    pid: int
    started: float  # the process's create time, to recognise it later
    port: int | None
    url: str | None
    health: str | None  # URL that answers 200 when the service is ready
    log: str
    argv: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ state
def stack_dir(path: Path | None = None) -> Path:
    """Where the stack keeps its state, logs and Prefect home (``MLGATE_STACK_DIR``)."""
    return (path or Path(get_settings().stack_dir)).resolve()


def read_state(directory: Path) -> dict[str, Service]:
    """The services recorded by ``up`` (empty when nothing was started)."""
    file = directory / STATE_FILE
    if not file.exists():
        return {}
    raw = json.loads(file.read_text())
    return {name: Service(**svc) for name, svc in raw.get("services", {}).items()}


def write_state(directory: Path, services: dict[str, Service]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = {"services": {n: asdict(s) for n, s in services.items()}}
    tmp = directory / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(body, indent=2))
    tmp.replace(directory / STATE_FILE)


def prefect_api_url(directory: Path | None = None) -> str | None:
    """The Prefect API of the running stack, else ``PREFECT_API_URL``."""
    svc = read_state(stack_dir(directory)).get("prefect")
    if svc and svc.url:
        return f"{svc.url}/api"
    return os.environ.get("PREFECT_API_URL")


# ------------------------------------------------------------------------------ processes
def is_running(svc: Service) -> bool:
    """True when ``svc.pid`` is alive and is still the process ``up`` started."""
    import psutil

    try:
        proc = psutil.Process(svc.pid)
        return abs(proc.create_time() - svc.started) < 1.0 and proc.status() != "zombie"
    except psutil.Error:
        return False


def healthy(svc: Service, timeout: float = 2.0) -> bool:
    """True when the service answers its health URL (or, without one, is alive)."""
    if not is_running(svc):
        return False
    if svc.health is None:
        return True
    try:
        return httpx.get(svc.health, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def log_tail(path: str | Path, lines: int = 25) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def child_env(directory: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: telemetry off, Prefect's home in the stack dir."""
    env = dict(os.environ)
    env.update(OFFLINE_DEFAULTS)
    env["DO_NOT_TRACK"] = "1"
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.setdefault("PREFECT_HOME", str(directory / "prefect"))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env.update(extra or {})
    return env


def spawn(
    name: str,
    argv: list[str],
    *,
    directory: Path,
    env: dict[str, str],
    port: int | None = None,
    url: str | None = None,
    health: str | None = None,
    cwd: Path | None = None,
) -> Service:
    """Start ``argv`` detached (own session), its output appended to ``<name>.log``."""
    import psutil

    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    started = psutil.Process(proc.pid).create_time()
    return Service(name, proc.pid, started, port, url, health, str(log), argv)


def wait_healthy(svc: Service, timeout: float, ready: Any = None) -> None:
    """Wait until ``svc`` is healthy (and ``ready()`` holds, if given).

    Raises:
        StackError: the process exited, or ``timeout`` passed; with its log tail.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(svc):
            raise StackError(f"{svc.name} exited during start-up; log tail:\n{log_tail(svc.log)}")
        if healthy(svc) and (ready is None or ready()):
            return
        time.sleep(0.5)
    raise StackError(
        f"{svc.name} was not healthy within {timeout:.0f} s; log tail:\n{log_tail(svc.log)}"
    )


def stop(svc: Service, grace: float = 10.0) -> str:
    """Stop the process group of ``svc`` if it is still ours; say what happened."""
    if not is_running(svc):
        return "not running"
    try:
        os.killpg(svc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return "not running"
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_running(svc):
        time.sleep(0.2)
    if is_running(svc):
        os.killpg(svc.pid, signal.SIGKILL)
        return "killed"
    return "stopped"


# ------------------------------------------------------------------------------ parts
def bin_path(name: str) -> str:
    """An executable installed next to this Python (the venv's ``prefect``, ``mlgate``)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def start_prefect(
    directory: Path, host: str, port: int, timeout: float, database_url: str | None = None
) -> Service:
    """Prefect's server: on ``database_url`` (e.g. ``postgresql+asyncpg://…``), else
    ``PREFECT_SERVER_DATABASE_CONNECTION_URL``, else SQLite under the stack directory."""
    env = child_env(directory)
    # The worker and the governance service need the server: no ephemeral fallback.
    env.pop("PREFECT_API_URL", None)
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    if "PREFECT_SERVER_DATABASE_CONNECTION_URL" not in env:
        db = directory / "prefect" / "prefect.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{db}"
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    argv = [bin_path("prefect"), "server", "start", "--host", host, "--port", str(port)]
    svc = spawn(
        "prefect",
        argv,
        directory=directory,
        env=env,
        port=port,
        url=url,
        health=f"{url}/api/health",
    )
    wait_healthy(svc, timeout)
    return svc


def start_governance(
    directory: Path, host: str, port: int, prefect_api: str, timeout: float
) -> Service:
    url = f"http://{host}:{port}"
    env = child_env(directory, {"MLGATE_PREFECT_API_URL": prefect_api})
    argv = [bin_path("mlgate"), "governance", "serve", "--host", host, "--port", str(port)]
    svc = spawn(
        "governance",
        argv,
        directory=directory,
        env=env,
        port=port,
        url=url,
        health=f"{url}/api/v1/health",
    )
    wait_healthy(svc, timeout)
    return svc


def ensure_tokens(directory: Path, governance_url: str) -> dict[str, str]:
    """Tokens of the stack's admin and of the ``flows`` service account (file mode 0600).

    Created on a fresh governance database only; an existing database keeps its
    principals and the flows use ``MLGATE_TOKEN`` from the environment instead.
    """
    from governance.client import GovernanceClient
    from governance.config import get_settings as governance_settings
    from governance.errors import Conflict
    from governance.server import bootstrap_admin

    file = directory / TOKENS_FILE
    if file.exists():
        return dict(json.loads(file.read_text()))
    try:
        admin = bootstrap_admin(governance_settings().database_url, name="admin")
    except Conflict:
        return {}
    with GovernanceClient(governance_url, admin) as client:
        _, flows_token = client.create_principal(FLOWS_PRINCIPAL, "developer", kind="service")
    tokens = {"admin": admin, FLOWS_PRINCIPAL: flows_token}
    file.touch(mode=0o600)
    file.write_text(json.dumps(tokens))
    return tokens


def ensure_serve_token(directory: Path) -> str | None:
    """The prediction server's bearer token: ``MLGATE_SERVE_TOKEN`` when set (a token or a
    secret reference, passed on as it is); otherwise one generated for this stack, kept in
    ``serve.token`` (mode 0600) and reused by the next ``up``."""
    if get_settings().serve_token is not None:
        return None  # the child inherits it
    file = directory / SERVE_TOKEN_FILE
    if file.exists():
        return file.read_text().strip()
    token = "mls_" + secrets.token_urlsafe(32)
    file.touch(mode=0o600)
    file.write_text(token + "\n")
    return token


def pool_ready(api: str, pool: str) -> bool:
    """True when the work pool exists and a worker polls it."""
    try:
        if httpx.get(f"{api}/work_pools/{pool}", timeout=2).status_code != 200:
            return False
        workers = httpx.post(f"{api}/work_pools/{pool}/workers/filter", json={}, timeout=2)
        return workers.status_code == 200 and bool(workers.json())
    except httpx.HTTPError:
        return False


def start_worker(
    directory: Path, prefect_api: str, pool: str, token: str | None, timeout: float
) -> Service:
    extra = {"PREFECT_API_URL": prefect_api}
    if token:
        extra["MLGATE_TOKEN"] = token
    env = child_env(directory, extra)
    argv = [
        bin_path("prefect"),
        "worker",
        "start",
        "--pool",
        pool,
        "--type",
        "process",
        "--name",
        f"mlgate-{secrets.token_hex(3)}",
    ]
    svc = spawn("worker", argv, directory=directory, env=env, cwd=REPO_ROOT)
    wait_healthy(svc, timeout, ready=lambda: pool_ready(prefect_api, pool))
    return svc


def start_serving(
    directory: Path,
    host: str,
    port: int,
    spec: Path,
    governance_url: str,
    token: str | None,
    timeout: float,
) -> Service:
    url = f"http://{host}:{port}"
    extra = {"MLGATE_GOVERNANCE_URL": governance_url}
    if token:
        extra["MLGATE_TOKEN"] = token
    serve_token = ensure_serve_token(directory)
    if serve_token:
        extra["MLGATE_SERVE_TOKEN"] = serve_token
    env = child_env(directory, extra)
    argv = [bin_path("mlgate"), "serve", "--spec", str(spec), "--host", host, "--port", str(port)]
    svc = spawn(
        "serve", argv, directory=directory, env=env, port=port, url=url, health=f"{url}/healthz"
    )
    wait_healthy(svc, timeout)
    return svc


def serving_available() -> bool:
    return (REPO_ROOT / "mlgate" / "commands" / "serve.py").exists()


# ------------------------------------------------------------------------------ commands
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


def deploy_env(
    prefect_api: str,
    *,
    pool: str,
    spec: Path,
    data_dir: Path,
    store: str,
    governance_url: str,
    current_source: str = "",
) -> dict[str, str]:
    """The environment ``prefect deploy`` reads the templated values of prefect.yaml from."""
    return {
        "PREFECT_API_URL": prefect_api,
        "MLGATE_REPO_DIR": str(REPO_ROOT),
        "MLGATE_CURRENT_SOURCE": current_source,
        "MLGATE_WORK_POOL": pool,
        "MLGATE_SPEC": str(spec.resolve()),
        "MLGATE_DATA_DIR": str(data_dir.resolve()),
        "MLGATE_STORE": store,
        "MLGATE_GOVERNANCE_URL": governance_url,
    }


def deployable() -> list[str]:
    """Names of the deployments in prefect.yaml whose flow exists in this checkout."""
    import yaml

    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    names = []
    for item in config.get("deployments", []):
        path, _, func = str(item["entrypoint"]).partition(":")
        file = REPO_ROOT / path
        if file.is_file() and f"def {func}(" in file.read_text():
            names.append(str(item["name"]))
    return names


def run_deploy(
    env: dict[str, str], names: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``prefect deploy`` on the repository's prefect.yaml for ``names``.

    ``names`` defaults to every deployment whose flow file exists.
    """
    selection = [arg for n in (names or deployable()) for arg in ("--name", n)]
    argv = [bin_path("prefect"), "--no-prompt", "deploy", *selection]
    full = child_env(stack_dir(), env)
    return subprocess.run(
        argv, cwd=REPO_ROOT, env=full, capture_output=True, text=True, timeout=600, check=False
    )


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
    console.print(_deployments_summary(api))


# What a deployment copied from another keeps of it (fields of Prefect's DeploymentCreate).
_DEPLOYMENT_FIELDS = (
    "flow_id",
    "parameters",
    "tags",
    "pull_steps",
    "work_queue_name",
    "work_pool_name",
    "path",
    "job_variables",
    "entrypoint",
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "description",
    "version",
)


def schedule_project_monitor(api: str, project: str, cron: str) -> str | None:
    """Give ``project`` a scheduled monitor deployment of its own, ``monitor-<project>``.

    It is a copy of ``mlgate-monitor/monitor`` as just deployed (so its parameters name
    this project's spec, data, store and governance) with one cron schedule; deploying
    another project's spec adds that project's copy and leaves this one scheduled. The
    shared ``monitor`` deployment stays unscheduled, for runs started by hand.

    Returns:
        The new deployment's full name, or None if ``mlgate-monitor/monitor`` is absent.
    """
    with httpx.Client(base_url=api, timeout=30) as http:
        found = http.get("/deployments/name/mlgate-monitor/monitor")
        if found.status_code == 404:
            return None
        found.raise_for_status()
        template = found.json()
        body = {key: template[key] for key in _DEPLOYMENT_FIELDS if key in template}
        body["name"] = f"monitor-{project}"
        body["paused"] = False
        body["schedules"] = [{"schedule": {"cron": cron, "timezone": "UTC"}, "active": True}]
        http.post("/deployments/", json=body).raise_for_status()  # upsert: replaces schedules
    return f"mlgate-monitor/monitor-{project}"


def _deployments_summary(api: str) -> str:
    response = httpx.post(f"{api}/deployments/filter", json={}, timeout=10)
    response.raise_for_status()
    names = sorted(d["name"] for d in response.json())
    return "deployments: " + ", ".join(names)
