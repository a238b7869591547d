"""Alerts: what the people who decide must see about a project's models.

A prediction server that cannot load the production model governance approved raises
one (``model_load_failed``); a monitoring result that breaches the project's limits
raises one too (``drift_breach``, :mod:`governance.services.monitoring`). Each is
audited as ``monitoring.alert``.
"""

from __future__ import annotations

from sqlmodel import Session

from governance.models import Principal, utcnow
from governance.schemas import AlertCreate, AlertPublic
from governance.store import alerts as alert_rows
from governance.store import model_versions, projects
from governance.store.pages import Page
from governance.store.uow import Database, UnitOfWork

__all__ = ["list_alerts", "raise_alert", "record"]


def record(uow: UnitOfWork, *, actor: str, project: str, body: AlertCreate) -> AlertPublic:
    """Insert an alert and its audit event in ``uow`` (the caller commits)."""
    row = alert_rows.insert(
        uow.session, project=project, body=body, raised_by=actor, created_at=utcnow()
    )
    uow.audit(
        actor,
        "monitoring.alert",
        "alert",
        str(row.id),
        {
            "project": project,
            "kind": body.kind,
            "model_version": body.model_version,
            "detail": body.detail,
            "source": body.source,
        },
    )
    return AlertPublic.model_validate(row)


def raise_alert(db: Database, *, actor: Principal, project: str, body: AlertCreate) -> AlertPublic:
    """Raise an alert on ``project`` (about one of its model versions, if named).

    Raises:
        NotFound: no such project or model version.
    """
    with db.unit_of_work() as uow:
        projects.get(uow.session, project)
        if body.model_version is not None:
            model_versions.get(uow.session, project, body.model_version)
        answer = record(uow, actor=actor.name, project=project, body=body)
        uow.commit(answer)
    return answer


def list_alerts(
    session: Session,
    project: str,
    *,
    kind: str | None = None,
    model_version: int | None = None,
    limit: int,
    offset: int,
) -> Page[AlertPublic]:
    """A project's alerts, newest first."""
    rows, total = alert_rows.list_of(
        session, project, kind=kind, model_version=model_version, limit=limit, offset=offset
    )
    return [AlertPublic.model_validate(row) for row in rows], total
