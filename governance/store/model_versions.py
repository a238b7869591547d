"""Model versions: find, list, and number and insert one under the project lock.

Registration is the registry's hot path, so it runs as Core statements, as few as the
guarantees allow: one takes the project lock and learns whether the dataset version
exists; one numbers and inserts the version under that lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.errors import Conflict, NotFound
from governance.models import DatasetVersion, ModelVersion, Project, StageAssignment
from governance.schemas import Stage
from governance.store import projects
from governance.store.pages import Page, page

__all__ = ["get", "insert_next", "list_of", "lock_project_for_model"]

_PROJECTS: sa.Table = Project.__table__  # type: ignore[attr-defined]
_DATASETS: sa.Table = DatasetVersion.__table__  # type: ignore[attr-defined]
_MODELS: sa.Table = ModelVersion.__table__  # type: ignore[attr-defined]
# Written by registration: every column but the id, the number (chosen by the insert)
# and the two legacy columns (see ModelVersion).
_MODEL_FIELDS = [
    c.name
    for c in _MODELS.columns
    if c.name not in ("id", "version", "idempotency_key", "request_hash")
]
# The next version is numbered by the insert itself (max + 1, in a statement of its own
# after the project lock, so it sees what the previous lock holder committed).
_INSERT_MODEL = (
    sa.insert(_MODELS)
    .from_select(
        [*_MODEL_FIELDS, "version"],
        sa.select(
            *(sa.bindparam(name, type_=_MODELS.c[name].type) for name in _MODEL_FIELDS),
            func.coalesce(func.max(_MODELS.c.version), 0) + 1,
        ).where(_MODELS.c.project == sa.bindparam("project")),
    )
    .returning(_MODELS.c.id, _MODELS.c.version)
)
# The project row (locked on PostgreSQL, FOR NO KEY UPDATE: rows that only reference the
# project can still be inserted meanwhile) and whether the dataset version exists.
_MODEL_CONTEXT = sa.select(
    _PROJECTS.c.id,
    sa.exists()
    .where(
        _DATASETS.c.project == _PROJECTS.c.name,
        _DATASETS.c.version == sa.bindparam("dataset_version"),
    )
    .label("dataset_exists"),
).where(_PROJECTS.c.name == sa.bindparam("project"))
_LOCK_FOR_MODEL = {
    False: _MODEL_CONTEXT,
    True: _MODEL_CONTEXT.with_for_update(of=_PROJECTS, key_share=True),
}


def get(session: Session, project: str, version: int) -> ModelVersion:
    """Model version ``project@version``.

    Raises:
        NotFound: no such project or version.
    """
    row = session.exec(
        select(ModelVersion).where(ModelVersion.project == project, ModelVersion.version == version)
    ).first()
    if row is None:
        projects.get(session, project)  # names the project when that is what is missing
        raise NotFound(f"model version {project}@{version} not found")
    return row


def list_of(
    session: Session,
    project: str,
    *,
    stage: Stage | None,
    algorithm: str | None,
    trained_by: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    offset: int,
) -> Page[ModelVersion]:
    """Model versions of a project, newest first, filtered (see the service)."""
    projects.get(session, project)
    statement = select(ModelVersion).where(ModelVersion.project == project)
    if stage is not None:
        holders = select(StageAssignment.model_version).where(
            StageAssignment.project == project,
            StageAssignment.stage == stage,
            col(StageAssignment.ended_at).is_(None),
        )
        statement = statement.where(col(ModelVersion.version).in_(holders))
    if algorithm is not None:
        statement = statement.where(ModelVersion.algorithm == algorithm)
    if trained_by is not None:
        statement = statement.where(ModelVersion.trained_by == trained_by)
    if created_after is not None:
        statement = statement.where(col(ModelVersion.created_at) > created_after)
    if created_before is not None:
        statement = statement.where(col(ModelVersion.created_at) < created_before)
    statement = statement.order_by(col(ModelVersion.version).desc())
    return page(session, statement, limit=limit, offset=offset)


def lock_project_for_model(session: Session, project: str, dataset_version: int) -> bool:
    """Lock the project for a registration; whether its dataset version exists.

    Raises:
        NotFound: no such project.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    found = (
        session.connection()
        .execute(
            _LOCK_FOR_MODEL[postgres], {"project": project, "dataset_version": dataset_version}
        )
        .first()
    )
    if found is None:
        raise NotFound(f"project {project} not found")
    return bool(found.dataset_exists)


def insert_next(session: Session, values: dict[str, Any]) -> ModelVersion:
    """Insert the next version of ``values["project"]`` (hold the project lock).

    Raises:
        Conflict: the number was taken concurrently (a unique constraint backs the lock).
    """
    try:
        inserted = session.connection().execute(_INSERT_MODEL, values).one()
    except IntegrityError as exc:
        project = values["project"]
        raise Conflict(f"model version of project {project} registered concurrently") from exc
    return ModelVersion(id=inserted.id, version=inserted.version, **values)
