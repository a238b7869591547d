"""Projects and their promotion policy."""

from __future__ import annotations

from sqlmodel import Session

from governance.errors import PreconditionFailed
from governance.models import Principal, Project
from governance.schemas import Policy, ProjectCreate, ProjectPublic
from governance.store import projects as project_rows
from governance.store.pages import Page
from governance.store.uow import Database

__all__ = ["create_project", "get_project", "list_projects", "update_policy"]


def _public(project: Project) -> ProjectPublic:
    return ProjectPublic.model_validate(project)


def get_project(session: Session, name: str) -> ProjectPublic:
    """The project called ``name``.

    Raises:
        NotFound: no such project.
    """
    return _public(project_rows.get(session, name))


def list_projects(session: Session, *, limit: int, offset: int) -> Page[ProjectPublic]:
    """Projects by name, one page, and how many there are."""
    rows, total = project_rows.list_all(session, limit=limit, offset=offset)
    return [_public(row) for row in rows], total


def create_project(db: Database, *, actor: Principal, body: ProjectCreate) -> ProjectPublic:
    """Create a project with its policy.

    Raises:
        Conflict: a project of that name exists.
    """
    with db.unit_of_work() as uow:
        project = project_rows.insert(
            uow.session,
            name=body.name,
            description=body.description,
            policy=body.policy.model_dump(mode="json"),
            created_by=actor.name,
        )
        uow.audit(
            actor.name,
            "project.created",
            "project",
            project.name,
            {"description": project.description, "policy": project.policy},
        )
        answer = _public(project)
        uow.commit(answer)
    return answer


def update_policy(
    db: Database, *, actor: Principal, name: str, policy: Policy, if_match: int | None
) -> ProjectPublic:
    """Replace a project's promotion policy; the audit event keeps the old and new policy.

    Args:
        if_match: the revision the caller read; None replaces whatever the revision is.

    Raises:
        NotFound: no such project.
        PreconditionFailed: ``if_match`` is not the project's current revision.
    """
    with db.unit_of_work() as uow:
        project = project_rows.lock(uow.session, name)
        if if_match is not None and if_match != project.revision:
            raise PreconditionFailed(
                f"project {name} is at revision {project.revision}, not {if_match} "
                "(If-Match): its policy changed since it was read"
            )
        old = dict(project.policy)
        new = policy.model_dump(mode="json")
        project.policy = new
        project.revision += 1
        project_rows.save(uow.session, project)
        uow.audit(
            actor.name,
            "project.policy_updated",
            "project",
            name,
            {"old": old, "new": new, "revision": project.revision},
        )
        answer = _public(project)
        uow.commit(answer)
    return answer
