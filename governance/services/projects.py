"""Projects and their promotion policy."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.db import is_postgres
from governance.errors import Conflict, NotFound, PreconditionFailed
from governance.models import Principal, Project
from governance.schemas import Policy, ProjectCreate, ProjectPublic
from governance.services import audit
from governance.services.pages import Page, page

__all__ = [
    "create_project",
    "get_project",
    "list_projects",
    "lock_project",
    "to_public",
    "update_policy",
]


def to_public(project: Project) -> ProjectPublic:
    """The API shape of a project row."""
    return ProjectPublic.model_validate(project)


def get_project(session: Session, name: str) -> Project:
    """The project called ``name``.

    Raises:
        NotFound: no such project.
    """
    project = session.exec(select(Project).where(Project.name == name)).first()
    if project is None:
        raise NotFound(f"project {name} not found")
    return project


def lock_project(session: Session, name: str) -> Project:
    """The project row, locked until the end of the transaction (PostgreSQL ``FOR UPDATE``).

    Serializes per-project work: version numbering, stage changes and policy changes.
    Re-reads the row even when the session holds it already.

    Raises:
        NotFound: no such project.
    """
    statement = select(Project).where(Project.name == name)
    if is_postgres(session):
        # FOR NO KEY UPDATE: rows that only reference the project (promotion requests,
        # dataset versions) can still be inserted meanwhile; other lockers queue.
        statement = statement.with_for_update(key_share=True)
    project = session.exec(statement.execution_options(populate_existing=True)).first()
    if project is None:
        raise NotFound(f"project {name} not found")
    return project


def list_projects(session: Session, *, limit: int, offset: int) -> Page[Project]:
    """Projects by name."""
    return page(session, select(Project).order_by(col(Project.name)), limit=limit, offset=offset)


def create_project(session: Session, *, actor: Principal, body: ProjectCreate) -> Project:
    """Create a project with its policy.

    Raises:
        Conflict: a project of that name exists.
    """
    if session.exec(select(Project).where(Project.name == body.name)).first() is not None:
        raise Conflict(f"project {body.name} already exists")
    project = Project(
        name=body.name,
        description=body.description,
        policy=body.policy.model_dump(mode="json"),
        created_by=actor.name,
    )
    session.add(project)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"project {body.name} already exists") from exc
    audit.append(
        session,
        actor.name,
        "project.created",
        "project",
        project.name,
        {"description": project.description, "policy": project.policy},
    )
    session.commit()
    return project


def update_policy(
    session: Session, *, actor: Principal, name: str, policy: Policy, if_match: int | None
) -> Project:
    """Replace a project's promotion policy; the audit event keeps the old and new policy.

    Args:
        if_match: the revision the caller read; None replaces whatever the revision is.

    Raises:
        NotFound: no such project.
        PreconditionFailed: ``if_match`` is not the project's current revision.
    """
    project = lock_project(session, name)
    if if_match is not None and if_match != project.revision:
        raise PreconditionFailed(
            f"project {name} is at revision {project.revision}, not {if_match} (If-Match): "
            "its policy changed since it was read"
        )
    old = dict(project.policy)
    new = policy.model_dump(mode="json")
    project.policy = new
    project.revision += 1
    session.add(project)
    audit.append(
        session,
        actor.name,
        "project.policy_updated",
        "project",
        name,
        {"old": old, "new": new, "revision": project.revision},
    )
    session.commit()
    return project
