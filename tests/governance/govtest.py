"""Helpers of the governance tests: random names, a running server, sample data."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from governance.client import GovernanceClient
from governance.schemas import ModelVersionPublic
from governance.server import RunningServer

# The artifact stores the test services accept (MLGATE_STORES, set for every governance
# test by conftest.py); sample locations lie inside the first.
STORE = "file:///srv/mlgate-test/artifacts"
S3_STORE = "s3://mlgate-test/artifacts"


def rand(prefix: str) -> str:
    """A unique name, so tests sharing a database never collide."""
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class Gov:
    """A running governance server, its database and an admin client."""

    server: RunningServer
    database_url: str
    admin: GovernanceClient
    clients: list[GovernanceClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, role: str, name: str | None = None) -> GovernanceClient:
        """A new principal of ``role`` and a client authenticated as it."""
        _, token = self.admin.create_principal(name or rand(role), role)
        client = GovernanceClient(self.url, token)
        self.clients.append(client)
        return client

    def engine(self) -> sa.Engine:
        # No pool: each connection closes with its block, none is left for the GC.
        return sa.create_engine(self.database_url, poolclass=NullPool)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Setup:
    """A project with a validated dataset and a model trained by ``dev``."""

    project: str
    dev: GovernanceClient
    dataset_version: int
    model_version: int


def make_project(
    gov: Gov,
    dev: GovernanceClient,
    *,
    policy: dict[str, object] | None = None,
    metrics: dict[str, float] | None = None,
    validated: bool = True,
) -> Setup:
    project = rand("proj")
    dev.ensure_project(project, "test project", policy or {"metric_floors": {"roc_auc": 0.7}})
    dataset = dev.register_dataset(
        project,
        source="file://applications.csv",
        snapshot_uri=f"{STORE}/snapshots/{project}.parquet",
        content_hash=sha(project),
        row_count=1000,
        contract_version=1,
    )
    if validated:
        dev.record_validation(project, dataset.version, passed=True, summary={"failed": 0})
    model = register_model(dev, project, dataset.version, metrics=metrics)
    return Setup(project, dev, dataset.version, model.version)


def register_model(
    client: GovernanceClient,
    project: str,
    dataset_version: int,
    *,
    metrics: dict[str, float] | None = None,
    idempotency_key: str | None = None,
    algorithm: str = "random_forest",
) -> ModelVersionPublic:
    return client.register_model(
        project,
        algorithm=algorithm,
        params={"n_estimators": 100},
        metrics=metrics if metrics is not None else {"roc_auc": 0.8},
        artifact_uri=f"{STORE}/models/{project}.skops",
        sha256=sha(algorithm),
        dataset_version=dataset_version,
        code_version="0.1.0",
        idempotency_key=idempotency_key,
    )


# The append-only triggers of PostgreSQL (migrations 0002, 0006), by table.
PG_TRIGGERS = (
    ("audit_event", "audit_event_append_only"),
    ("audit_head", "audit_head_forward_only"),
    ("audit_head", "audit_head_no_delete"),
)


@contextmanager
def triggers_bypassed(conn: sa.Connection) -> Iterator[None]:
    """Switch the append-only triggers off for the change and on again, as the tables'
    owner (a PostgreSQL superuser) or anyone who can write the SQLite file can.
    """
    if conn.dialect.name == "postgresql":
        for table, trigger in PG_TRIGGERS:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        yield
        for table, trigger in PG_TRIGGERS:
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")
        return
    triggers = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
    ).all()
    assert len(triggers) == 4, triggers
    for name, _sql in triggers:
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
    yield
    for _name, sql in triggers:
        conn.exec_driver_sql(sql)
