"""Monitoring results (drift) recorded against a project's model versions.

A result that breaches (Evidently says the dataset drifted, or the drift share is above
the project policy's ``max_drift_share``) also raises a ``drift_breach`` alert and appends
a ``monitoring.alert`` event, in the same unit of work, naming the model version and
the drifted columns.
"""

from __future__ import annotations

from sqlmodel import Session

from governance.locations import Locations
from governance.models import Principal, utcnow
from governance.schemas import AlertCreate, MonitoringResultCreate, MonitoringResultPublic, Policy
from governance.store import alerts as alert_rows
from governance.store import model_versions, projects
from governance.store import monitoring as results
from governance.store.pages import Page
from governance.store.uow import Database

__all__ = ["breaches", "list_results", "record"]


def record(
    db: Database,
    *,
    actor: Principal,
    project: str,
    body: MonitoringResultCreate,
    locations: Locations,
) -> MonitoringResultPublic:
    """Record one monitoring result; its reports must lie inside a configured store.

    Raises:
        NotFound: no such project or model version.
        InvalidInput: a report location is refused (the field is named).
    """
    for field, uri in (("report_uri", body.report_uri), ("json_uri", body.json_uri)):
        if uri is not None:
            locations.check_store_uri(field, uri)
    with db.unit_of_work() as uow:
        model_versions.get(uow.session, project, body.model_version)
        policy = Policy.model_validate(projects.get(uow.session, project).policy)
        row = results.insert(uow.session, project=project, body=body, created_by=actor.name)
        uow.audit(
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
        reasons = breaches(body, policy)
        if reasons:
            alert = alert_rows.insert(
                uow.session,
                project=project,
                body=AlertCreate(
                    kind="drift_breach",
                    model_version=body.model_version,
                    detail="; ".join(reasons),
                    source=f"monitoring ({body.kind})",
                ),
                raised_by=actor.name,
                created_at=utcnow(),
            )
            uow.audit(
                actor.name,
                "monitoring.alert",
                "model_version",
                f"{project}@{body.model_version}",
                {
                    "project": project,
                    "model_version": body.model_version,
                    "monitoring_result": row.id,
                    "alert": alert.id,
                    "kind": body.kind,
                    "drift_share": body.drift_share,
                    "drifted_columns": body.drifted_columns,
                    "reasons": reasons,
                },
            )
        answer = MonitoringResultPublic.model_validate(row)
        uow.commit(answer)
    return answer


def breaches(body: MonitoringResultCreate, policy: Policy) -> list[str]:
    """Why a result breaches the project's limits (empty: it does not)."""
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
) -> Page[MonitoringResultPublic]:
    """A project's monitoring results, newest first, optionally filtered."""
    rows, total = results.list_of(
        session,
        project,
        model_version=model_version,
        dataset_drift=dataset_drift,
        limit=limit,
        offset=offset,
    )
    return [MonitoringResultPublic.model_validate(row) for row in rows], total
