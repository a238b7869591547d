"""Principals and API tokens: creation, authentication, revocation.

A token is ``mlg_`` followed by 43 random URL-safe characters. Only its sha256 is stored,
with a short prefix for display; the token itself is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from governance.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from governance.models import ApiToken, Principal, utcnow
from governance.schemas import (
    ApiTokenPublic,
    PrincipalCreate,
    PrincipalCreated,
    PrincipalPublic,
    Role,
    TokenCreated,
)
from governance.services import audit

__all__ = [
    "TOKEN_PREFIX",
    "authenticate",
    "bootstrap_admin",
    "create_principal",
    "create_token",
    "get_principal",
    "hash_token",
    "revoke_token",
]

TOKEN_PREFIX = "mlg_"
_TOKENS: sa.Table = ApiToken.__table__  # type: ignore[attr-defined]
_PRINCIPALS: sa.Table = Principal.__table__  # type: ignore[attr-defined]
_AUTHENTICATE = (
    sa.select(
        _TOKENS.c.id.label("token_id"),
        _TOKENS.c.revoked_at,
        _TOKENS.c.expires_at,
        _PRINCIPALS.c.id,
        _PRINCIPALS.c.name,
        _PRINCIPALS.c.role,
        _PRINCIPALS.c.kind,
        _PRINCIPALS.c.disabled,
        _PRINCIPALS.c.created_at,
    )
    .join_from(_TOKENS, _PRINCIPALS, _PRINCIPALS.c.name == _TOKENS.c.principal)
    .where(_TOKENS.c.token_hash == sa.bindparam("token_hash"))
)
_UNAUTHENTICATED = "missing, unknown, expired or revoked API token"


def hash_token(token: str) -> str:
    """The sha256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token(session: Session, principal: str, ttl_days: float | None) -> tuple[str, ApiToken]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        principal=principal,
        token_hash=hash_token(token),
        prefix=token[:12],
        created_at=now,
        expires_at=None if ttl_days is None else now + timedelta(days=ttl_days),
    )
    session.add(row)
    session.flush()
    return token, row


def get_principal(session: Session, name: str) -> Principal:
    """The principal called ``name``.

    Raises:
        NotFound: no such principal.
    """
    principal = session.exec(select(Principal).where(Principal.name == name)).first()
    if principal is None:
        raise NotFound(f"principal {name} not found")
    return principal


def _insert_principal(
    session: Session, actor: str, body: PrincipalCreate, ttl_days: float | None
) -> PrincipalCreated:
    if session.exec(select(Principal).where(Principal.name == body.name)).first() is not None:
        raise Conflict(f"principal {body.name} already exists")
    principal = Principal.model_validate(body)
    session.add(principal)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent creation won the race
        raise Conflict(f"principal {body.name} already exists") from exc
    token, row = _new_token(session, principal.name, ttl_days)
    audit.append(
        session,
        actor,
        "principal.created",
        "principal",
        principal.name,
        {"role": principal.role.value, "kind": principal.kind.value, "token_id": row.id},
    )
    session.commit()
    return PrincipalCreated(
        principal=PrincipalPublic.model_validate(principal),
        token=token,
        token_info=ApiTokenPublic.model_validate(row),
    )


def create_principal(
    session: Session, *, actor: Principal, body: PrincipalCreate, ttl_days: float | None = None
) -> PrincipalCreated:
    """Create a principal and its first token (returned once).

    Raises:
        Conflict: a principal of that name exists.
    """
    return _insert_principal(session, actor.name, body, ttl_days)


def bootstrap_admin(
    session: Session, *, name: str = "admin", ttl_days: float | None = None
) -> PrincipalCreated:
    """Create the first admin (the equivalent of ``createsuperuser``), audited as ``system``.

    Raises:
        Conflict: a principal called ``name`` already exists.
    """
    body = PrincipalCreate(name=name, role=Role.admin)
    return _insert_principal(session, "system", body, ttl_days)


def create_token(
    session: Session, *, actor: Principal, name: str, ttl_days: float | None = None
) -> TokenCreated:
    """Issue another token for principal ``name`` (returned once).

    Raises:
        NotFound: no such principal.
    """
    principal = get_principal(session, name)
    token, row = _new_token(session, principal.name, ttl_days)
    audit.append(
        session,
        actor.name,
        "api_token.created",
        "api_token",
        str(row.id),
        {"principal": principal.name, "prefix": row.prefix},
    )
    session.commit()
    return TokenCreated(token=token, info=ApiTokenPublic.model_validate(row))


def revoke_token(session: Session, *, actor: Principal, token_id: int) -> ApiTokenPublic:
    """Revoke a token. Admins may revoke any token, others only their own.

    Raises:
        NotFound: no such token (or not the caller's).
        Conflict: already revoked.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"api token {token_id} not found")
    if row.principal != actor.name and not actor.role.allows(Role.admin):
        raise PermissionDenied(f"{actor.name} may not revoke api token {token_id} of another")
    if row.revoked_at is not None:
        raise Conflict(f"api token {token_id} is already revoked")
    row.revoked_at = utcnow()
    session.add(row)
    audit.append(
        session,
        actor.name,
        "api_token.revoked",
        "api_token",
        str(token_id),
        {"principal": row.principal, "prefix": row.prefix},
    )
    session.commit()
    return ApiTokenPublic.model_validate(row)


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal a bearer token belongs to.

    Raises:
        Unauthenticated: no token, or an unknown, expired or revoked one, or a disabled
            principal. The message never repeats the token.
    """
    if not token or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated(_UNAUTHENTICATED)
    # One round trip, a Core statement (it runs on every request): the token and its
    # principal. No cache, so a revocation or a disabled principal takes effect on the
    # next request.
    row = session.connection().execute(_AUTHENTICATE, {"token_hash": hash_token(token)}).first()
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
