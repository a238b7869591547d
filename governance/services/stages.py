"""What holds each stage of a project now, and what held it before."""

from __future__ import annotations

from sqlmodel import Session, col, select

from governance.errors import NotFound
from governance.models import (
    ModelVersionPublic,
    Stage,
    StageAssignment,
    StageAssignmentPublic,
    StageCurrentPublic,
)
from governance.services.projects import get_project
from governance.services.registry import get_model

__all__ = ["current", "history"]


def current(session: Session, project: str, stage: Stage) -> StageCurrentPublic:
    """The current assignment of ``stage`` with its model version.

    Raises:
        NotFound: no such project, or nothing holds the stage.
    """
    get_project(session, project)
    row = session.exec(
        select(StageAssignment).where(
            StageAssignment.project == project,
            StageAssignment.stage == stage,
            col(StageAssignment.ended_at).is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(f"no model version of project {project} is in {stage.value}")
    model = get_model(session, project, row.model_version)
    return StageCurrentPublic(
        **StageAssignmentPublic.model_validate(row).model_dump(),
        model=ModelVersionPublic.model_validate(model),
    )


def history(
    session: Session, project: str, *, stage: Stage | None, limit: int, offset: int
) -> list[StageAssignment]:
    """Assignments of a project (optionally of one stage), newest first, ended ones included."""
    get_project(session, project)
    statement = select(StageAssignment).where(StageAssignment.project == project)
    if stage is not None:
        statement = statement.where(StageAssignment.stage == stage)
    statement = (
        statement.order_by(col(StageAssignment.assigned_at).desc(), col(StageAssignment.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(statement).all())
