"""Principals and API tokens."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from governance.api.deps import (
    CurrentPrincipal,
    DatabaseDep,
    PostDatabaseDep,
    SettingsDep,
    TokenId,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import ApiTokenPublic, PrincipalCreate, PrincipalCreated, TokenCreated
from governance.services import principals

router = APIRouter(prefix=API_PREFIX, tags=["principals"])


@router.post("/principals", status_code=201)
async def create_principal(
    body: PrincipalCreate, db: PostDatabaseDep, settings: SettingsDep, user: CurrentPrincipal
) -> PrincipalCreated:
    """Create a principal; its token is in the answer and never shown again."""
    return await run_in_threadpool(
        principals.create_principal, db, actor=user, body=body, ttl_days=settings.token_ttl_days
    )


@router.post("/principals/{name}/tokens", status_code=201)
async def create_token(
    name: str, db: PostDatabaseDep, settings: SettingsDep, user: CurrentPrincipal
) -> TokenCreated:
    """Issue another token for a principal (shown once)."""
    return await run_in_threadpool(
        principals.create_token, db, actor=user, name=name, ttl_days=settings.token_ttl_days
    )


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: TokenId, db: DatabaseDep, user: CurrentPrincipal) -> ApiTokenPublic:
    """Revoke a token (your own, or anyone's as admin)."""
    return principals.revoke_token(db, actor=user, token_id=token_id)
