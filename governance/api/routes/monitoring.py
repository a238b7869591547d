"""Monitoring results."""

from __future__ import annotations

from fastapi import APIRouter

from governance.api.deps import CurrentPrincipal, Limit, Offset, SessionDep
from governance.api.permissions import API_PREFIX
from governance.models import MonitoringResultCreate, MonitoringResultPublic
from governance.services import monitoring

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/monitoring", tags=["monitoring"])


@router.post("", status_code=201)
def record_monitoring(
    project: str, body: MonitoringResultCreate, session: SessionDep, user: CurrentPrincipal
) -> MonitoringResultPublic:
    """Record a drift result for a model version."""
    row = monitoring.record(session, actor=user, project=project, body=body)
    return MonitoringResultPublic.model_validate(row)


@router.get("")
def list_monitoring(
    project: str,
    session: SessionDep,
    user: CurrentPrincipal,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[MonitoringResultPublic]:
    """Monitoring results, newest first."""
    rows = monitoring.list_results(session, project, limit=limit, offset=offset)
    return [MonitoringResultPublic.model_validate(row) for row in rows]
