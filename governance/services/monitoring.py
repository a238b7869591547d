"""Monitoring results (drift) recorded against a project's model versions.

A result that breaches (Evidently says the dataset drifted, or the drift share is above
the project policy's ``max_drift_share``) also appends a ``monitoring.alert`` event, in
the same transaction, naming the model version and the drifted columns.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from governance.models import MonitoringResult, Principal
from governance.schemas import MonitoringResultCreate, Policy
from governance.services import audit
from governance.services.pages import Page, page
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
    policy = Policy.model_validate(get_project(session, project).policy)
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
    reasons = _breaches(body, policy)
    if reasons:
        audit.append(
            session,
            actor.name,
            "monitoring.alert",
            "model_version",
            f"{project}@{body.model_version}",
            {
                "project": project,
                "model_version": body.model_version,
                "monitoring_result": row.id,
                "kind": body.kind,
                "drift_share": body.drift_share,
                "drifted_columns": body.drifted_columns,
                "reasons": reasons,
            },
        )
    session.commit()
    return row


def _breaches(body: MonitoringResultCreate, policy: Policy) -> list[str]:
    reasons: list[str] = []
    if body.dataset_drift:
        reasons.append("dataset drift detected")
    limit = policy.max_drift_share
    if limit is not None and body.drift_share > limit:
        reasons.append(f"drift share {body.drift_share:g} > limit {limit:g}")
    return reasons


def list_results(
    session: Session,
    project: str,
    *,
    model_version: int | None = None,
    dataset_drift: bool | None = None,
    limit: int,
    offset: int,
) -> Page[MonitoringResult]:
    """A project's monitoring results, newest first, optionally filtered."""
    get_project(session, project)
    statement = select(MonitoringResult).where(MonitoringResult.project == project)
    if model_version is not None:
        statement = statement.where(MonitoringResult.model_version == model_version)
    if dataset_drift is not None:
        statement = statement.where(MonitoringResult.dataset_drift == dataset_drift)
    statement = statement.order_by(
        col(MonitoringResult.created_at).desc(), col(MonitoringResult.id).desc()
    )
    return page(session, statement, limit=limit, offset=offset)
