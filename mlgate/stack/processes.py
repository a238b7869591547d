"""Detached processes of the local stack: start, record, check and stop them.

Each part runs in its own session with its log under the stack directory; its pid,
start time, port and URL go to ``stack.json``. A recorded pid whose start time no
longer matches belongs to someone else: it is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from core.offline import OFFLINE_DEFAULTS
from flows.settings import get_settings
from mlgate.errors import StackError

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_FILE = "stack.json"


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


def is_running(svc: Service) -> bool:
    """True when ``svc.pid`` is alive and is still the process ``up`` started."""
    import psutil

    try:
        proc = psutil.Process(svc.pid)
        same = abs(float(proc.create_time()) - svc.started) < 1.0
        return same and proc.status() != "zombie"
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


def wait_healthy(svc: Service, timeout: float, ready: Callable[[], bool] | None = None) -> None:
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


def bin_path(name: str) -> str:
    """An executable installed next to this Python (the venv's ``prefect``, ``mlgate``)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
