"""Stage assignments: the current one and the history."""

from __future__ import annotations

from fastapi import APIRouter

from governance.api.deps import CurrentPrincipal, Limit, Offset, SessionDep
from governance.api.permissions import API_PREFIX
from governance.models import Stage, StageAssignmentPublic, StageCurrentPublic
from governance.services import stages

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/stages", tags=["stages"])


@router.get("")
def stage_history(
    project: str,
    session: SessionDep,
    user: CurrentPrincipal,
    stage: Stage | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[StageAssignmentPublic]:
    """Every assignment, newest first, ended ones included."""
    rows = stages.history(session, project, stage=stage, limit=limit, offset=offset)
    return [StageAssignmentPublic.model_validate(row) for row in rows]


@router.get("/{stage}")
def current_stage(
    project: str, stage: Stage, session: SessionDep, user: CurrentPrincipal
) -> StageCurrentPublic:
    """What holds the stage now, with its model version (404 if nothing)."""
    return stages.current(session, project, stage)
