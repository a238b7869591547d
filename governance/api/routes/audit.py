"""The audit trail: read the events, verify the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from governance.api.deps import CurrentPrincipal, Limit, SessionDep
from governance.api.permissions import API_PREFIX
from governance.models import AuditEventPublic, VerifyResult
from governance.services import audit

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])


@router.get("/events")
def list_events(
    session: SessionDep,
    user: CurrentPrincipal,
    after_seq: Annotated[int, Query(ge=0, description="events after this sequence number")] = 0,
    limit: Limit = 1000,
) -> list[AuditEventPublic]:
    """Events in chain order."""
    rows = audit.list_events(session, after_seq=after_seq, limit=limit)
    return [AuditEventPublic.model_validate(row) for row in rows]


@router.get("/verify")
def verify(session: SessionDep, user: CurrentPrincipal) -> VerifyResult:
    """Recompute the chain and name the first broken event, if any."""
    return audit.verify(session)
