"""Helpers of the end-to-end tests that drive a real ``mlgate up`` stack over HTTP."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from governance.client import GovernanceClient
from mlgate.demo import data as demo_data
from mlgate.demo.run import SPEC_FILE

REPO = Path(__file__).resolve().parents[2]
MLGATE = str(Path(sys.executable).parent / "mlgate")
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlgate_cli(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLGATE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


class Stack:
    """A running ``mlgate up`` stack and what the tests need to drive it."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.dir = root / "stack"
        state = json.loads((self.dir / "stack.json").read_text())["services"]
        self.services = state
        self.prefect = state["prefect"]["url"] + "/api"
        self.governance = state["governance"]["url"]
        self.tokens = json.loads((self.dir / "tokens.json").read_text())
        self.http = httpx.Client(base_url=self.prefect, timeout=30)
        self._approver: str | None = None

    # -- governance ---------------------------------------------------------------------
    def admin(self) -> GovernanceClient:
        return GovernanceClient(self.governance, self.tokens["admin"])

    def approver(self) -> GovernanceClient:
        """bob, an approver who neither trained nor requested anything."""
        if self._approver is None:
            with self.admin() as admin:
                _, self._approver = admin.create_principal("bob", "approver")
        return GovernanceClient(self.governance, self._approver)

    # -- a project of its own per test ----------------------------------------------------
    def project(self, rows: int = 3_000, **policy: Any) -> dict[str, Any]:
        """A fresh project (own spec, data and store); returns the flow parameters."""
        name = f"cr-{secrets.token_hex(3)}"
        base = self.root / name
        spec = yaml.safe_load(SPEC_FILE.read_text())
        spec["name"] = name
        spec["policy"].update(policy)
        (base / "data").mkdir(parents=True)
        spec_path = base / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(spec))
        demo_data.write_csv(demo_data.make_applications(rows), base / "data" / "applications.csv")
        demo_data.write_csv(demo_data.make_current_batch(1_000), base / "data" / "current.csv")
        return {
            "spec_path": str(spec_path),
            "data_dir": str(base / "data"),
            "store_url": str(base / "artifacts"),
            "governance_url": self.governance,
            "token_ref": "env://MLGATE_TOKEN",
        }

    # -- prefect ------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Prefect's REST API; 503 (SQLite busy on a loaded machine) is retried, as
        Prefect's own client does."""
        for delay in (0.5, 1, 2, 4, 8, 0):
            response = self.http.request(method, path, **kwargs)
            if response.status_code != 503 or not delay:
                break
            time.sleep(delay)
        response.raise_for_status()
        return response

    def deployment_id(self, flow: str, name: str) -> str:
        response = self.api("GET", f"/deployments/name/{flow}/{name}")
        return str(response.json()["id"])

    def run(self, flow: str, name: str, params: dict[str, Any]) -> str:
        """Create a flow run of a deployment (the worker picks it up); returns its id."""
        dep = self.deployment_id(flow, name)
        response = self.api(
            "POST", f"/deployments/{dep}/create_flow_run", json={"parameters": {"params": params}}
        )
        return str(response.json()["id"])

    def flow_run(self, run_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/flow_runs/{run_id}")
        return dict(response.json())

    def wait_state(self, run_id: str, states: set[str], timeout: float = 240) -> dict[str, Any]:
        """Wait until the run's state type is one of ``states`` (fails on another end)."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.flow_run(run_id)
            if run["state_type"] in states:
                return run
            if run["state_type"] in TERMINAL:
                raise AssertionError(
                    f"run ended {run['state_type']}: {run['state']['message']}\n{self.log_tail()}"
                )
            time.sleep(0.5)
        raise AssertionError(
            f"run still {run.get('state_type')} after {timeout} s\n{self.log_tail()}"
        )

    def wait_suspended_again(
        self, run_id: str, state_id: str, timeout: float = 240
    ) -> dict[str, Any]:
        """Wait until the run, resumed from state ``state_id``, ran again and is paused."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.flow_run(run_id)
            if run["state_type"] == "PAUSED" and run["state"]["id"] != state_id:
                return run
            assert run["state_type"] not in TERMINAL, run["state"]
            time.sleep(0.5)
        raise AssertionError(f"run was not suspended again\n{self.log_tail()}")

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": [run_id]}}}
        response = self.api("POST", "/task_runs/filter", json=body)
        return list(response.json())

    def artifacts(self, key: str) -> list[dict[str, Any]]:
        body = {"artifacts": {"key": {"any_": [key]}}}
        response = self.api("POST", "/artifacts/filter", json=body)
        response.raise_for_status()
        return list(response.json())

    def log_tail(self, lines: int = 40) -> str:
        log = self.dir / "logs" / "worker.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
