"""Stage assignments: who holds a stage now, what held it before, and changing it."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.errors import Conflict
from governance.models import StageAssignment
from governance.schemas import Stage
from governance.store import projects
from governance.store.pages import Page, page

__all__ = [
    "current",
    "end_current",
    "history",
    "insert",
    "of_model",
    "previous",
    "save",
]

_ASSIGNMENTS: sa.Table = StageAssignment.__table__  # type: ignore[attr-defined]
_END_ASSIGNMENT = (
    sa.update(_ASSIGNMENTS)
    .where(
        _ASSIGNMENTS.c.project == sa.bindparam("p_project"),
        _ASSIGNMENTS.c.stage == sa.bindparam("p_stage"),
        _ASSIGNMENTS.c.ended_at.is_(None),
    )
    .values(ended_at=sa.bindparam("p_ended_at"), ended_reason="replaced")
    .returning(_ASSIGNMENTS.c.model_version)
)
_INSERT_ASSIGNMENT = sa.insert(_ASSIGNMENTS).returning(_ASSIGNMENTS.c.id)


def _raced(project: str, stage: Stage) -> Conflict:
    return Conflict(f"stage {stage.value} of project {project} changed concurrently; retry")


def current(session: Session, project: str, stage: Stage) -> StageAssignment | None:
    """The current assignment of ``stage`` (None: nothing holds it)."""
    return session.exec(
        select(StageAssignment).where(
            StageAssignment.project == project,
            StageAssignment.stage == stage,
            col(StageAssignment.ended_at).is_(None),
        )
    ).first()


def history(
    session: Session,
    project: str,
    *,
    stage: Stage | None,
    model_version: int | None,
    limit: int,
    offset: int,
) -> Page[StageAssignment]:
    """Assignments of a project (optionally of one stage or model), newest first."""
    projects.get(session, project)
    statement = select(StageAssignment).where(StageAssignment.project == project)
    if stage is not None:
        statement = statement.where(StageAssignment.stage == stage)
    if model_version is not None:
        statement = statement.where(StageAssignment.model_version == model_version)
    statement = statement.order_by(
        col(StageAssignment.assigned_at).desc(), col(StageAssignment.id).desc()
    )
    return page(session, statement, limit=limit, offset=offset)


def of_model(session: Session, project: str, version: int) -> list[StageAssignment]:
    """Every assignment of ``project@version``, oldest first."""
    return list(
        session.exec(
            select(StageAssignment)
            .where(StageAssignment.project == project, StageAssignment.model_version == version)
            .order_by(col(StageAssignment.assigned_at), col(StageAssignment.id))
        ).all()
    )


def previous(session: Session, now_holding: StageAssignment) -> StageAssignment | None:
    """The assignment a rollback of ``now_holding`` restores.

    A restored assignment stands for the one it restored: the walk starts from that one,
    so rolling back twice goes further back instead of toggling between two versions.
    """
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


def end_current(session: Session, project: str, stage: Stage, now: datetime) -> int | None:
    """End the stage's current assignment as replaced; the model version it held."""
    ended = (
        session.connection()
        .execute(_END_ASSIGNMENT, {"p_project": project, "p_stage": stage, "p_ended_at": now})
        .first()
    )
    return None if ended is None else int(ended.model_version)


def insert(
    session: Session,
    *,
    project: str,
    model_version: int,
    stage: Stage,
    assigned_by: str,
    request_id: uuid.UUID | None,
    restores_id: int | None,
    assigned_at: datetime,
) -> int:
    """Insert a current assignment; its id.

    Raises:
        Conflict: another current assignment of the stage appeared (the partial unique
            index caught a race).
    """
    values = {
        "project": project,
        "model_version": model_version,
        "stage": stage,
        "assigned_by": assigned_by,
        "request_id": request_id,
        "restores_id": restores_id,
        "assigned_at": assigned_at,
        "ended_at": None,
        "ended_reason": None,
    }
    try:
        assignment_id: int = session.connection().execute(_INSERT_ASSIGNMENT, values).scalar_one()
    except IntegrityError as exc:
        raise _raced(project, stage) from exc
    return assignment_id


def save(session: Session, row: StageAssignment) -> None:
    """Write a changed assignment row (its end)."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise _raced(row.project, row.stage) from exc
