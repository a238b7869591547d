"""PostgreSQL: the append-only triggers fire always, also under replication.

Triggers created plainly are ``ENABLE ORIGIN``: a session with
``session_replication_role = replica`` (a superuser's setting, meant for replication)
skips them silently. ``ENABLE ALWAYS`` makes them fire in every session; only the tables'
owner can still disable them, which is an explicit, visible act. SQLite has no such
setting.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

TRIGGERS = (
    ("audit_event", "audit_event_append_only"),
    ("audit_head", "audit_head_forward_only"),
    ("audit_head", "audit_head_no_delete"),
)


def upgrade() -> None:
    """Make every append-only trigger ``ENABLE ALWAYS`` (PostgreSQL)."""
    if op.get_context().dialect.name != "postgresql":
        return
    for table, trigger in TRIGGERS:
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


def downgrade() -> None:
    """Back to the default, ``ENABLE`` (origin only)."""
    if op.get_context().dialect.name != "postgresql":
        return
    for table, trigger in TRIGGERS:
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
