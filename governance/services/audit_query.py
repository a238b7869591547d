"""Reading the audit trail with filters (the chain itself lives in :mod:`.audit`)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from governance.models import AuditEvent
from governance.services.pages import Page, page

__all__ = ["search_events"]


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
