"""Baseline: the schema as the first release created it.

Written out explicitly (not ``create_all``), so it stays the same whatever the models
become; later revisions change the schema from here.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def _enum(name: str, *values: str) -> sa.Enum:
    # VARCHAR(16) with a CHECK-free Python enum on read, as the models declare.
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def _pk() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True, nullable=False)


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("actor", sa.String(63), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("entity_type", sa.String(63), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_event_action", "audit_event", ["action"])

    op.create_table(
        "principal",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column(
            "role", _enum("role", "viewer", "developer", "approver", "admin"), nullable=False
        ),
        sa.Column("kind", _enum("principalkind", "human", "service"), nullable=False),
        _pk(),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_principal_name", "principal", ["name"], unique=True)

    op.create_table(
        "api_token",
        _pk(),
        sa.Column("principal", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
    )
    op.create_index("ix_api_token_principal", "api_token", ["principal"])
    op.create_index("ix_api_token_token_hash", "api_token", ["token_hash"], unique=True)

    op.create_table(
        "project",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        _pk(),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_project_name", "project", ["name"], unique=True)

    op.create_table(
        "dataset_version",
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("snapshot_uri", sa.String(1000), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("contract_version", sa.Integer(), nullable=False),
        _pk(),
        sa.Column("project", sa.String(), sa.ForeignKey("project.name"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "validation_status",
            _enum("validationstatus", "pending", "passed", "failed"),
            nullable=False,
        ),
        sa.Column("validation_summary", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("project", "content_hash"),
        sa.UniqueConstraint("project", "version"),
    )
    op.create_index("ix_dataset_version_project", "dataset_version", ["project"])

    op.create_table(
        "model_version",
        sa.Column("algorithm", sa.String(200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact_uri", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("code_version", sa.String(200), nullable=False),
        sa.Column("flow_run_id", sa.String(200), nullable=True),
        _pk(),
        sa.Column("project", sa.String(), sa.ForeignKey("project.name"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trained_by", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["project", "dataset_version"],
            ["dataset_version.project", "dataset_version.version"],
        ),
        sa.UniqueConstraint("project", "idempotency_key"),
        sa.UniqueConstraint("project", "version"),
    )
    op.create_index("ix_model_version_project", "model_version", ["project"])

    op.create_table(
        "monitoring_result",
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("drift_share", sa.Float(), nullable=False),
        sa.Column("dataset_drift", sa.Boolean(), nullable=False),
        sa.Column("drifted_columns", sa.JSON(), nullable=False),
        sa.Column("report_uri", sa.String(1000), nullable=True),
        sa.Column("json_uri", sa.String(1000), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        _pk(),
        sa.Column("project", sa.String(), sa.ForeignKey("project.name"), nullable=False),
        sa.Column("created_by", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project", "model_version"], ["model_version.project", "model_version.version"]
        ),
    )
    op.create_index("ix_monitoring_result_project", "monitoring_result", ["project"])

    op.create_table(
        "promotion_request",
        sa.Column("id", sa.Uuid(), primary_key=True, nullable=False),
        sa.Column("project", sa.String(), sa.ForeignKey("project.name"), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("stage", _enum("stage", "production", "staging"), nullable=False),
        sa.Column("requested_by", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column(
            "status",
            _enum("requeststatus", "pending", "approved", "rejected", "expired", "blocked"),
            nullable=False,
        ),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["project", "model_version"], ["model_version.project", "model_version.version"]
        ),
    )
    op.create_index("ix_promotion_request_project", "promotion_request", ["project"])
    op.create_index("ix_promotion_request_status", "promotion_request", ["status"])

    op.create_table(
        "decision",
        _pk(),
        sa.Column("request_id", sa.Uuid(), sa.ForeignKey("promotion_request.id"), nullable=False),
        sa.Column("principal", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("decision", _enum("decisionkind", "approve", "reject"), nullable=False),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("request_id", "principal"),
    )
    op.create_index("ix_decision_request_id", "decision", ["request_id"])

    op.create_table(
        "stage_assignment",
        _pk(),
        sa.Column("project", sa.String(), sa.ForeignKey("project.name"), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("stage", _enum("stage", "production", "staging"), nullable=False),
        sa.Column("assigned_by", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("request_id", sa.Uuid(), sa.ForeignKey("promotion_request.id"), nullable=True),
        sa.Column("assigned_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("ended_reason", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project", "model_version"], ["model_version.project", "model_version.version"]
        ),
    )
    op.create_index("ix_stage_assignment_project", "stage_assignment", ["project"])
    # The database itself refuses two current assignments of one stage.
    op.create_index(
        "uq_stage_assignment_current",
        "stage_assignment",
        ["project", "stage"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )


def downgrade() -> None:
    """Drop every table (children first)."""
    for table in (
        "stage_assignment",
        "decision",
        "promotion_request",
        "monitoring_result",
        "model_version",
        "dataset_version",
        "project",
        "api_token",
        "principal",
        "audit_event",
    ):
        op.drop_table(table)
