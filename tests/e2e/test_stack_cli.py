"""`mlgate up | down | status` without starting a whole stack: the refusals and the safety.

Real processes and sockets; `mlgate` runs as a subprocess, as users run it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from e2e_stack import free_port, mlgate_cli

from mlgate.commands.stack import DEMO_SPEC
from mlgate.errors import StackError
from mlgate.stack.processes import Service, spawn, stop, wait_healthy, write_state
from mlgate.stack.services import start_serving
from mlgate.stack.tokens import SERVE_TOKEN_FILE, ensure_serve_token

OWN_PREFECT = True  # no Prefect server needed


def _env(tmp_path: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLGATE_")} | {
        "MLGATE_STACK_DIR": str(tmp_path / "stack")
    }


def test_up_refuses_a_taken_port_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = mlgate_cli(
            "up",
            "--prefect-port",
            str(port),
            "--governance-port",
            str(free_port()),
            env=_env(tmp_path),
            timeout=60,
        )
    assert done.returncode == 1
    assert f"prefect port {port}" in done.stderr and "port taken" in done.stderr
    assert not (tmp_path / "stack" / "stack.json").exists()


def test_status_and_down_without_a_stack(tmp_path: Path) -> None:
    status = mlgate_cli("status", env=_env(tmp_path), timeout=60)
    assert status.returncode == 3 and "not running" in status.stdout
    down = mlgate_cli("down", env=_env(tmp_path), timeout=60)
    assert down.returncode == 0 and "nothing to stop" in down.stdout


def test_a_bad_setting_is_refused_naming_the_variable(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"MLGATE_SERVE_TOKEN": "two words"}
    done = mlgate_cli("up", "--governance-port", str(free_port()), env=env, timeout=60)
    assert done.returncode == 2
    assert "invalid_settings" in done.stderr and "MLGATE_SERVE_TOKEN" in done.stderr
    assert "two words" not in done.stderr + done.stdout
    assert not (tmp_path / "stack").exists()  # refused before anything started


def test_down_leaves_alone_a_process_that_reused_a_recorded_pid(tmp_path: Path) -> None:
    """A recorded pid whose start time differs is someone else's process: never signalled."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(other.pid).create_time()
        stale = Service("worker", other.pid, started - 100, None, None, None, "x.log")
        write_state(tmp_path / "stack", {"worker": stale})

        status = mlgate_cli("status", env=_env(tmp_path), timeout=60)
        assert status.returncode == 1 and "no" in status.stdout
        down = mlgate_cli("down", env=_env(tmp_path), timeout=60)
        assert down.returncode == 0 and "not running" in down.stdout
        time.sleep(0.2)
        assert other.poll() is None  # still alive
    finally:
        other.kill()
        other.wait()


def test_up_reports_a_part_that_dies_with_its_log_tail(tmp_path: Path) -> None:
    """A part that exits during start-up is named, with its log, and nothing stays up."""
    where = tmp_path / "stack"
    svc = spawn(
        "broken",
        [sys.executable, "-c", "import sys; print('cannot bind: boom'); sys.exit(3)"],
        directory=where,
        env=dict(os.environ),
        health="http://127.0.0.1:9/none",
    )
    with pytest.raises(StackError, match="broken exited during start-up") as info:
        wait_healthy(svc, timeout=30)
    assert "cannot bind: boom" in str(info.value)


def test_the_stack_s_prediction_server_requires_its_generated_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up` starts the prediction server with a bearer token of its own (file mode 0600),
    reused by the next `up`; without it the prediction API answers 401."""
    import httpx

    monkeypatch.delenv("MLGATE_SERVE_TOKEN", raising=False)
    monkeypatch.setenv("MLGATE_STORE", str(tmp_path / "artifacts"))
    where = tmp_path / "stack"
    where.mkdir()
    nobody = "http://127.0.0.1:9"  # no governance: the server starts, with no model yet
    svc = start_serving(where, "127.0.0.1", free_port(), DEMO_SPEC, nobody, None, 60)
    try:
        file = where / SERVE_TOKEN_FILE
        assert file.stat().st_mode & 0o777 == 0o600
        token = file.read_text().strip()
        url = f"{svc.url}/api/v1/projects/credit-risk/predict"
        assert httpx.post(url, json={}).status_code == 401
        bad = httpx.post(url, json={}, headers={"Authorization": "Bearer mls_guess"})
        assert bad.status_code == 401
        good = httpx.post(url, json={}, headers={"Authorization": f"Bearer {token}"})
        assert good.status_code != 401, good.text  # past authentication (no model yet)
        assert token not in (where / "logs" / "serve.log").read_text()
    finally:
        stop(svc)
    assert ensure_serve_token(where) == token  # the next `up` reuses it
