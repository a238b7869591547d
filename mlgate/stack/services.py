"""The parts of the local stack, each started detached and waited for until healthy.

A Prefect server (SQLite under the stack directory, or PostgreSQL), the governance
service (which resumes gated flow runs through that Prefect server), a Prefect worker
on a process work pool, and the prediction server.

Raises (every ``start_*``):
    StackError: the part exited during start-up or was not healthy in time.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx

from mlgate.stack.processes import (
    REPO_ROOT,
    Service,
    bin_path,
    child_env,
    read_state,
    spawn,
    stack_dir,
    wait_healthy,
)
from mlgate.stack.tokens import ensure_serve_token


def prefect_api_url(directory: Path | None = None) -> str | None:
    """The Prefect API of the running stack, else ``PREFECT_API_URL``."""
    svc = read_state(stack_dir(directory)).get("prefect")
    if svc and svc.url:
        return f"{svc.url}/api"
    return os.environ.get("PREFECT_API_URL")


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
    """The governance service, told to resume gated flow runs through ``prefect_api``.

    It records locations inside the stack's artifact store (``MLGATE_STORES``, default
    the store the deployments use: ``.mlgate/artifacts`` of the checkout the worker runs
    in), so a run's snapshots and models are accepted and nothing outside is.
    """
    url = f"http://{host}:{port}"
    stores = os.environ.get("MLGATE_STORES") or f"file://{REPO_ROOT / '.mlgate' / 'artifacts'}"
    env = child_env(directory, {"MLGATE_PREFECT_API_URL": prefect_api, "MLGATE_STORES": stores})
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
    """A Prefect worker on the process work pool ``pool``; its flow runs get ``token``
    as ``MLGATE_TOKEN`` (their ``token_ref`` is ``env://MLGATE_TOKEN``)."""
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
    """The prediction server of ``spec``, asking its callers for the stack's bearer token."""
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
    """Whether this installation has the prediction server's command."""
    return (REPO_ROOT / "mlgate" / "commands" / "serve.py").exists()
