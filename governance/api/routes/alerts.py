"""Alerts approvers must see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from governance.api.deps import (
    CurrentPrincipal,
    Limit,
    ModelVersionFilter,
    Offset,
    PostDatabaseDep,
    SessionDep,
    set_total,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import AlertCreate, AlertPublic
from governance.services import alerts

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/alerts", tags=["alerts"])


@router.post("", status_code=201)
async def raise_alert(
    project: str, body: AlertCreate, db: PostDatabaseDep, user: CurrentPrincipal
) -> AlertPublic:
    """Raise an alert on the project (e.g. a production model that cannot be served)."""
    return await run_in_threadpool(alerts.raise_alert, db, actor=user, project=project, body=body)


@router.get("")
def list_alerts(
    project: str,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    kind: Annotated[str | None, Query(max_length=63)] = None,
    model_version: ModelVersionFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AlertPublic]:
    """The project's alerts, newest first (``X-Total-Count``: how many match)."""
    rows, total = alerts.list_alerts(
        session, project, kind=kind, model_version=model_version, limit=limit, offset=offset
    )
    set_total(response, total)
    return rows
