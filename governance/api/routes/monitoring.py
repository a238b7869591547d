"""Monitoring results."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from governance.api.deps import (
    CurrentPrincipal,
    Limit,
    LocationsDep,
    ModelVersionFilter,
    Offset,
    PostDatabaseDep,
    SessionDep,
    set_total,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import MonitoringResultCreate, MonitoringResultPublic
from governance.services import monitoring

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/monitoring", tags=["monitoring"])


@router.post("", status_code=201)
async def record_monitoring(
    project: str,
    body: MonitoringResultCreate,
    db: PostDatabaseDep,
    locations: LocationsDep,
    user: CurrentPrincipal,
) -> MonitoringResultPublic:
    """Record a drift result for a model version; a breach also audits ``monitoring.alert``."""
    return await run_in_threadpool(
        monitoring.record, db, actor=user, project=project, body=body, locations=locations
    )


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
    return rows
