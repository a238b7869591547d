"""Alerts: what approvers must see (a production model that cannot be served, a breach).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the alert table."""
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("project", sa.String(), sa.ForeignKey("project.name"), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(2000), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("raised_by", sa.String(), sa.ForeignKey("principal.name"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_project", "alert", ["project"])


def downgrade() -> None:
    """Drop the alert table."""
    op.drop_index("ix_alert_project", table_name="alert")
    op.drop_table("alert")
