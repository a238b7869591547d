"""Dependencies of the API routes, declared once as ``Annotated`` aliases."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from governance.api.intake import PRINCIPAL_KEY, SESSION_KEY
from governance.api.permissions import required_role
from governance.config import Settings
from governance.errors import InvalidInput, PermissionDenied, PreconditionRequired, Unauthenticated
from governance.locations import Locations
from governance.models import Principal
from governance.schemas import MAX_INT
from governance.services.principals import authenticate
from governance.store.idempotency import IdempotencyContext, request_hash
from governance.store.uow import Database

__all__ = [
    "MAX_LIMIT",
    "CurrentPrincipal",
    "DatabaseDep",
    "IdempotencyDep",
    "IfMatchOptional",
    "IfMatchRequired",
    "Limit",
    "LocationsDep",
    "ModelVersionFilter",
    "Offset",
    "PostDatabaseDep",
    "SeqNo",
    "SessionDep",
    "SettingsDep",
    "TokenId",
    "Version",
    "authorize",
    "refuse_nul",
    "set_etag",
    "set_total",
]

MAX_LIMIT = 1000

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer mlg_…`")


async def get_session(request: Request) -> Session:
    """The request's one session, opened by :class:`~governance.api.intake.Intake` and
    closed when the answer is sent (what a service did not commit is rolled back)."""
    session: Session = getattr(request.state, SESSION_KEY)
    return session


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_locations(request: Request) -> Locations:
    """The stores and source schemes locations are checked against."""
    locations: Locations = request.app.state.locations
    return locations


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LocationsDep = Annotated[Locations, Depends(get_locations)]
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
    # A write was authenticated before its body was read (Intake); reads are here.
    principal: Principal | None = getattr(request.state, PRINCIPAL_KEY, None)
    if principal is None:
        principal = authenticate(session, credentials.credentials if credentials else None)
    if not principal.role.allows(role):
        raise PermissionDenied(
            f"{principal.name} has role {principal.role.value}; "
            f"{request.method} {path} needs {role.value}"
        )
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(authorize)],
) -> Principal:
    """The authenticated caller (for routes whose minimum role is set).

    Pure dependencies like this one are ``async`` so that FastAPI runs them on the event
    loop instead of handing each to a worker thread.
    """
    if principal is None:
        raise Unauthenticated("this route needs an API token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def idempotency(
    request: Request,
    user: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="repeat a POST safely: the same key and body replay the first answer",
        ),
    ] = None,
) -> IdempotencyContext | None:
    """The ``Idempotency-Key`` of the current POST as a context (None: no key sent).

    The rules — what is replayed, refused and stored — live with the records
    (:mod:`governance.store.idempotency`); units of work opened on the request's
    :class:`~governance.store.uow.Database` apply them.
    """
    if idempotency_key is None:
        return None
    route = request.scope.get("route")
    raw = await request.body()
    return IdempotencyContext(
        principal=user.name,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        request_hash=request_hash(request.method, request.url.path, raw),
        default_status=getattr(route, "status_code", None) or 200,
    )


IdempotencyDep = Annotated[IdempotencyContext | None, Depends(idempotency)]


async def get_database(request: Request, session: SessionDep) -> Database:
    """The request's database for a service that writes (PUT, DELETE without a key)."""
    return Database(session, notifier=getattr(request.app.state, "notifier", None))


async def get_idempotent_database(
    request: Request, session: SessionDep, idem: IdempotencyDep
) -> Database:
    """The request's database for a POST: its units of work honour ``Idempotency-Key``."""
    notifier = getattr(request.app.state, "notifier", None)
    return Database(session, notifier=notifier, idempotency=idem)


DatabaseDep = Annotated[Database, Depends(get_database)]
PostDatabaseDep = Annotated[Database, Depends(get_idempotent_database)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="rows to skip")]
Version = Annotated[int, Path(ge=1, le=MAX_INT, description="version number")]
TokenId = Annotated[int, Path(ge=1, le=MAX_INT, description="token id")]
SeqNo = Annotated[int, Query(ge=0, le=MAX_INT, description="events after this sequence number")]
ModelVersionFilter = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="only this model version")
]


def _nul_in(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_in(key, where) or _nul_in(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, f"{where}.{index}")
            if found:
                return found
    return None


async def refuse_nul(request: Request) -> None:
    """Refuse NUL characters anywhere in the path, query or JSON body (no column holds them).

    Raises:
        InvalidInput: naming where the NUL character is.
    """
    found = _nul_in(request.url.path, "path")
    for name, value in request.query_params.multi_items():
        found = found or _nul_in(name, "query") or _nul_in(value, f"query.{name}")
    if found is None and request.method in ("POST", "PUT", "PATCH"):
        raw = await request.body()
        if b"\\u0000" in raw or b"\x00" in raw:
            try:
                found = _nul_in(json.loads(raw), "body")
            except ValueError:
                found = "body"
    if found is not None:
        raise InvalidInput(f"{found}: NUL characters are not allowed")


def set_total(response: Response, total: int) -> None:
    """Say how many rows the list's filters match, across all pages."""
    response.headers["X-Total-Count"] = str(total)


def set_etag(response: Response, revision: int) -> None:
    """Send a resource's revision as its (strong) ETag."""
    response.headers["ETag"] = f'"{revision}"'


def _parse_if_match(value: str) -> int | None:
    # RFC 9110: "*" matches any current representation; otherwise an entity tag.
    text = value.strip()
    if text == "*":
        return None
    tag = text.removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 18:
        raise InvalidInput(f'If-Match must be "*" or an ETag such as "3", got {value[:40]!r}')
    return int(tag)


_IF_MATCH_DOC = 'the ETag (revision) last read, e.g. "3"; "*" means any revision'


async def if_match_required(
    if_match: Annotated[str | None, Header(alias="If-Match", description=_IF_MATCH_DOC)] = None,
) -> int | None:
    """The revision an update replaces; 428 when the header is missing (``*``: any)."""
    if if_match is None:
        raise PreconditionRequired(
            'this update needs an If-Match header: the ETag you read, or "*" to overwrite'
        )
    return _parse_if_match(if_match)


async def if_match_optional(
    if_match: Annotated[str | None, Header(alias="If-Match", description=_IF_MATCH_DOC)] = None,
) -> int | None:
    """The revision a change expects, if the caller sent one."""
    return None if if_match is None else _parse_if_match(if_match)


IfMatchRequired = Annotated[int | None, Depends(if_match_required)]
IfMatchOptional = Annotated[int | None, Depends(if_match_optional)]
