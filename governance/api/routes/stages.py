"""Stage assignments: the current one, the history, and rollback."""

from __future__ import annotations

from fastapi import APIRouter, Response
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
from governance.schemas import (
    RollbackCreate,
    RollbackPublic,
    Stage,
    StageAssignmentPublic,
    StageCurrentPublic,
)
from governance.services import stages

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/stages", tags=["stages"])


@router.get("")
def stage_history(
    project: str,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    stage: Stage | None = None,
    model_version: ModelVersionFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[StageAssignmentPublic]:
    """Every assignment, newest first, ended ones included (``X-Total-Count``)."""
    rows, total = stages.history(
        session, project, stage=stage, model_version=model_version, limit=limit, offset=offset
    )
    set_total(response, total)
    return rows


@router.get("/{stage}")
def current_stage(
    project: str, stage: Stage, session: SessionDep, user: CurrentPrincipal
) -> StageCurrentPublic:
    """What holds the stage now, with its model version (404 if nothing)."""
    return stages.current(session, project, stage)


@router.post("/{stage}/rollback")
async def rollback_stage(
    project: str,
    stage: Stage,
    db: PostDatabaseDep,
    user: CurrentPrincipal,
    body: RollbackCreate | None = None,
) -> RollbackPublic:
    """Give the stage back to the model version that held it before (409 if none)."""
    return await run_in_threadpool(
        stages.rollback, db, actor=user, project=project, stage=stage, body=body or RollbackCreate()
    )
