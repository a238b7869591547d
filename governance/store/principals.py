"""Principals and their API tokens (stored as sha256 only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.errors import Conflict, NotFound
from governance.models import ApiToken, Principal
from governance.schemas import PrincipalCreate, Role
from governance.store.pages import Page, page

__all__ = ["find_token", "get", "get_token", "insert", "insert_token", "list_of", "save_token"]

_TOKENS: sa.Table = ApiToken.__table__  # type: ignore[attr-defined]
_PRINCIPALS: sa.Table = Principal.__table__  # type: ignore[attr-defined]
# One round trip, a Core statement (it runs on every request): the token and its principal.
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


def find_token(session: Session, token_hash: str) -> Any | None:
    """The token with this hash joined to its principal (a row), or None."""
    return session.connection().execute(_AUTHENTICATE, {"token_hash": token_hash}).first()


def get(session: Session, name: str) -> Principal:
    """The principal called ``name``.

    Raises:
        NotFound: no such principal.
    """
    principal = session.exec(select(Principal).where(Principal.name == name)).first()
    if principal is None:
        raise NotFound(f"principal {name} not found")
    return principal


def list_of(session: Session, *, role: Role | None, limit: int, offset: int) -> Page[Principal]:
    """Principals by name, optionally of one role."""
    statement = select(Principal)
    if role is not None:
        statement = statement.where(Principal.role == role)
    return page(session, statement.order_by(col(Principal.name)), limit=limit, offset=offset)


def insert(session: Session, body: PrincipalCreate) -> Principal:
    """Insert a principal.

    Raises:
        Conflict: a principal of that name exists.
    """
    if session.exec(select(Principal).where(Principal.name == body.name)).first() is not None:
        raise Conflict(f"principal {body.name} already exists")
    principal = Principal.model_validate(body)
    session.add(principal)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent creation won the race
        raise Conflict(f"principal {body.name} already exists") from exc
    return principal


def insert_token(
    session: Session,
    *,
    principal: str,
    token_hash: str,
    prefix: str,
    created_at: datetime,
    expires_at: datetime | None,
) -> ApiToken:
    """Insert a token row (its id is assigned)."""
    row = ApiToken(
        principal=principal,
        token_hash=token_hash,
        prefix=prefix,
        created_at=created_at,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def get_token(session: Session, token_id: int) -> ApiToken:
    """Token ``token_id``.

    Raises:
        NotFound: no such token.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"api token {token_id} not found")
    return row


def save_token(session: Session, row: ApiToken) -> None:
    """Write a changed token row (its revocation)."""
    session.add(row)
    session.flush()
