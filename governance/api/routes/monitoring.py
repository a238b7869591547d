"""Monitoring results."""

from __future__ import annotations

from fastapi import APIRouter, Response

from governance.api.deps import (
    CurrentPrincipal,
    Limit,
    ModelVersionFilter,
    Offset,
    SessionDep,
    set_total,
)
from governance.api.idempotency import IdempotencyDep
from governance.api.permissions import API_PREFIX
from governance.schemas import MonitoringResultCreate, MonitoringResultPublic
from governance.services import monitoring

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/monitoring", tags=["monitoring"])


@router.post("", status_code=201)
async def record_monitoring(
    project: str,
    body: MonitoringResultCreate,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    idem: IdempotencyDep,
) -> MonitoringResultPublic:
    """Record a drift result for a model version; a breach also audits ``monitoring.alert``."""

    def work() -> MonitoringResultPublic:
        row = monitoring.record(session, actor=user, project=project, body=body)
        return MonitoringResultPublic.model_validate(row)

    return await idem.respond(session, user, response, work)


@router.get("")
def list_monitoring(
    project: str,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    model_version: ModelVersionFilter = None,
    dataset_drift: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[MonitoringResultPublic]:
    """Monitoring results, newest first (``X-Total-Count``: how many match)."""
    rows, total = monitoring.list_results(
        session,
        project,
        model_version=model_version,
        dataset_drift=dataset_drift,
        limit=limit,
        offset=offset,
    )
    set_total(response, total)
    return [MonitoringResultPublic.model_validate(row) for row in rows]
