"""Projects and their promotion policy."""

from __future__ import annotations

from fastapi import APIRouter

from governance.api.deps import CurrentPrincipal, Limit, Offset, SessionDep
from governance.api.permissions import API_PREFIX
from governance.models import Policy, ProjectCreate, ProjectPublic
from governance.services import projects

router = APIRouter(prefix=API_PREFIX, tags=["projects"])


@router.post("/projects", status_code=201)
def create_project(
    body: ProjectCreate, session: SessionDep, user: CurrentPrincipal
) -> ProjectPublic:
    """Create a project with its promotion policy."""
    return projects.to_public(projects.create_project(session, actor=user, body=body))


@router.get("/projects")
def list_projects(
    session: SessionDep, user: CurrentPrincipal, limit: Limit = 100, offset: Offset = 0
) -> list[ProjectPublic]:
    """Projects by name."""
    rows = projects.list_projects(session, limit=limit, offset=offset)
    return [projects.to_public(row) for row in rows]


@router.get("/projects/{project}")
def get_project(project: str, session: SessionDep, user: CurrentPrincipal) -> ProjectPublic:
    """One project."""
    return projects.to_public(projects.get_project(session, project))


@router.put("/projects/{project}/policy")
def update_policy(
    project: str, body: Policy, session: SessionDep, user: CurrentPrincipal
) -> ProjectPublic:
    """Replace the project's promotion policy (audited with old and new values)."""
    row = projects.update_policy(session, actor=user, name=project, policy=body)
    return projects.to_public(row)
