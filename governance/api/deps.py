"""Dependencies of the API routes, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from governance.api.permissions import required_role
from governance.config import Settings
from governance.db import session_scope
from governance.errors import PermissionDenied, Unauthenticated
from governance.models import Principal
from governance.services.principals import authenticate

__all__ = [
    "MAX_LIMIT",
    "CurrentPrincipal",
    "Limit",
    "Offset",
    "SessionDep",
    "SettingsDep",
    "authorize",
]

MAX_LIMIT = 1000

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer mlg_…`")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; whatever a service did not commit is rolled back."""
    engine: Engine = request.app.state.engine
    yield from session_scope(engine)


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def authorize(request: Request, session: SessionDep, credentials: Credentials) -> Principal | None:
    """Enforce the role matrix for the matched route (runs for every API route).

    Returns:
        The caller, or None for a route that needs no authentication.

    Raises:
        Unauthenticated: no valid token.
        PermissionDenied: the caller's role is below the route's minimum.
    """
    route = request.scope.get("route")
    path: str = getattr(route, "path", request.url.path)
    try:
        role = required_role(request.method, path)
    except KeyError as exc:  # create_app refuses this; keep failing closed anyway
        raise PermissionDenied(f"{request.method} {path} is not in the role matrix") from exc
    if role is None:
        return None
    principal = authenticate(session, credentials.credentials if credentials else None)
    if not principal.role.allows(role):
        raise PermissionDenied(
            f"{principal.name} has role {principal.role.value}; "
            f"{request.method} {path} needs {role.value}"
        )
    return principal


def current_principal(
    principal: Annotated[Principal | None, Depends(authorize)],
) -> Principal:
    """The authenticated caller (for routes whose minimum role is set)."""
    if principal is None:
        raise Unauthenticated("this route needs an API token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]
