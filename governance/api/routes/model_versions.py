"""Model versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from governance.api.deps import CurrentPrincipal, Limit, Offset, SessionDep
from governance.api.permissions import API_PREFIX
from governance.models import ModelVersionCreate, ModelVersionPublic
from governance.services import registry

router = APIRouter(prefix=f"{API_PREFIX}/projects/{{project}}/models", tags=["models"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="repeat a request safely: the same key returns the same model version",
    ),
]


@router.post("", status_code=201)
def register_model(
    project: str,
    body: ModelVersionCreate,
    response: Response,
    session: SessionDep,
    user: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> ModelVersionPublic:
    """Register the project's next model version, trained by the caller."""
    row, created = registry.register_model(
        session, actor=user, project=project, body=body, idempotency_key=idempotency_key
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ModelVersionPublic.model_validate(row)


@router.get("")
def list_models(
    project: str,
    session: SessionDep,
    user: CurrentPrincipal,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ModelVersionPublic]:
    """Model versions, newest first."""
    rows = registry.list_models(session, project, limit=limit, offset=offset)
    return [ModelVersionPublic.model_validate(row) for row in rows]


@router.get("/{version}")
def get_model(
    project: str, version: int, session: SessionDep, user: CurrentPrincipal
) -> ModelVersionPublic:
    """One model version."""
    return ModelVersionPublic.model_validate(registry.get_model(session, project, version))
