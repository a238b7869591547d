"""The audit trail's chain head, and (PostgreSQL) an append-only audit table.

* ``audit_head``: one row holding the seq and hash of the newest event, moved in the same
  transaction as every append; verify compares the chain's tail with it, so deleting
  the newest events (truncation) is caught. Filled from the existing chain's last event.
* PostgreSQL: a trigger refuses UPDATE, DELETE and TRUNCATE on ``audit_event`` for every
  role, the table owner included; another lets ``audit_head`` move only forward, one
  event at a time, onto an event that exists, and refuses DELETE and TRUNCATE on it.
  A superuser can still bypass triggers (``session_replication_role = replica`` or
  ``ALTER TABLE … DISABLE TRIGGER``); verify catches what such a user changes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

GENESIS_HASH = "0" * 64

_PG_UPGRADE = [
    """
    CREATE FUNCTION mlgate_audit_event_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'the audit trail only grows; record a correction as a new event';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_event_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event
        FOR EACH STATEMENT EXECUTE FUNCTION mlgate_audit_event_append_only()
    """,
    """
    CREATE FUNCTION mlgate_audit_head_forward_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'UPDATE' THEN
            RAISE EXCEPTION 'audit_head: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
            RAISE EXCEPTION 'audit_head moves forward one event at a time (from % to % refused)',
                OLD.seq, NEW.seq
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM audit_event WHERE seq = NEW.seq AND hash = NEW.hash) THEN
            RAISE EXCEPTION 'audit_head must point at an existing event (seq % refused)', NEW.seq
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER audit_head_forward_only
        BEFORE UPDATE ON audit_head
        FOR EACH ROW EXECUTE FUNCTION mlgate_audit_head_forward_only()
    """,
    """
    CREATE TRIGGER audit_head_no_delete
        BEFORE DELETE OR TRUNCATE ON audit_head
        FOR EACH STATEMENT EXECUTE FUNCTION mlgate_audit_head_forward_only()
    """,
]

_PG_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head",
    "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head",
    "DROP FUNCTION IF EXISTS mlgate_audit_head_forward_only()",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    "DROP FUNCTION IF EXISTS mlgate_audit_event_append_only()",
]


def upgrade() -> None:
    """Create the chain head from the current last event; on PostgreSQL, the triggers."""
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
    )
    last = (
        op.get_bind()
        .execute(sa.text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"))
        .first()
    )
    seq, hash_ = (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))
    op.bulk_insert(head, [{"id": 1, "seq": seq, "hash": hash_}])
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers and the chain head."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DOWNGRADE:
            op.execute(statement)
    op.drop_table("audit_head")
