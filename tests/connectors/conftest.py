"""Fixtures for the connectors tests (factories live in connector_factories)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from connector_factories import make_contract, make_rows

from connectors.schema import arrow_schema
from connectors.store import LocalArtifactStore
from mlgate.spec import DataContract


@pytest.fixture
def contract() -> DataContract:
    return make_contract()


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / f"store-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def sample_table(contract: DataContract) -> pa.Table:
    return pa.Table.from_pylist(make_rows(50), schema=arrow_schema(contract))
