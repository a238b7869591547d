"""governance's wire shapes: enums and the bodies the API takes and returns, no database.

Named by role, as in FastAPI's full-stack template: ``XBase`` holds the fields a client
sends, ``XCreate`` is a request body, ``XPublic`` what the API returns. The tables
(:mod:`governance.models`) extend the ``XBase`` classes; the client
(:mod:`governance.client`) and every package outside governance import only this module,
so importing the client loads no table and no database layer. Child rows reference their
project by its immutable name and principals by their unique name, so a public shape is
the row itself and the audit trail reads without joins.

This module deliberately does not use ``from __future__ import annotations``: SQLModel
builds the tables' columns from the evaluated annotations of these base classes.
"""

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlmodel import JSON, Field, SQLModel

NAME_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"

MAX_INT = 2**31 - 1

PRINCIPAL_PATTERN = r"^[a-z][a-z0-9_.-]{0,62}$"


# --------------------------------------------------------------------------- enums


class Role(enum.StrEnum):
    """Hierarchical roles: each one may do everything the ones before it may."""

    viewer = "viewer"
    developer = "developer"
    approver = "approver"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, required: "Role") -> bool:
        """Whether this role is at least ``required``."""
        return self.rank >= required.rank


class PrincipalKind(enum.StrEnum):
    human = "human"
    service = "service"


class ValidationStatus(enum.StrEnum):
    pending = "pending"
    passed = "passed"
    failed = "failed"


class RequestStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    blocked = "blocked"


class DecisionKind(enum.StrEnum):
    approve = "approve"
    reject = "reject"


class Stage(enum.StrEnum):
    production = "production"
    staging = "staging"


def _enum(kind: type[enum.StrEnum]) -> sa.Enum:
    # VARCHAR + Python enum on read, on both backends (no PostgreSQL enum types to migrate).
    return sa.Enum(
        kind, native_enum=False, length=16, values_callable=lambda m: [x.value for x in m]
    )


# --------------------------------------------------------------------------- principals


class PrincipalBase(SQLModel):
    name: str = Field(
        unique=True,
        index=True,
        max_length=63,
        schema_extra={"pattern": PRINCIPAL_PATTERN},
        description="unique login name",
    )
    role: Role = Field(sa_type=_enum(Role), description="viewer < developer < approver < admin")
    kind: PrincipalKind = Field(
        default=PrincipalKind.human,
        sa_type=_enum(PrincipalKind),
        description="human or service account",
    )


class PrincipalCreate(PrincipalBase):
    pass


class PrincipalPublic(PrincipalBase):
    id: int
    disabled: bool
    created_at: datetime


class ApiTokenPublic(SQLModel):
    id: int
    principal: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(SQLModel):
    """A new token: ``token`` is shown this once and never stored."""

    token: str
    info: ApiTokenPublic


class PrincipalCreated(SQLModel):
    principal: PrincipalPublic
    token: str
    token_info: ApiTokenPublic


# --------------------------------------------------------------------------- projects


class Policy(BaseModel):
    """A project's promotion policy: what must hold before a model reaches a stage."""

    model_config = ConfigDict(extra="forbid")

    required_approvals: int = Field(default=1, ge=1, le=10, description="distinct approvers needed")
    metric_floors: dict[str, float] = Field(
        default_factory=dict, description="metric name -> smallest acceptable value"
    )
    require_validation: bool = Field(
        True, description="the model's training data must have passed validation"
    )
    max_drift_share: float | None = Field(
        None, ge=0.0, le=1.0, description="refuse when the latest drift share exceeds this"
    )
    request_ttl_hours: float | None = Field(
        None, gt=0, le=24 * 90, description="requests expire after (None: service default)"
    )


class ProjectBase(SQLModel):
    name: str = Field(
        unique=True,
        index=True,
        max_length=63,
        schema_extra={"pattern": NAME_PATTERN},
        description="slug",
    )
    description: str = Field(default="", max_length=2000)


class ProjectCreate(ProjectBase):
    policy: Policy = Field(default_factory=Policy)


class ProjectPublic(ProjectBase):
    id: int
    policy: Policy
    revision: int = Field(default=1, description="bumped on every update; sent as the ETag")
    created_by: str
    created_at: datetime


# --------------------------------------------------------------------------- datasets


class DatasetVersionBase(SQLModel):
    source: str = Field(max_length=1000, description="where the data came from (URI)")
    snapshot_uri: str = Field(max_length=1000, description="immutable snapshot in the store")
    content_hash: str = Field(max_length=128, description="hash of the snapshot's content")
    row_count: int = Field(ge=0, le=MAX_INT)
    contract_version: int = Field(ge=1, le=MAX_INT, description="version of the data contract")


class DatasetVersionCreate(DatasetVersionBase):
    pass


class DatasetVersionPublic(DatasetVersionBase):
    id: int
    project: str
    version: int
    validation_status: ValidationStatus
    validation_summary: dict[str, Any]
    created_by: str
    created_at: datetime


class ValidationCreate(SQLModel):
    passed: bool
    summary: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- models


