"""Projects: find, lock, list, insert, and write a new policy."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.errors import Conflict, NotFound
from governance.models import Project
from governance.store.pages import Page, page

__all__ = ["get", "insert", "list_all", "lock", "save"]


def get(session: Session, name: str) -> Project:
    """The project called ``name``.

    Raises:
        NotFound: no such project.
    """
    project = session.exec(select(Project).where(Project.name == name)).first()
    if project is None:
        raise NotFound(f"project {name} not found")
    return project


def lock(session: Session, name: str) -> Project:
    """The project row, locked until the end of the transaction (PostgreSQL).

    Serializes per-project work: version numbering, stage changes and policy changes.
    ``FOR NO KEY UPDATE``: rows that only reference the project (promotion requests,
    dataset versions) can still be inserted meanwhile; other lockers queue. Re-reads the
    row even when the session holds it already.

    Raises:
        NotFound: no such project.
    """
    statement = select(Project).where(Project.name == name)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(key_share=True)
    project = session.exec(statement.execution_options(populate_existing=True)).first()
    if project is None:
        raise NotFound(f"project {name} not found")
    return project


def list_all(session: Session, *, limit: int, offset: int) -> Page[Project]:
    """Projects by name."""
    return page(session, select(Project).order_by(col(Project.name)), limit=limit, offset=offset)


def insert(
    session: Session, *, name: str, description: str, policy: dict[str, Any], created_by: str
) -> Project:
    """Insert a project.

    Raises:
        Conflict: a project of that name exists.
    """
    if session.exec(select(Project).where(Project.name == name)).first() is not None:
        raise Conflict(f"project {name} already exists")
    project = Project(name=name, description=description, policy=policy, created_by=created_by)
    session.add(project)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"project {name} already exists") from exc
    return project


def save(session: Session, project: Project) -> None:
    """Write a changed project row (its policy and revision)."""
    session.add(project)
    session.flush()
