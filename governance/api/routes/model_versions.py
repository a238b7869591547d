"""Model versions and their lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from governance.api.deps import (
    CurrentPrincipal,
    Limit,
    LocationsDep,
    Offset,
    PostDatabaseDep,
    SessionDep,
    Version,
    set_total,
)
from governance.api.permissions import API_PREFIX
from governance.schemas import ModelLineage, ModelVersionCreate, ModelVersionPublic, Stage
from governance.services import lineage, registry

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/models", tags=["models"])


@router.post("", status_code=201)
async def register_model(
    project: str,
    body: ModelVersionCreate,
    db: PostDatabaseDep,
    locations: LocationsDep,
    user: CurrentPrincipal,
) -> ModelVersionPublic:
    """Register the project's next model version, trained by the caller."""
    return await run_in_threadpool(
        registry.register_model, db, actor=user, project=project, body=body, locations=locations
    )


@router.get("")
def list_models(
    project: str,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    stage: Annotated[Stage | None, Query(description="only the version holding it")] = None,
    algorithm: Annotated[str | None, Query(max_length=200)] = None,
    trained_by: Annotated[str | None, Query(max_length=63)] = None,
    created_after: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    created_before: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ModelVersionPublic]:
    """Model versions, newest first (``X-Total-Count``: how many match)."""
    rows, total = registry.list_models(
        session,
        project,
        stage=stage,
        algorithm=algorithm,
        trained_by=trained_by,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        offset=offset,
    )
    set_total(response, total)
    return rows


@router.get("/{version}")
def get_model(
    project: str, version: Version, session: SessionDep, user: CurrentPrincipal
) -> ModelVersionPublic:
    """One model version."""
    return registry.get_model(session, project, version)


@router.get("/{version}/lineage")
def model_lineage(
    project: str, version: Version, session: SessionDep, user: CurrentPrincipal
) -> ModelLineage:
    """What data trained it, how it was validated, who requested and approved it, its stages."""
    return lineage.lineage(session, project, version)
