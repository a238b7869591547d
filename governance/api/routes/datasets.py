"""Dataset versions and their validation."""

from __future__ import annotations

from fastapi import APIRouter, Response
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
from governance.schemas import (
    DatasetVersionCreate,
    DatasetVersionPublic,
    ValidationCreate,
    ValidationStatus,
)
from governance.services import registry

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/datasets", tags=["datasets"])


@router.post("", status_code=201)
async def register_dataset(
    project: str,
    body: DatasetVersionCreate,
    response: Response,
    db: PostDatabaseDep,
    locations: LocationsDep,
    user: CurrentPrincipal,
) -> DatasetVersionPublic:
    """Register a dataset version (201), or return the one with the same content hash (200)."""
    public, created = await run_in_threadpool(
        registry.register_dataset, db, actor=user, project=project, body=body, locations=locations
    )
    if not created:
        response.status_code = 200
    return public


@router.get("")
def list_datasets(
    project: str,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    validation_status: ValidationStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DatasetVersionPublic]:
    """Dataset versions, newest first (``X-Total-Count``: how many match)."""
    rows, total = registry.list_datasets(
        session, project, validation_status=validation_status, limit=limit, offset=offset
    )
    set_total(response, total)
    return rows


@router.get("/{version}")
def get_dataset(
    project: str, version: Version, session: SessionDep, user: CurrentPrincipal
) -> DatasetVersionPublic:
    """One dataset version."""
    return registry.get_dataset(session, project, version)


@router.post("/{version}/validation")
async def record_validation(
    project: str,
    version: Version,
    body: ValidationCreate,
    db: PostDatabaseDep,
    user: CurrentPrincipal,
) -> DatasetVersionPublic:
    """Record whether the dataset version passed validation."""
    return await run_in_threadpool(
        registry.record_validation, db, actor=user, project=project, version=version, body=body
    )
