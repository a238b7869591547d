"""Dataset versions and their validation."""

from __future__ import annotations

from fastapi import APIRouter, Response

from governance.api.deps import CurrentPrincipal, Limit, Offset, SessionDep
from governance.api.permissions import API_PREFIX
from governance.models import DatasetVersionCreate, DatasetVersionPublic, ValidationCreate
from governance.services import registry

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/datasets", tags=["datasets"])


@router.post("", status_code=201)
def register_dataset(
    project: str,
    body: DatasetVersionCreate,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
) -> DatasetVersionPublic:
    """Register a dataset version (201), or return the one with the same content hash (200)."""
    row, created = registry.register_dataset(session, actor=user, project=project, body=body)
    if not created:
        response.status_code = 200
    return DatasetVersionPublic.model_validate(row)


@router.get("")
def list_datasets(
    project: str,
    session: SessionDep,
    user: CurrentPrincipal,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DatasetVersionPublic]:
    """Dataset versions, newest first."""
    rows = registry.list_datasets(session, project, limit=limit, offset=offset)
    return [DatasetVersionPublic.model_validate(row) for row in rows]


@router.get("/{version}")
def get_dataset(
    project: str, version: int, session: SessionDep, user: CurrentPrincipal
) -> DatasetVersionPublic:
    """One dataset version."""
    return DatasetVersionPublic.model_validate(registry.get_dataset(session, project, version))


@router.post("/{version}/validation")
def record_validation(
    project: str,
    version: int,
    body: ValidationCreate,
    session: SessionDep,
    user: CurrentPrincipal,
) -> DatasetVersionPublic:
    """Record whether the dataset version passed validation."""
    row = registry.record_validation(
        session, actor=user, project=project, version=version, body=body
    )
    return DatasetVersionPublic.model_validate(row)
