"""Health and identity."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from governance.api.deps import CurrentPrincipal, SessionDep
from governance.api.permissions import API_PREFIX
from governance.schemas import Health, PrincipalPublic

router = APIRouter(prefix=API_PREFIX, tags=["meta"])


@router.get("/health")
def health(session: SessionDep) -> Health:
    """Liveness and database reachability (no authentication)."""
    from governance import __version__

    session.execute(text("SELECT 1"))
    return Health(database=session.get_bind().dialect.name, version=__version__)


@router.get("/me")
def me(user: CurrentPrincipal) -> PrincipalPublic:
    """The caller's principal."""
    return PrincipalPublic.model_validate(user)
