"""Monitoring results (drift) recorded against a project's model versions."""

from __future__ import annotations

from sqlmodel import Session, col, select

from governance.models import MonitoringResult, MonitoringResultCreate, Principal
from governance.services import audit
from governance.services.projects import get_project
from governance.services.registry import get_model

__all__ = ["list_results", "record"]


def record(
    session: Session, *, actor: Principal, project: str, body: MonitoringResultCreate
) -> MonitoringResult:
    """Record one monitoring result.

    Raises:
        NotFound: no such project or model version.
    """
    get_model(session, project, body.model_version)
    row = MonitoringResult.model_validate(
        body, update={"project": project, "created_by": actor.name}
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor.name,
        "monitoring_result.recorded",
        "monitoring_result",
        str(row.id),
        {
            "project": project,
            "model_version": body.model_version,
            "kind": body.kind,
            "drift_share": body.drift_share,
            "dataset_drift": body.dataset_drift,
            "drifted_columns": body.drifted_columns,
        },
    )
    session.commit()
    return row


def list_results(
    session: Session, project: str, *, limit: int, offset: int
) -> list[MonitoringResult]:
    """A project's monitoring results, newest first."""
    get_project(session, project)
    statement = (
        select(MonitoringResult)
        .where(MonitoringResult.project == project)
        .order_by(col(MonitoringResult.created_at).desc(), col(MonitoringResult.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(statement).all())
