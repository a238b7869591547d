"""What holds each stage of a project now, what held it before, and rolling a stage back.

A rollback ends the stage's current assignment (``ended_reason="rolled_back"``) and
creates a new one for the model version that held the stage before it, pointing at the
assignment it restores (``restores_id``). Rolling back twice walks further back: the
"assignment before" a restored one is the one before the assignment it restored, so a
second rollback does not toggle between two versions. Nothing is deleted; the history
keeps every assignment.
"""

from __future__ import annotations

from sqlmodel import Session

from governance.errors import Conflict, NotFound
from governance.models import Principal, utcnow
from governance.schemas import (
    ModelVersionPublic,
    RollbackCreate,
    RollbackPublic,
    Stage,
    StageAssignmentPublic,
    StageCurrentPublic,
)
from governance.store import model_versions, projects, stages
from governance.store.pages import Page
from governance.store.uow import Database

__all__ = ["current", "history", "rollback"]


def current(session: Session, project: str, stage: Stage) -> StageCurrentPublic:
    """The current assignment of ``stage`` with its model version.

    Raises:
        NotFound: no such project, or nothing holds the stage.
    """
    projects.get(session, project)
    row = stages.current(session, project, stage)
    if row is None:
        raise NotFound(f"no model version of project {project} is in {stage.value}")
    model = model_versions.get(session, project, row.model_version)
    return StageCurrentPublic(
        **StageAssignmentPublic.model_validate(row).model_dump(),
        model=ModelVersionPublic.model_validate(model),
    )


def history(
    session: Session,
    project: str,
    *,
    stage: Stage | None,
    model_version: int | None = None,
    limit: int,
    offset: int,
) -> Page[StageAssignmentPublic]:
    """Assignments of a project (optionally of one stage or model), newest first."""
    rows, total = stages.history(
        session, project, stage=stage, model_version=model_version, limit=limit, offset=offset
    )
    return [StageAssignmentPublic.model_validate(row) for row in rows], total


def rollback(
    db: Database, *, actor: Principal, project: str, stage: Stage, body: RollbackCreate
) -> RollbackPublic:
    """Give ``stage`` back to the model version that held it before the current one.

    Raises:
        NotFound: no such project.
        Conflict: nothing holds the stage, or nothing held it before the current model,
            or the stage changed concurrently.
    """
    with db.unit_of_work() as uow:
        projects.lock(uow.session, project)
        holding = stages.current(uow.session, project, stage)
        if holding is None:
            raise Conflict(
                f"nothing to roll back: no model version of project {project} is in {stage.value}"
            )
        target = stages.previous(uow.session, holding)
        if target is None:
            raise Conflict(
                f"nothing to roll back to: model version {project}@{holding.model_version} "
                f"is the first to hold {stage.value}"
            )
        now = utcnow()
        holding.ended_at = now
        holding.ended_reason = "rolled_back"
        stages.save(uow.session, holding)
        restored_id = stages.insert(
            uow.session,
            project=project,
            model_version=target.model_version,
            stage=stage,
            assigned_by=actor.name,
            request_id=target.request_id,
            restores_id=target.id,
            assigned_at=now,
        )
        uow.audit(
            actor.name,
            "stage.rolled_back",
            "stage_assignment",
            str(restored_id),
            {
                "project": project,
                "stage": stage.value,
                "from_model_version": holding.model_version,
                "to_model_version": target.model_version,
                "ended_assignment": holding.id,
                "restores_assignment": target.id,
                "comment": body.comment,
            },
        )
        restored = StageAssignmentPublic(
            id=restored_id,
            project=project,
            model_version=target.model_version,
            stage=stage,
            assigned_by=actor.name,
            request_id=target.request_id,
            restores_id=target.id,
            assigned_at=now,
            ended_at=None,
            ended_reason=None,
        )
        answer = RollbackPublic(
            project=project,
            stage=stage,
            from_model_version=holding.model_version,
            to_model_version=target.model_version,
            ended=StageAssignmentPublic.model_validate(holding),
            current=restored,
        )
        uow.commit(answer)
    return answer
