"""Fixtures for the connectors tests: contract, stores, and the real servers (session scoped).

Factories live in connector_factories; the servers (moto, OpenBao, fakesnow) in
tests/connector_servers.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from connector_factories import make_contract, make_rows
from connector_servers import OpenBao, fakesnow_server, moto_s3, new_bucket, openbao

from connectors.schema import arrow_schema
from connectors.store import LocalArtifactStore
from core.spec import DataContract


@pytest.fixture
def contract() -> DataContract:
    return make_contract()


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / f"store-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def sample_table(contract: DataContract) -> pa.Table:
    return pa.Table.from_pylist(make_rows(50), schema=arrow_schema(contract))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback (state shared: tests use their own buckets)."""
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return new_bucket(s3_endpoint)


@pytest.fixture
def s3_creds(monkeypatch: pytest.MonkeyPatch) -> str:
    """URI options with env:// references to dummy S3 keys (moto accepts any)."""
    monkeypatch.setenv("MLGATE_TEST_S3_AK", "test-access-key")
    monkeypatch.setenv("MLGATE_TEST_S3_SK", "test-secret-key")
    return "access_key=env://MLGATE_TEST_S3_AK&secret_key=env://MLGATE_TEST_S3_SK"


@pytest.fixture(scope="session")
def bao() -> Iterator[OpenBao]:
    """A real OpenBao dev server for the session (fails under CI=true if missing)."""
    with openbao() as server:
        yield server


@pytest.fixture(scope="session")
def snowflake_server() -> Iterator[dict[str, Any]]:
    """fakesnow's server on loopback; the real snowflake connector talks to it."""
    with fakesnow_server() as kwargs:
        yield kwargs
