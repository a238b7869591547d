"""Projects and their promotion policy."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from governance.api.deps import (
    CurrentPrincipal,
    DatabaseDep,
    IfMatchRequired,
    Limit,
    Offset,
    PostDatabaseDep,
    SessionDep,
    set_etag,
    set_total,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import Policy, ProjectCreate, ProjectPublic
from governance.services import projects

router = APIRouter(prefix=API_PREFIX, tags=["projects"])


@router.post("/projects", status_code=201)
async def create_project(
    body: ProjectCreate, response: Response, db: PostDatabaseDep, user: CurrentPrincipal
) -> ProjectPublic:
    """Create a project with its promotion policy."""
    public = await run_in_threadpool(projects.create_project, db, actor=user, body=body)
    set_etag(response, public.revision)
    return public


@router.get("/projects")
def list_projects(
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ProjectPublic]:
    """Projects by name (``X-Total-Count``: how many there are)."""
    rows, total = projects.list_projects(session, limit=limit, offset=offset)
    set_total(response, total)
    return rows


@router.get("/projects/{project}")
def get_project(
    project: str, response: Response, session: SessionDep, user: CurrentPrincipal
) -> ProjectPublic:
    """One project; its ``ETag`` is the revision to send back as ``If-Match``."""
    public = projects.get_project(session, project)
    set_etag(response, public.revision)
    return public


@router.put("/projects/{project}/policy")
def update_policy(
    project: str,
    body: Policy,
    response: Response,
    db: DatabaseDep,
    user: CurrentPrincipal,
    if_match: IfMatchRequired,
) -> ProjectPublic:
    """Replace the project's promotion policy (audited with old and new values).

    ``If-Match`` is required: the project's ETag as read (412 if it changed since), or
    ``*`` to overwrite whatever is there.
    """
    public = projects.update_policy(db, actor=user, name=project, policy=body, if_match=if_match)
    set_etag(response, public.revision)
    return public
