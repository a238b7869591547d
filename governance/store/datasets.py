"""Dataset versions: find, list, number and insert, record validation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.errors import Conflict, NotFound
from governance.models import DatasetVersion
from governance.schemas import DatasetVersionCreate, ValidationStatus
from governance.store import projects
from governance.store.pages import Page, page

__all__ = ["by_content_hash", "get", "insert_next", "list_of", "save"]


def get(session: Session, project: str, version: int) -> DatasetVersion:
    """Dataset version ``project@version``.

    Raises:
        NotFound: no such project or version.
    """
    row = session.exec(
        select(DatasetVersion).where(
            DatasetVersion.project == project, DatasetVersion.version == version
        )
    ).first()
    if row is None:
        projects.get(session, project)  # names the project when that is what is missing
        raise NotFound(f"dataset version {project}@{version} not found")
    return row


def list_of(
    session: Session,
    project: str,
    *,
    validation_status: ValidationStatus | None,
    limit: int,
    offset: int,
) -> Page[DatasetVersion]:
    """Dataset versions of a project, newest first, optionally of one validation status."""
    projects.get(session, project)
    statement = select(DatasetVersion).where(DatasetVersion.project == project)
    if validation_status is not None:
        statement = statement.where(DatasetVersion.validation_status == validation_status)
    statement = statement.order_by(col(DatasetVersion.version).desc())
    return page(session, statement, limit=limit, offset=offset)


def by_content_hash(session: Session, project: str, content_hash: str) -> DatasetVersion | None:
    """The project's dataset version with this content hash, if any."""
    return session.exec(
        select(DatasetVersion).where(
            DatasetVersion.project == project, DatasetVersion.content_hash == content_hash
        )
    ).first()


def insert_next(
    session: Session, *, project: str, body: DatasetVersionCreate, created_by: str
) -> DatasetVersion:
    """Insert the project's next dataset version (``max + 1``; hold the project lock).

    Raises:
        Conflict: the number was taken concurrently (a unique constraint backs the lock).
    """
    last = session.exec(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.project == project)
    ).one()
    update: dict[str, Any] = {
        "project": project,
        "version": (last or 0) + 1,
        "created_by": created_by,
    }
    row = DatasetVersion.model_validate(body, update=update)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"dataset version of project {project} registered concurrently") from exc
    return row


def save(session: Session, row: DatasetVersion) -> None:
    """Write a changed dataset version row (its validation outcome)."""
    session.add(row)
    session.flush()
