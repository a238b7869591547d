"""The audit trail: read the events, verify the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from governance.api.deps import (
    CurrentPrincipal,
    Limit,
    Offset,
    SeqNo,
    SessionDep,
    set_total,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import AuditEventPublic, VerifyResult
from governance.services import audit

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])


@router.get("/events")
def list_events(
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    after_seq: SeqNo = 0,
    action: Annotated[str | None, Query(max_length=100, description="e.g. stage.assigned")] = None,
    actor: Annotated[str | None, Query(max_length=63)] = None,
    entity_type: Annotated[str | None, Query(max_length=63)] = None,
    entity_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[AuditEventPublic]:
    """Events in chain order, filtered (``X-Total-Count``: how many match)."""
    rows, total = audit.search_events(
        session,
        after_seq=after_seq,
        action=action,
        actor=actor,
        entity_type=entity_type,
        entity_id=entity_id,
        limit=limit,
        offset=offset,
    )
    set_total(response, total)
    return rows


@router.get("/verify")
def verify(session: SessionDep, user: CurrentPrincipal) -> VerifyResult:
    """Recompute the chain and name the first broken event, if any."""
    return audit.verify(session)
