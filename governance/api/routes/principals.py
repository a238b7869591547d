"""Principals and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response

from governance.api.deps import (
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    TokenId,
)
from governance.api.idempotency import IdempotencyDep
from governance.api.permissions import API_PREFIX
from governance.schemas import ApiTokenPublic, PrincipalCreate, PrincipalCreated, TokenCreated
from governance.services import principals

router = APIRouter(prefix=API_PREFIX, tags=["principals"])


@router.post("/principals", status_code=201)
async def create_principal(
    body: PrincipalCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentPrincipal,
    idem: IdempotencyDep,
) -> PrincipalCreated:
    """Create a principal; its token is in the answer and never shown again."""
    return await idem.respond(
        session,
        user,
        response,
        lambda: principals.create_principal(
            session, actor=user, body=body, ttl_days=settings.token_ttl_days
        ),
    )


@router.post("/principals/{name}/tokens", status_code=201)
async def create_token(
    name: str,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentPrincipal,
    idem: IdempotencyDep,
) -> TokenCreated:
    """Issue another token for a principal (shown once)."""
    return await idem.respond(
        session,
        user,
        response,
        lambda: principals.create_token(
            session, actor=user, name=name, ttl_days=settings.token_ttl_days
        ),
    )


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: TokenId, session: SessionDep, user: CurrentPrincipal) -> ApiTokenPublic:
    """Revoke a token (your own, or anyone's as admin)."""
    return principals.revoke_token(session, actor=user, token_id=token_id)
