"""Real servers for the connector tests, on loopback: moto (S3), OpenBao (Vault), fakesnow.

Each is the real thing speaking the real wire protocol over HTTP: moto's server mode for
S3, the OpenBao server binary in dev mode for Vault (same HTTP API), fakesnow's server
for Snowflake (the real connector talks to it). Shared by tests/connectors and tests/e2e.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DUMMY_AWS = {"aws_access_key_id": "mlgate-admin", "aws_secret_access_key": "mlgate-admin"}


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- S3 (moto) ----------------------------------------------------------------------------


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@functools.cache
def s3_admin(endpoint: str) -> Any:
    """A boto3 client for setting up buckets and objects (moto accepts any key here)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **DUMMY_AWS)


def new_bucket(endpoint: str) -> str:
    name = unique("mlgate")
    s3_admin(endpoint).create_bucket(Bucket=name)
    return name


@contextlib.contextmanager
def s3_auth_enforced(endpoint: str) -> Iterator[None]:
    """moto checks access keys against its IAM while inside (none exist: all refused)."""
    import requests

    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=5)


# --- Vault (OpenBao) ----------------------------------------------------------------------


def bao_binary() -> str:
    """The OpenBao server binary: $MLGATE_BAO_BIN, the project's tools dir, or PATH.

    Missing, the Vault tests skip, except under ``CI=true`` where they fail.
    """
    candidates = [
        os.environ.get("MLGATE_BAO_BIN", ""),
        str(REPO / ".tools" / "openbao" / "bin" / "bao"),
        shutil.which("bao") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = "OpenBao server binary not found (set MLGATE_BAO_BIN; `make pytest` installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class OpenBao:
    """An OpenBao dev server (in-memory, unsealed, KV v2 at ``secret/``) on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.root_token = f"root-{uuid.uuid4().hex}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OpenBao:
        binary = bao_binary()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        self._proc = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"OpenBao exited with {self._proc.returncode}")
            try:
                if self.client().sys.is_initialized():
                    return self
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("OpenBao did not come up within 30 s")

    def client(self, token: str | None = None) -> Any:
        import hvac

        return hvac.Client(url=self.addr, token=token or self.root_token, timeout=5)

    def put(self, path: str, **values: str) -> None:
        """Write a KV v2 secret under the ``secret/`` mount."""
        self.client().secrets.kv.v2.create_or_update_secret(
            path=path, secret=values, mount_point="secret"
        )

    def approle(
        self, name: str, *, paths: str, token_ttl: str, token_max_ttl: str
    ) -> tuple[str, str]:
        """An AppRole allowed to read ``secret/data/<paths>``; returns (role_id, secret_id)."""
        root = self.client()
        if "approle/" not in root.sys.list_auth_methods()["data"]:
            root.sys.enable_auth_method("approle")
        root.sys.create_or_update_policy(
            name, f'path "secret/data/{paths}" {{ capabilities = ["read"] }}'
        )
        root.auth.approle.create_or_update_approle(
            name, token_policies=[name], token_ttl=token_ttl, token_max_ttl=token_max_ttl
        )
        role_id = root.auth.approle.read_role_id(name)["data"]["role_id"]
        secret_id = root.auth.approle.generate_secret_id(name)["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def token(self, *, ttl: str, policies: list[str] | None = None) -> str:
        """A child token of the root token (renewable, with a TTL)."""
        created = self.client().auth.token.create(policies=policies, ttl=ttl, renewable=True)
        return str(created["auth"]["client_token"])

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@contextlib.contextmanager
def openbao() -> Iterator[OpenBao]:
    bao = OpenBao().start()
    try:
        yield bao
    finally:
        bao.stop()


# --- Snowflake (fakesnow) -----------------------------------------------------------------


@contextlib.contextmanager
def fakesnow_server() -> Iterator[dict[str, Any]]:
    """fakesnow's server on loopback; yields the real connector's connect() kwargs."""
    import fakesnow

    with fakesnow.server() as kwargs:
        yield dict(kwargs)
