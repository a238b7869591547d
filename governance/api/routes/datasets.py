"""Dataset versions and their validation."""

from __future__ import annotations

from fastapi import APIRouter, Response

from governance.api.deps import (
    CurrentPrincipal,
    Limit,
    Offset,
    SessionDep,
    Version,
    set_total,
)
from governance.api.idempotency import IdempotencyDep
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
    session: SessionDep,
    user: CurrentPrincipal,
    idem: IdempotencyDep,
) -> DatasetVersionPublic:
    """Register a dataset version (201), or return the one with the same content hash (200)."""

    def work() -> DatasetVersionPublic:
        row, created = registry.register_dataset(session, actor=user, project=project, body=body)
        if not created:
            response.status_code = 200
        return DatasetVersionPublic.model_validate(row)

    return await idem.respond(session, user, response, work)


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
    return [DatasetVersionPublic.model_validate(row) for row in rows]


@router.get("/{version}")
def get_dataset(
    project: str, version: Version, session: SessionDep, user: CurrentPrincipal
) -> DatasetVersionPublic:
    """One dataset version."""
    return DatasetVersionPublic.model_validate(registry.get_dataset(session, project, version))


@router.post("/{version}/validation")
async def record_validation(
    project: str,
    version: Version,
    body: ValidationCreate,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    idem: IdempotencyDep,
) -> DatasetVersionPublic:
    """Record whether the dataset version passed validation."""

    def work() -> DatasetVersionPublic:
        row = registry.record_validation(
            session, actor=user, project=project, version=version, body=body
        )
        return DatasetVersionPublic.model_validate(row)

    return await idem.respond(session, user, response, work)
