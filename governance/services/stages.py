"""What holds each stage of a project now, what held it before, and rolling a stage back.

A rollback ends the stage's current assignment (``ended_reason="rolled_back"``) and
creates a new one for the model version that held the stage before it, pointing at the
assignment it restores (``restores_id``). Rolling back twice walks further back: the
"assignment before" a restored one is the one before the assignment it restored, so a
second rollback does not toggle between two versions. Nothing is deleted; the history
keeps every assignment.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.errors import Conflict, NotFound
from governance.models import Principal, StageAssignment, utcnow
from governance.schemas import (
    ModelVersionPublic,
    RollbackCreate,
    RollbackPublic,
    Stage,
    StageAssignmentPublic,
    StageCurrentPublic,
)
from governance.services import audit
from governance.services.pages import Page, page
from governance.services.projects import get_project, lock_project
from governance.services.registry import get_model

__all__ = ["current", "history", "rollback"]


def _current_row(session: Session, project: str, stage: Stage) -> StageAssignment | None:
    return session.exec(
        select(StageAssignment).where(
            StageAssignment.project == project,
            StageAssignment.stage == stage,
            col(StageAssignment.ended_at).is_(None),
        )
    ).first()


def current(session: Session, project: str, stage: Stage) -> StageCurrentPublic:
    """The current assignment of ``stage`` with its model version.

    Raises:
        NotFound: no such project, or nothing holds the stage.
    """
    get_project(session, project)
    row = _current_row(session, project, stage)
    if row is None:
        raise NotFound(f"no model version of project {project} is in {stage.value}")
    model = get_model(session, project, row.model_version)
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
) -> Page[StageAssignment]:
    """Assignments of a project (optionally of one stage or model), newest first."""
    get_project(session, project)
    statement = select(StageAssignment).where(StageAssignment.project == project)
    if stage is not None:
        statement = statement.where(StageAssignment.stage == stage)
    if model_version is not None:
        statement = statement.where(StageAssignment.model_version == model_version)
    statement = statement.order_by(
        col(StageAssignment.assigned_at).desc(), col(StageAssignment.id).desc()
    )
    return page(session, statement, limit=limit, offset=offset)


def _previous(session: Session, now_holding: StageAssignment) -> StageAssignment | None:
    # A restored assignment stands for the one it restored: walk back from that one.
    origin = now_holding
    while origin.restores_id is not None:
        restored = session.get(StageAssignment, origin.restores_id)
        if restored is None:  # pragma: no cover  (a foreign key keeps it)
            break
        origin = restored
    return session.exec(
        select(StageAssignment)
        .where(
            StageAssignment.project == origin.project,
            StageAssignment.stage == origin.stage,
            col(StageAssignment.id) < origin.id,
        )
        .order_by(col(StageAssignment.id).desc())
        .limit(1)
    ).first()


def rollback(
    session: Session, *, actor: Principal, project: str, stage: Stage, body: RollbackCreate
) -> RollbackPublic:
    """Give ``stage`` back to the model version that held it before the current one.

    Raises:
        NotFound: no such project.
        Conflict: nothing holds the stage, or nothing held it before the current model.
    """
    lock_project(session, project)
    holding = _current_row(session, project, stage)
    if holding is None:
        raise Conflict(
            f"nothing to roll back: no model version of project {project} is in {stage.value}"
        )
    target = _previous(session, holding)
    if target is None:
        raise Conflict(
            f"nothing to roll back to: model version {project}@{holding.model_version} is the "
            f"first to hold {stage.value}"
        )
    now = utcnow()
    holding.ended_at = now
    holding.ended_reason = "rolled_back"
    session.add(holding)
    session.flush()
    restored = StageAssignment(
        project=project,
        model_version=target.model_version,
        stage=stage,
        assigned_by=actor.name,
        request_id=target.request_id,
        restores_id=target.id,
        assigned_at=now,
    )
    session.add(restored)
    try:
        session.flush()
    except IntegrityError as exc:  # the partial unique index caught a race
        session.rollback()
        raise Conflict(
            f"stage {stage.value} of project {project} changed concurrently; retry"
        ) from exc
    audit.append(
        session,
        actor.name,
        "stage.rolled_back",
        "stage_assignment",
        str(restored.id),
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
    session.commit()
    return RollbackPublic(
        project=project,
        stage=stage,
        from_model_version=holding.model_version,
        to_model_version=target.model_version,
        ended=StageAssignmentPublic.model_validate(holding),
        current=StageAssignmentPublic.model_validate(restored),
    )
