"""Promotion requests and decisions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from governance.api.deps import CurrentPrincipal, Limit, Offset, SessionDep, SettingsDep
from governance.api.permissions import API_PREFIX
from governance.models import (
    DecisionCreate,
    PromotionRequestCreate,
    PromotionRequestPublic,
    RequestStatus,
)
from governance.services import approvals

router = APIRouter(prefix=API_PREFIX, tags=["promotion"])


@router.post("/projects/{project}/promotion-requests", status_code=201)
def request_promotion(
    project: str,
    body: PromotionRequestCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentPrincipal,
) -> PromotionRequestPublic:
    """Open a promotion request; failed policy checks make it ``blocked`` (see ``detail``)."""
    row = approvals.request_promotion(
        session,
        actor=user,
        project=project,
        body=body,
        default_ttl_hours=settings.request_ttl_hours,
    )
    return approvals.to_public(session, row)


@router.get("/projects/{project}/promotion-requests")
def list_requests(
    project: str,
    session: SessionDep,
    user: CurrentPrincipal,
    status: RequestStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PromotionRequestPublic]:
    """A project's promotion requests, newest first."""
    rows = approvals.list_requests(session, project, status=status, limit=limit, offset=offset)
    return [approvals.to_public(session, row) for row in rows]


@router.get("/promotion-requests/{request_id}")
def get_request(
    request_id: uuid.UUID, session: SessionDep, user: CurrentPrincipal
) -> PromotionRequestPublic:
    """One promotion request with its checks and decisions."""
    return approvals.to_public(session, approvals.get_request(session, request_id))


@router.post("/promotion-requests/{request_id}/decisions", status_code=201)
def decide(
    request_id: uuid.UUID, body: DecisionCreate, session: SessionDep, user: CurrentPrincipal
) -> PromotionRequestPublic:
    """Approve or reject; the last approval needed assigns the stage."""
    row = approvals.decide(session, actor=user, request_id=request_id, body=body)
    return approvals.to_public(session, row)
