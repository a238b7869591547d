"""Monitoring results: insert, list, and the latest drift share a policy judges."""

from __future__ import annotations

from sqlmodel import Session, col, select

from governance.models import MonitoringResult
from governance.schemas import MonitoringResultCreate
from governance.store import projects
from governance.store.pages import Page, page

__all__ = ["insert", "latest", "list_of"]


def insert(
    session: Session, *, project: str, body: MonitoringResultCreate, created_by: str
) -> MonitoringResult:
    """Insert a monitoring result (its id is assigned)."""
    row = MonitoringResult.model_validate(
        body, update={"project": project, "created_by": created_by}
    )
    session.add(row)
    session.flush()
    return row


def latest(session: Session, project: str) -> MonitoringResult | None:
    """The project's newest monitoring result, if any."""
    return session.exec(
        select(MonitoringResult)
        .where(MonitoringResult.project == project)
        .order_by(col(MonitoringResult.created_at).desc(), col(MonitoringResult.id).desc())
        .limit(1)
    ).first()


def list_of(
    session: Session,
    project: str,
    *,
    model_version: int | None,
    dataset_drift: bool | None,
    limit: int,
    offset: int,
) -> Page[MonitoringResult]:
    """A project's monitoring results, newest first, optionally filtered."""
    projects.get(session, project)
    statement = select(MonitoringResult).where(MonitoringResult.project == project)
    if model_version is not None:
        statement = statement.where(MonitoringResult.model_version == model_version)
    if dataset_drift is not None:
        statement = statement.where(MonitoringResult.dataset_drift == dataset_drift)
    statement = statement.order_by(
        col(MonitoringResult.created_at).desc(), col(MonitoringResult.id).desc()
    )
    return page(session, statement, limit=limit, offset=offset)
