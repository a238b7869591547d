"""Promotion requests and decisions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from governance.api.deps import (
    CurrentPrincipal,
    IfMatchOptional,
    Limit,
    ModelVersionFilter,
    Offset,
    PostDatabaseDep,
    SessionDep,
    SettingsDep,
    set_etag,
    set_total,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import (
    DecisionCreate,
    PromotionRequestCreate,
    PromotionRequestPublic,
    RequestStatus,
    Stage,
)
from governance.services import approvals

router = APIRouter(prefix=API_PREFIX, tags=["promotion"])


@router.post("/projects/{project}/promotion-requests", status_code=201)
async def request_promotion(
    project: str,
    body: PromotionRequestCreate,
    response: Response,
    db: PostDatabaseDep,
    settings: SettingsDep,
    user: CurrentPrincipal,
) -> PromotionRequestPublic:
    """Open a promotion request; failed policy checks make it ``blocked`` (see ``detail``)."""
    public = await run_in_threadpool(
        approvals.request_promotion,
        db,
        actor=user,
        project=project,
        body=body,
        default_ttl_hours=settings.request_ttl_hours,
    )
    set_etag(response, public.revision)
    return public


@router.get("/projects/{project}/promotion-requests")
def list_requests(
    project: str,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    status: RequestStatus | None = None,
    stage: Stage | None = None,
    model_version: ModelVersionFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PromotionRequestPublic]:
    """A project's promotion requests, newest first (``X-Total-Count``: how many match)."""
    rows, total = approvals.list_requests(
        session,
        project,
        status=status,
        stage=stage,
        model_version=model_version,
        limit=limit,
        offset=offset,
    )
    set_total(response, total)
    return rows


@router.get("/promotion-requests")
def list_all_requests(
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    status: RequestStatus | None = None,
    project: Annotated[str | None, Query(max_length=63)] = None,
    stage: Stage | None = None,
    id_prefix: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9a-fA-F-]{4,36}$",
            description="the first characters of the request id (at least 4 hex digits)",
        ),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PromotionRequestPublic]:
    """Requests of every project, oldest first — an approver's inbox with
    ``status=pending`` (``X-Total-Count``: how many match)."""
    rows, total = approvals.list_all_requests(
        session,
        status=status,
        project=project,
        stage=stage,
        id_prefix=id_prefix,
        limit=limit,
        offset=offset,
    )
    set_total(response, total)
    return rows


@router.get("/promotion-requests/{request_id}")
def get_request(
    request_id: uuid.UUID, response: Response, session: SessionDep, user: CurrentPrincipal
) -> PromotionRequestPublic:
    """One promotion request with its checks and decisions; ``ETag``: its revision."""
    public = approvals.get_request(session, request_id)
    set_etag(response, public.revision)
    return public


@router.post("/promotion-requests/{request_id}/decisions", status_code=201)
async def decide(
    request_id: uuid.UUID,
    body: DecisionCreate,
    response: Response,
    db: PostDatabaseDep,
    user: CurrentPrincipal,
    if_match: IfMatchOptional,
) -> PromotionRequestPublic:
    """Approve or reject; the last approval needed assigns the stage.

    With ``If-Match`` (the request's ETag as read), a request that changed since is
    refused with 412 instead of being decided on stale information.
    """
    public = await run_in_threadpool(
        approvals.decide, db, actor=user, request_id=request_id, body=body, if_match=if_match
    )
    set_etag(response, public.revision)
    return public
