"""Projects and their promotion policy."""

from __future__ import annotations

from fastapi import APIRouter, Response

from governance.api.deps import (
    CurrentPrincipal,
    IfMatchRequired,
    Limit,
    Offset,
    SessionDep,
    set_etag,
    set_total,
)
from governance.api.idempotency import IdempotencyDep
from governance.api.permissions import API_PREFIX
from governance.schemas import Policy, ProjectCreate, ProjectPublic
from governance.services import projects

router = APIRouter(prefix=API_PREFIX, tags=["projects"])


@router.post("/projects", status_code=201)
async def create_project(
    body: ProjectCreate,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    idem: IdempotencyDep,
) -> ProjectPublic:
    """Create a project with its promotion policy."""
    row = await idem.respond(
        session,
        user,
        response,
        lambda: projects.to_public(projects.create_project(session, actor=user, body=body)),
    )
    set_etag(response, row.revision)
    return row


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
    return [projects.to_public(row) for row in rows]


@router.get("/projects/{project}")
def get_project(
    project: str, response: Response, session: SessionDep, user: CurrentPrincipal
) -> ProjectPublic:
    """One project; its ``ETag`` is the revision to send back as ``If-Match``."""
    row = projects.to_public(projects.get_project(session, project))
    set_etag(response, row.revision)
    return row


@router.put("/projects/{project}/policy")
def update_policy(
    project: str,
    body: Policy,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    if_match: IfMatchRequired,
) -> ProjectPublic:
    """Replace the project's promotion policy (audited with old and new values).

    ``If-Match`` is required: the project's ETag as read (412 if it changed since), or
    ``*`` to overwrite whatever is there.
    """
    row = projects.update_policy(session, actor=user, name=project, policy=body, if_match=if_match)
    public = projects.to_public(row)
    set_etag(response, public.revision)
    return public
