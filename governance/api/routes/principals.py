"""Principals and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from governance.api.deps import (
    CurrentPrincipal,
    DatabaseDep,
    Limit,
    Offset,
    PostDatabaseDep,
    SessionDep,
    SettingsDep,
    TokenId,
    set_total,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import (
    ApiTokenPublic,
    PrincipalCreate,
    PrincipalCreated,
    PrincipalPublic,
    Role,
    TokenCreated,
)
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


@router.get("/principals")
def list_principals(
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    role: Role | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[PrincipalPublic]:
    """Principals by name, optionally of one role (``X-Total-Count``: how many match)."""
    rows, total = principals.list_principals(session, role=role, limit=limit, offset=offset)
    set_total(response, total)
    return rows


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