class ModelVersionBase(SQLModel):
    algorithm: str = Field(max_length=200)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    metrics: dict[str, float] = Field(default_factory=dict, sa_type=JSON)
    artifact_uri: str = Field(max_length=1000)
    sha256: str = Field(min_length=64, max_length=64, schema_extra={"pattern": r"^[0-9a-f]{64}$"})
    dataset_version: int = Field(
        ge=1, le=MAX_INT, description="dataset version the model was trained on"
    )
    code_version: str = Field(max_length=200, description="git commit or package version")
    flow_run_id: str | None = Field(default=None, max_length=200)


class ModelVersionCreate(ModelVersionBase):
    pass


class ModelVersionPublic(ModelVersionBase):
    id: int
    project: str
    version: int
    trained_by: str
    created_at: datetime


# --------------------------------------------------------------------------- promotion


class Check(BaseModel):
    """One policy check of a promotion request."""

    name: str
    passed: bool
    detail: str


class PromotionRequestCreate(SQLModel):
    model_version: int = Field(ge=1, le=MAX_INT)
    stage: Stage = Stage.production
    comment: str = Field(default="", max_length=2000)
    flow_run_id: uuid.UUID | None = Field(
        default=None,
        description="Prefect flow run waiting on this request; resumed once it is decided",
    )


class DecisionCreate(SQLModel):
    decision: DecisionKind
    comment: str = Field(default="", max_length=2000)


class DecisionPublic(SQLModel):
    id: int
    request_id: uuid.UUID
    principal: str
    decision: DecisionKind
    comment: str
    created_at: datetime


class PromotionRequestPublic(SQLModel):
    id: uuid.UUID
    project: str
    model_version: int
    stage: Stage
    requested_by: str
    status: RequestStatus
    checks: list[Check]
    required_approvals: int
    comment: str
    flow_run_id: uuid.UUID | None = None
    revision: int = Field(default=1, description="bumped on every change; sent as the ETag")
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    detail: str = Field(default="", description="one line on where the request stands")
    decisions: list[DecisionPublic] = Field(default_factory=list)


# --------------------------------------------------------------------------- stages


class StageAssignmentPublic(SQLModel):
    id: int
    project: str
    model_version: int
    stage: Stage
    assigned_by: str
    request_id: uuid.UUID | None
    restores_id: int | None = None
    assigned_at: datetime
    ended_at: datetime | None
    ended_reason: str | None


class RollbackCreate(SQLModel):
    comment: str = Field(default="", max_length=2000, description="why the stage is rolled back")


class RollbackPublic(SQLModel):
    """What a rollback did: the assignment it ended and the one it created."""

    project: str
    stage: Stage
    from_model_version: int
    to_model_version: int
    ended: StageAssignmentPublic
    current: StageAssignmentPublic


class StageCurrentPublic(StageAssignmentPublic):
    """The current assignment of a stage, with the model version it points to."""

    model: ModelVersionPublic


class ModelLineage(SQLModel):
    """Everything governance knows about where a model version came from and went."""

    model: ModelVersionPublic
    datasets: list[DatasetVersionPublic] = Field(description="the data that trained it")
    code_version: str
    flow_run_id: str | None
    trained_by: str
    promotion_requests: list[PromotionRequestPublic] = Field(
        description="oldest first, each with its checks and decisions"
    )
    stage_history: list[StageAssignmentPublic] = Field(
        description="when it held which stage, oldest first (ended_at None: holds it now)"
    )


# --------------------------------------------------------------------------- monitoring


class MonitoringResultBase(SQLModel):
    model_version: int = Field(ge=1, le=MAX_INT)
    kind: str = Field(default="drift", max_length=32)
    drift_share: float = Field(ge=0.0, le=1.0)
    dataset_drift: bool
    drifted_columns: list[str] = Field(default_factory=list, sa_type=JSON)
    report_uri: str | None = Field(default=None, max_length=1000)
    json_uri: str | None = Field(default=None, max_length=1000)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class MonitoringResultCreate(MonitoringResultBase):
    pass


class MonitoringResultPublic(MonitoringResultBase):
    id: int
    project: str
    created_by: str
    created_at: datetime


# --------------------------------------------------------------------------- alerts


class AlertBase(SQLModel):
    kind: str = Field(
        max_length=63,
        schema_extra={"pattern": r"^[a-z][a-z0-9_.-]{0,62}$"},
        description="what happened, e.g. model_load_failed or drift_breach",
    )
    model_version: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="the model version it concerns, if any"
    )
    detail: str = Field(max_length=2000, description="what is wrong, for the people who decide")
    source: str = Field(
        default="", max_length=200, description="who noticed, e.g. prediction-server"
    )


class AlertCreate(AlertBase):
    pass


class AlertPublic(AlertBase):
    id: int
    project: str
    raised_by: str
    created_at: datetime


# --------------------------------------------------------------------------- audit


class AuditEventPublic(SQLModel):
    seq: int
    ts: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class BrokenLink(SQLModel):
    seq: int
    reason: str


class VerifyResult(SQLModel):
    ok: bool
    events_checked: int
    first_broken: BrokenLink | None = None


class Health(SQLModel):
    status: str = "ok"
    database: str
    version: str
