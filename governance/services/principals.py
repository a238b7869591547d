"""Principals and API tokens: creation, authentication, revocation.

A token is ``mlg_`` followed by 43 random URL-safe characters. Only its sha256 is stored,
with a short prefix for display; the token itself is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlmodel import Session

from governance.errors import Conflict, PermissionDenied, Unauthenticated
from governance.models import ApiToken, Principal, utcnow
from governance.schemas import (
    ApiTokenPublic,
    PrincipalCreate,
    PrincipalCreated,
    PrincipalPublic,
    Role,
    TokenCreated,
)
from governance.store import principals as principal_rows
from governance.store.pages import Page
from governance.store.uow import Database, UnitOfWork

__all__ = [
    "TOKEN_PREFIX",
    "authenticate",
    "bootstrap_admin",
    "create_principal",
    "create_token",
    "hash_token",
    "list_principals",
    "revoke_token",
]

TOKEN_PREFIX = "mlg_"
_UNAUTHENTICATED = "missing, unknown, expired or revoked API token"


def hash_token(token: str) -> str:
    """The sha256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token(uow: UnitOfWork, principal: str, ttl_days: float | None) -> tuple[str, ApiToken]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = principal_rows.insert_token(
        uow.session,
        principal=principal,
        token_hash=hash_token(token),
        prefix=token[:12],
        created_at=now,
        expires_at=None if ttl_days is None else now + timedelta(days=ttl_days),
    )
    return token, row


def _create(
    db: Database, actor: str, body: PrincipalCreate, ttl_days: float | None
) -> PrincipalCreated:
    with db.unit_of_work() as uow:
        principal = principal_rows.insert(uow.session, body)
        token, row = _new_token(uow, principal.name, ttl_days)
        uow.audit(
            actor,
            "principal.created",
            "principal",
            principal.name,
            {"role": principal.role.value, "kind": principal.kind.value, "token_id": row.id},
        )
        answer = PrincipalCreated(
            principal=PrincipalPublic.model_validate(principal),
            token=token,
            token_info=ApiTokenPublic.model_validate(row),
        )
        uow.commit(answer)
    return answer


def create_principal(
    db: Database, *, actor: Principal, body: PrincipalCreate, ttl_days: float | None = None
) -> PrincipalCreated:
    """Create a principal and its first token (returned once).

    Raises:
        Conflict: a principal of that name exists.
    """
    return _create(db, actor.name, body, ttl_days)


def bootstrap_admin(
    db: Database, *, name: str = "admin", ttl_days: float | None = None
) -> PrincipalCreated:
    """Create the first admin (the equivalent of ``createsuperuser``), audited as ``system``.

    Raises:
        Conflict: a principal called ``name`` already exists.
    """
    return _create(db, "system", PrincipalCreate(name=name, role=Role.admin), ttl_days)


def create_token(
    db: Database, *, actor: Principal, name: str, ttl_days: float | None = None
) -> TokenCreated:
    """Issue another token for principal ``name`` (returned once).

    Raises:
        NotFound: no such principal.
    """
    with db.unit_of_work() as uow:
        principal = principal_rows.get(uow.session, name)
        token, row = _new_token(uow, principal.name, ttl_days)
        uow.audit(
            actor.name,
            "api_token.created",
            "api_token",
            str(row.id),
            {"principal": principal.name, "prefix": row.prefix},
        )
        answer = TokenCreated(token=token, info=ApiTokenPublic.model_validate(row))
        uow.commit(answer)
    return answer


def revoke_token(db: Database, *, actor: Principal, token_id: int) -> ApiTokenPublic:
    """Revoke a token. Admins may revoke any token, others only their own.

    Raises:
        NotFound: no such token.
        PermissionDenied: another principal's token, and the caller is no admin.
        Conflict: already revoked.
    """
    with db.unit_of_work() as uow:
        row = principal_rows.get_token(uow.session, token_id)
        if row.principal != actor.name and not actor.role.allows(Role.admin):
            raise PermissionDenied(f"{actor.name} may not revoke api token {token_id} of another")
        if row.revoked_at is not None:
            raise Conflict(f"api token {token_id} is already revoked")
        row.revoked_at = utcnow()
        principal_rows.save_token(uow.session, row)
        uow.audit(
            actor.name,
            "api_token.revoked",
            "api_token",
            str(token_id),
            {"principal": row.principal, "prefix": row.prefix},
        )
        answer = ApiTokenPublic.model_validate(row)
        uow.commit(answer)
    return answer


def list_principals(
    session: Session, *, role: Role | None = None, limit: int, offset: int
) -> Page[PrincipalPublic]:
    """Principals by name, one page, and how many match."""
    rows, total = principal_rows.list_of(session, role=role, limit=limit, offset=offset)
    return [PrincipalPublic.model_validate(row) for row in rows], total


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal a bearer token belongs to.

    No cache: a revocation or a disabled principal takes effect on the next request.

    Raises:
        Unauthenticated: no token, or an unknown, expired or revoked one, or a disabled
            principal. The message never repeats the token.
    """
    if not token or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated(_UNAUTHENTICATED)
    row = principal_rows.find_token(session, hash_token(token))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated(_UNAUTHENTICATED)
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthenticated(f"api token {row.token_id} expired")
    if row.disabled:
        raise Unauthenticated(_UNAUTHENTICATED)
    return Principal(
        id=row.id,
        name=row.name,
        role=row.role,
        kind=row.kind,
        disabled=row.disabled,
        created_at=row.created_at,
    )
