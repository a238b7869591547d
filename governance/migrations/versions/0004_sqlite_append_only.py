"""SQLite: the audit trail append-only in the database too.

The same rules as PostgreSQL's triggers (migration 0002): ``audit_event`` refuses UPDATE
and DELETE; ``audit_head`` refuses DELETE and moves forward one event at a time, to an
event that exists. SQLite has no roles: whoever can write the database file can drop
these triggers, so against that verify (and a pinned head, and exports) remain the
defence; the triggers stop every ordinary connection, the service's included.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_SQLITE_UPGRADE = [
    """
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN
        SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused');
    END
    """,
    """
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN
        SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused');
    END
    """,
    """
    CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
    WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1
        OR NOT EXISTS (SELECT 1 FROM audit_event WHERE seq = NEW.seq AND hash = NEW.hash)
    BEGIN
        SELECT RAISE(ABORT, 'audit_head moves forward one event at a time, to an existing event');
    END
    """,
    """
    CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    BEGIN
        SELECT RAISE(ABORT, 'audit_head: DELETE refused');
    END
    """,
]
_TRIGGERS = [
    "audit_head_no_delete",
    "audit_head_forward_only",
    "audit_event_no_delete",
    "audit_event_no_update",
]


def upgrade() -> None:
    """Create the triggers (SQLite only; PostgreSQL has had its own since 0002)."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers."""
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
