"""governance's tables: one SQLModel class per table, extending the wire shapes.

The columns a client sends come from the ``XBase`` classes of :mod:`governance.schemas`;
a table adds what the service decides (ids, versions, who, when). Nothing outside
``governance/`` imports this module: every other package speaks to governance through
its client and the shapes in :mod:`governance.schemas`.

This module deliberately does not use ``from __future__ import annotations``: SQLModel
builds columns from the evaluated annotations of table classes.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Field, SQLModel

from governance.schemas import (
    AlertBase,
    DatasetVersionBase,
    DecisionKind,
    ModelVersionBase,
    MonitoringResultBase,
    PrincipalBase,
    ProjectBase,
    RequestStatus,
    Stage,
    ValidationStatus,
    _enum,
)

__all__ = [
    "Alert",
    "ApiToken",
    "AuditEvent",
    "DatasetVersion",
    "Decision",
    "IdempotencyRecord",
    "ModelVersion",
    "MonitoringResult",
    "Principal",
    "Project",
    "PromotionRequest",
    "StageAssignment",
    "UTCDateTime",
    "audit_head",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so string order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- principals


class Principal(PrincipalBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    disabled: bool = False
    created_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    principal: str = Field(foreign_key="principal.name", index=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    prefix: str = Field(max_length=16, description="first characters, safe to display")
    created_at: datetime = _ts()
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- projects


class Project(ProjectBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    policy: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    revision: int = Field(default=1, description="bumped on every update; the ETag")
    created_by: str = Field(foreign_key="principal.name")
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- datasets


class DatasetVersion(DatasetVersionBase, table=True):
    __tablename__ = "dataset_version"
    __table_args__ = (
        sa.UniqueConstraint("project", "version"),
        sa.UniqueConstraint("project", "content_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(foreign_key="project.name", index=True)
    version: int
    validation_status: ValidationStatus = Field(
        ValidationStatus.pending, sa_type=_enum(ValidationStatus)
    )
    validation_summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_by: str = Field(foreign_key="principal.name")
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- models


class ModelVersion(ModelVersionBase, table=True):
    __tablename__ = "model_version"
    __table_args__ = (
        sa.UniqueConstraint("project", "version"),
        sa.UniqueConstraint("project", "idempotency_key"),
        sa.ForeignKeyConstraint(
            ["project", "dataset_version"],
            ["dataset_version.project", "dataset_version.version"],
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(foreign_key="project.name", index=True)
    version: int
    trained_by: str = Field(foreign_key="principal.name")
    created_at: datetime = _ts()
    # Legacy, no longer written: registration is idempotent through the idempotency
    # records like every POST (governance.store.idempotency). Kept so that databases of
    # earlier releases keep their rows; a later migration may drop them.
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)


# --------------------------------------------------------------------------- promotion


class PromotionRequest(SQLModel, table=True):
    __tablename__ = "promotion_request"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["project", "model_version"], ["model_version.project", "model_version.version"]
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project: str = Field(foreign_key="project.name", index=True)
    model_version: int
    stage: Stage = Field(sa_type=_enum(Stage))
    requested_by: str = Field(foreign_key="principal.name")
    status: RequestStatus = Field(sa_type=_enum(RequestStatus), index=True)
    checks: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    required_approvals: int = 1
    comment: str = ""
    flow_run_id: uuid.UUID | None = Field(default=None)
    revision: int = Field(default=1, description="bumped on every change; the ETag")
    created_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Decision(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("request_id", "principal"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: uuid.UUID = Field(foreign_key="promotion_request.id", index=True)
    principal: str = Field(foreign_key="principal.name")
    decision: DecisionKind = Field(sa_type=_enum(DecisionKind))
    comment: str = ""
    created_at: datetime = _ts()


class StageAssignment(SQLModel, table=True):
    __tablename__ = "stage_assignment"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["project", "model_version"], ["model_version.project", "model_version.version"]
        ),
        # The database itself refuses two current assignments of one stage.
        sa.Index(
            "uq_stage_assignment_current",
            "project",
            "stage",
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(foreign_key="project.name", index=True)
    model_version: int
    stage: Stage = Field(sa_type=_enum(Stage))
    assigned_by: str = Field(foreign_key="principal.name")
    request_id: uuid.UUID | None = Field(default=None, foreign_key="promotion_request.id")
    restores_id: int | None = Field(
        default=None,
        foreign_key="stage_assignment.id",
        description="for a rollback: the earlier assignment this one restores",
    )
    assigned_at: datetime = _ts()
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_reason: str | None = None


# --------------------------------------------------------------------------- idempotency


class IdempotencyRecord(SQLModel, table=True):
    """The stored answer to a POST sent with an ``Idempotency-Key``, per principal."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("principal", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    principal: str = Field(foreign_key="principal.name", max_length=63)
    key: str = Field(max_length=200)
    method: str = Field(max_length=8)
    path: str = Field(max_length=1000)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_type=sa.Text)
    secret_withheld: bool = False
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- monitoring


class MonitoringResult(MonitoringResultBase, table=True):
    __tablename__ = "monitoring_result"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["project", "model_version"], ["model_version.project", "model_version.version"]
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(foreign_key="project.name", index=True)
    created_by: str = Field(foreign_key="principal.name")
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- alerts


class Alert(AlertBase, table=True):
    """Something approvers must see: a production model that cannot be served, a breach."""

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(foreign_key="project.name", index=True)
    raised_by: str = Field(foreign_key="principal.name")
    created_at: datetime = _ts()


# --------------------------------------------------------------------------- audit


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=63)
    action: str = Field(max_length=100, index=True)
    entity_type: str = Field(max_length=63)
    entity_id: str = Field(max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


# One row (id = 1): the newest audit event's seq and hash, moved in the same transaction
# as every append (governance.store.audit); created by migration 0002.
audit_head = sa.Table(
    "audit_head",
    SQLModel.metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
)
