"""Helpers of the prediction-server tests: real governance, real models, a real server.

Governance runs under uvicorn in a thread on a SQLite file; models are trained with
the project's own candidates on the demo's data, stored as skops artifacts in a local
store and registered and promoted through governance's HTTP API (a developer
requests, an approver approves). The prediction server runs under uvicorn in a
thread too, on a free loopback port.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from demo_factories import applications

from connectors.store import ArtifactStore, LocalArtifactStore
from core.spec import ProjectSpec, load_spec
from flows.train import make_candidate
from governance.admin import bootstrap_admin
from governance.client import GovernanceClient
from governance.server import RunningServer, start_in_thread
from mlgate.demo.run import SPEC_FILE
from scoring import model_format
from serving.app import create_app
from serving.settings import ServeSettings

BASE_SPEC = load_spec(SPEC_FILE)


def rand(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Registry:
    """Governance with a project, its people and a store of real model artifacts."""

    server: RunningServer
    store: ArtifactStore
    spec: ProjectSpec
    admin: GovernanceClient
    dev: GovernanceClient
    approver: GovernanceClient
    service_token: str
    dataset_version: int
    models: dict[int, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def project(self) -> str:
        return self.spec.name

    def register(self, algorithm: str, *, seed: int = 0, rows: int = 1_500) -> int:
        """Train a candidate on demo data, store it and register it; returns its version."""
        train = applications(rows, seed=seed)
        contract = self.spec.contract
        model = make_candidate(algorithm, contract, seed=seed).fit(
            train[contract.features], train[contract.target]
        )
        stored = self.store.put_bytes(model_format.dumps(model), kind="models", suffix=".skops")
        registered = self.dev.register_model(
            self.project,
            algorithm=algorithm,
            params={},
            metrics={"roc_auc": 0.9},
            artifact_uri=stored.uri,
            sha256=stored.sha256,
            dataset_version=self.dataset_version,
            code_version="test",
        )
        self.models[registered.version] = model
        return registered.version

    def promote(self, version: int) -> None:
        """Request and approve production for ``version`` through the API."""
        request = self.dev.request_promotion(self.project, version)
        assert request.status == "pending", request
        decided = self.approver.decide(str(request.id), "approve", comment="test")
        assert decided.status == "approved", decided

    def close(self) -> None:
        for client in (self.admin, self.dev, self.approver):
            client.close()
        self.server.stop()


@contextmanager
def registry(tmp_path: Path, extra_stores: Sequence[str] = ()) -> Iterator[Registry]:
    """A running governance with a fresh project named like the demo's, plus its store.

    Governance records locations in that store, and in ``extra_stores`` (store URIs).
    """
    database_url = f"sqlite:///{tmp_path / 'governance.db'}"
    local = tmp_path / "artifacts"
    server = start_in_thread(database_url, stores=[f"file://{local}", *extra_stores])
    admin = GovernanceClient(server.url, bootstrap_admin(database_url, name="admin"))
    _, dev_token = admin.create_principal(rand("dev"), "developer")
    _, approver_token = admin.create_principal(rand("approver"), "approver")
    _, service_token = admin.create_principal(rand("server"), "viewer", kind="service")
    dev = GovernanceClient(server.url, dev_token)
    approver = GovernanceClient(server.url, approver_token)
    spec = BASE_SPEC.model_copy(update={"name": rand("credit")})
    dev.ensure_project(spec.name, "serving test", {"metric_floors": {}, "require_validation": True})
    store = LocalArtifactStore(local)
    dataset = dev.register_dataset(
        spec.name,
        source="file://applications.csv",
        snapshot_uri=f"file://{local}/snapshots/snapshot.parquet",
        content_hash=secrets.token_hex(32),
        row_count=1_500,
        contract_version=1,
    )
    dev.record_validation(spec.name, dataset.version, passed=True, summary={})
    reg = Registry(server, store, spec, admin, dev, approver, service_token, dataset.version)
    try:
        yield reg
    finally:
        reg.close()


@dataclass
class PredictionServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    def stop(self) -> None:
        """Graceful shutdown: in-flight requests finish, then the log is flushed."""
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "prediction server did not stop"


def start_server(reg: Registry, **settings: Any) -> PredictionServer:
    """The prediction server for ``reg``'s project, ready to answer (not yet ready to score).

    With ``store=URL`` the server opens its store from that setting, as ``mlgate serve``
    does; otherwise it is handed ``reg.store``.
    """
    store_url = settings.pop("store", None)
    config_settings = ServeSettings(
        governance_url=reg.url,
        token=reg.service_token,
        store=store_url,
        serve_poll_interval_s=settings.pop("serve_poll_interval_s", 0.2),
        serve_log_flush_s=settings.pop("serve_log_flush_s", 0.2),
        **settings,
    )
    app = create_app(reg.spec, config_settings, store=None if store_url else reg.store)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"predict-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return PredictionServer(url, server, thread, app)
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("prediction server did not start")


def wait_for_version(url: str, version: int, timeout: float = 30.0) -> None:
    """Wait until the server says it serves ``version``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = httpx.get(f"{url}/readyz", timeout=5)
        if last.status_code == 200 and last.json()["version"] == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"server never served version {version}: {last and last.text}")
