"""The audit chain's statements: append events and move the head, read the chain.

The chain head — one ``audit_head`` row holding the newest event's seq and hash — moves
in the same transaction as every append. Locking that row (``SELECT … FOR UPDATE``) is
what serializes appends on PostgreSQL (SQLite: ``BEGIN IMMEDIATE`` already holds the
write lock), so concurrent writers never fork the chain, and it hands over the previous
seq and hash in the same round trip. A unit of work appends at its commit, after its
other statements, so the head is the last lock it takes and is held only briefly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from governance.chain import Head, event_hash, jsonable
from governance.errors import AuditChainError
from governance.models import AuditEvent, audit_head, utcnow
from governance.store.pages import Page, page

__all__ = ["append", "jsonable", "list_events", "read_head", "search_events"]

_EVENTS: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]
_LOCK_HEAD = (
    sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_INSERT_EVENT = sa.insert(_EVENTS)
_MOVE_HEAD = (
    audit_head.update()
    .where(audit_head.c.id == 1, audit_head.c.seq == sa.bindparam("prev_seq"))
    .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)
# PostgreSQL: the event's insert and the head's move in one statement (a data-modifying
# CTE); the head's trigger sees the event the same statement inserted.
_APPENDED = (
    sa.insert(_EVENTS)
    .values({c.name: sa.bindparam(f"e_{c.name}", type_=c.type) for c in _EVENTS.columns})
    .returning(_EVENTS.c.seq, _EVENTS.c.hash)
    .cte("appended")
)
_APPEND_AND_MOVE = (
    audit_head.update()
    .where(
        audit_head.c.id == 1,
        audit_head.c.seq == sa.bindparam("prev_seq"),
        _APPENDED.c.seq == audit_head.c.seq + 1,
    )
    .values(seq=_APPENDED.c.seq, hash=_APPENDED.c.hash)
    .add_cte(_APPENDED)
)
_READ_HEAD = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)

# (actor, action, entity_type, entity_id, payload), the payload already plain JSON.
EventFacts = tuple[str, str, str, str, dict[str, Any]]


def append(session: Session, events: Sequence[EventFacts]) -> None:
    """Chain ``events`` after the head, in the caller's transaction (the head stays locked).

    Raises:
        AuditChainError: the head record is missing, or moved under the lock.
    """
    connection = session.connection()
    row = connection.execute(_LOCK_HEAD).first()
    if row is None:
        raise AuditChainError("the audit chain head record is missing; run audit verify")
    prev = Head(int(row[0]), str(row[1]))
    ts = utcnow()  # microsecond precision survives both backends
    one_statement = connection.dialect.name == "postgresql"
    for actor, action, entity_type, entity_id, payload in events:
        # The head moves one event at a time (a trigger insists).
        fields: dict[str, Any] = {
            "seq": prev.seq + 1,
            "ts": ts,
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "payload": payload,
            "prev_hash": prev.hash,
        }
        digest = event_hash(**fields)
        fields["hash"] = digest
        if one_statement:
            params = {f"e_{name}": value for name, value in fields.items()}
            moved = connection.execute(_APPEND_AND_MOVE, {**params, "prev_seq": prev.seq})
        else:
            connection.execute(_INSERT_EVENT, fields)
            moved = connection.execute(
                _MOVE_HEAD, {"prev_seq": prev.seq, "new_seq": prev.seq + 1, "new_hash": digest}
            )
        if moved.rowcount != 1:
            raise AuditChainError(f"the audit chain head moved away from event {prev.seq}")
        prev = Head(prev.seq + 1, digest)


def read_head(session: Session) -> Head | None:
    """The recorded chain head (None: the head record is missing)."""
    row = session.execute(_READ_HEAD).first()
    return None if row is None else Head(int(row[0]), str(row[1]))


def list_events(session: Session, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEvent]:
    """Events with ``seq > after_seq`` in chain order."""
    statement = (
        select(AuditEvent)
        .where(AuditEvent.seq > after_seq)
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    )
    return list(session.exec(statement).all())


def search_events(
    session: Session,
    *,
    after_seq: int = 0,
    action: str | None = None,
    actor: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    limit: int,
    offset: int = 0,
) -> Page[AuditEvent]:
    """Events with ``seq > after_seq`` matching every filter given, in chain order."""
    statement = select(AuditEvent).where(AuditEvent.seq > after_seq)
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    if actor is not None:
        statement = statement.where(AuditEvent.actor == actor)
    if entity_type is not None:
        statement = statement.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        statement = statement.where(AuditEvent.entity_id == entity_id)
    return page(session, statement.order_by(col(AuditEvent.seq)), limit=limit, offset=offset)
