"""Dataset versions and model versions of a project: registration, validation, lookup.

Version numbers are ``max + 1`` under the project lock, so concurrent registrations never
share a number (a unique constraint backs this up).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from governance.errors import NotFound
from governance.locations import Locations, check_sha256
from governance.models import Principal, utcnow
from governance.schemas import (
    DatasetVersionCreate,
    DatasetVersionPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    Stage,
    ValidationCreate,
    ValidationStatus,
)
from governance.store import datasets, model_versions, projects
from governance.store.pages import Page
from governance.store.uow import Database

__all__ = [
    "get_dataset",
    "get_model",
    "list_datasets",
    "list_models",
    "record_validation",
    "register_dataset",
    "register_model",
]


def get_dataset(session: Session, project: str, version: int) -> DatasetVersionPublic:
    """Dataset version ``project@version``.

    Raises:
        NotFound: no such project or version.
    """
    return DatasetVersionPublic.model_validate(datasets.get(session, project, version))


def list_datasets(
    session: Session,
    project: str,
    *,
    validation_status: ValidationStatus | None = None,
    limit: int,
    offset: int,
) -> Page[DatasetVersionPublic]:
    """Dataset versions of a project, newest first, optionally of one validation status."""
    rows, total = datasets.list_of(
        session, project, validation_status=validation_status, limit=limit, offset=offset
    )
    return [DatasetVersionPublic.model_validate(row) for row in rows], total


def register_dataset(
    db: Database,
    *,
    actor: Principal,
    project: str,
    body: DatasetVersionCreate,
    locations: Locations,
) -> tuple[DatasetVersionPublic, bool]:
    """Register a dataset version, or return the one with the same content hash.

    Its source must use a configured scheme, its snapshot lie inside a configured store
    (:mod:`governance.locations`), its content hash be a sha256.

    Returns:
        ``(dataset_version, created)``; ``created`` is False when the content hash was
        already registered in the project.

    Raises:
        NotFound: no such project.
        InvalidInput: a location or the hash is refused (the field is named).
    """
    locations.check_source_uri("source", body.source)
    locations.check_store_uri("snapshot_uri", body.snapshot_uri)
    check_sha256("content_hash", body.content_hash)
    with db.unit_of_work() as uow:
        projects.lock(uow.session, project)
        existing = datasets.by_content_hash(uow.session, project, body.content_hash)
        if existing is not None:
            answer = DatasetVersionPublic.model_validate(existing)
            uow.commit(answer, created=False)
            return answer, False
        row = datasets.insert_next(uow.session, project=project, body=body, created_by=actor.name)
        uow.audit(
            actor.name,
            "dataset_version.registered",
            "dataset_version",
            f"{project}@{row.version}",
            body.model_dump(mode="json"),
        )
        answer = DatasetVersionPublic.model_validate(row)
        uow.commit(answer)
    return answer, True


def record_validation(
    db: Database, *, actor: Principal, project: str, version: int, body: ValidationCreate
) -> DatasetVersionPublic:
    """Record the outcome of validating a dataset version (a later result replaces it).

    Raises:
        NotFound: no such project or version.
    """
    with db.unit_of_work() as uow:
        projects.lock(uow.session, project)
        row = datasets.get(uow.session, project, version)
        row.validation_status = ValidationStatus.passed if body.passed else ValidationStatus.failed
        row.validation_summary = body.summary
        datasets.save(uow.session, row)
        uow.audit(
            actor.name,
            "dataset_version.validated",
            "dataset_version",
            f"{project}@{version}",
            {"status": row.validation_status.value, "summary": body.summary},
        )
        answer = DatasetVersionPublic.model_validate(row)
        uow.commit(answer)
    return answer


def get_model(session: Session, project: str, version: int) -> ModelVersionPublic:
    """Model version ``project@version``.

    Raises:
        NotFound: no such project or version.
    """
    return ModelVersionPublic.model_validate(model_versions.get(session, project, version))


def list_models(
    session: Session,
    project: str,
    *,
    stage: Stage | None = None,
    algorithm: str | None = None,
    trained_by: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: int,
    offset: int,
) -> Page[ModelVersionPublic]:
    """Model versions of a project, newest first, filtered.

    Args:
        stage: only the model version that holds this stage now.
        created_after: strictly after this instant; ``created_before`` strictly before.
    """
    rows, total = model_versions.list_of(
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
    return [ModelVersionPublic.model_validate(row) for row in rows], total


def register_model(
    db: Database,
    *,
    actor: Principal,
    project: str,
    body: ModelVersionCreate,
    locations: Locations,
) -> ModelVersionPublic:
    """Register the project's next model version, trained by the caller.

    A repeat of the same request with the same ``Idempotency-Key`` (the client always
    sends one) replays the version the first one registered.

    Raises:
        NotFound: no such project or dataset version.
        InvalidInput: the artifact lies outside the configured stores (or is not in
            canonical form).
    """
    locations.check_store_uri("artifact_uri", body.artifact_uri)
    check_sha256("sha256", body.sha256)
    with db.unit_of_work() as uow:
        if not model_versions.lock_project_for_model(uow.session, project, body.dataset_version):
            raise NotFound(f"dataset version {project}@{body.dataset_version} not found")
        values = {
            **body.model_dump(),
            "project": project,
            "trained_by": actor.name,
            "created_at": utcnow(),
        }
        # Numbered under the lock, so versions stay gapless and unique.
        row = model_versions.insert_next(uow.session, values)
        uow.audit(
            actor.name,
            "model_version.registered",
            "model_version",
            f"{project}@{row.version}",
            body.model_dump(mode="json"),
        )
        answer = ModelVersionPublic.model_validate(row)
        uow.commit(answer)
    return answer
