"""Alerts: insert and list."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from governance.models import Alert
from governance.schemas import AlertCreate
from governance.store import projects
from governance.store.pages import Page, page

__all__ = ["insert", "list_of"]


def insert(
    session: Session, *, project: str, body: AlertCreate, raised_by: str, created_at: datetime
) -> Alert:
    """Insert an alert (its id is assigned)."""
    row = Alert.model_validate(
        body, update={"project": project, "raised_by": raised_by, "created_at": created_at}
    )
    session.add(row)
    session.flush()
    return row


def list_of(
    session: Session,
    project: str,
    *,
    kind: str | None,
    model_version: int | None,
    limit: int,
    offset: int,
) -> Page[Alert]:
    """A project's alerts, newest first, optionally of one kind or model version."""
    projects.get(session, project)
    statement = select(Alert).where(Alert.project == project)
    if kind is not None:
        statement = statement.where(Alert.kind == kind)
    if model_version is not None:
        statement = statement.where(Alert.model_version == model_version)
    statement = statement.order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
    return page(session, statement, limit=limit, offset=offset)
