"""API features: idempotency records, revisions (ETags), flow runs, rollback links.

* ``idempotency_record``: the stored answer of each POST sent with an
  ``Idempotency-Key``, unique per principal and key.
* ``project.revision`` and ``promotion_request.revision``: counters sent as ETags and
  checked against ``If-Match``.
* ``promotion_request.flow_run_id``: the Prefect flow run waiting on the request;
  ``promotion_request.expires_at`` is indexed for the expiry sweeper.
* ``stage_assignment.restores_id``: the earlier assignment a rollback restored.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the table, columns and index."""
    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("principal", sa.String(63), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("secret_withheld", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("principal", "key"),
    )
    op.add_column(
        "project", sa.Column("revision", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "promotion_request",
        sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("promotion_request", sa.Column("flow_run_id", sa.Uuid(), nullable=True))
    op.create_index("ix_promotion_request_expires_at", "promotion_request", ["expires_at"])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its REFERENCES clause, but cannot add a constraint.
        op.execute(
            "ALTER TABLE stage_assignment ADD COLUMN restores_id INTEGER "
            "REFERENCES stage_assignment (id)"
        )
    else:
        op.add_column("stage_assignment", sa.Column("restores_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_stage_assignment_restores_id",
            "stage_assignment",
            "stage_assignment",
            ["restores_id"],
            ["id"],
        )


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    with op.batch_alter_table("stage_assignment") as batch:
        if op.get_bind().dialect.name != "sqlite":
            batch.drop_constraint("fk_stage_assignment_restores_id", type_="foreignkey")
        batch.drop_column("restores_id")
    op.drop_index("ix_promotion_request_expires_at", "promotion_request")
    with op.batch_alter_table("promotion_request") as batch:
        batch.drop_column("flow_run_id")
        batch.drop_column("revision")
    with op.batch_alter_table("project") as batch:
        batch.drop_column("revision")
    op.drop_table("idempotency_record")
