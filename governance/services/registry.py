"""Dataset versions and model versions of a project: registration, validation, lookup.

Version numbers are ``max + 1`` under the project lock, so concurrent registrations never
share a number (a unique constraint backs this up).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.errors import Conflict, NotFound
from governance.models import (
    DatasetVersion,
    DatasetVersionCreate,
    ModelVersion,
    ModelVersionCreate,
    Principal,
    Stage,
    StageAssignment,
    ValidationCreate,
    ValidationStatus,
)
from governance.services import audit
from governance.services.pages import Page, page
from governance.services.projects import get_project, lock_project

__all__ = [
    "get_dataset",
    "get_model",
    "list_datasets",
    "list_models",
    "record_validation",
    "register_dataset",
    "register_model",
]


def get_dataset(session: Session, project: str, version: int) -> DatasetVersion:
    """Dataset version ``project@version``.

    Raises:
        NotFound: no such project or version.
    """
    row = session.exec(
        select(DatasetVersion).where(
            DatasetVersion.project == project, DatasetVersion.version == version
        )
    ).first()
    if row is None:
        get_project(session, project)  # names the project when that is what is missing
        raise NotFound(f"dataset version {project}@{version} not found")
    return row


def list_datasets(
    session: Session,
    project: str,
    *,
    validation_status: ValidationStatus | None = None,
    limit: int,
    offset: int,
) -> Page[DatasetVersion]:
    """Dataset versions of a project, newest first, optionally of one validation status."""
    get_project(session, project)
    statement = select(DatasetVersion).where(DatasetVersion.project == project)
    if validation_status is not None:
        statement = statement.where(DatasetVersion.validation_status == validation_status)
    statement = statement.order_by(col(DatasetVersion.version).desc())
    return page(session, statement, limit=limit, offset=offset)


def register_dataset(
    session: Session, *, actor: Principal, project: str, body: DatasetVersionCreate
) -> tuple[DatasetVersion, bool]:
    """Register a dataset version, or return the one with the same content hash.

    Returns:
        ``(dataset_version, created)``; ``created`` is False when the content hash was
        already registered in the project.

    Raises:
        NotFound: no such project.
    """
    lock_project(session, project)
    existing = session.exec(
        select(DatasetVersion).where(
            DatasetVersion.project == project, DatasetVersion.content_hash == body.content_hash
        )
    ).first()
    if existing is not None:
        return existing, False
    last = session.exec(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.project == project)
    ).one()
    row = DatasetVersion.model_validate(
        body, update={"project": project, "version": (last or 0) + 1, "created_by": actor.name}
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"dataset version of project {project} registered concurrently") from exc
    audit.append(
        session,
        actor.name,
        "dataset_version.registered",
        "dataset_version",
        f"{project}@{row.version}",
        body.model_dump(mode="json"),
    )
    session.commit()
    return row, True


def record_validation(
    session: Session, *, actor: Principal, project: str, version: int, body: ValidationCreate
) -> DatasetVersion:
    """Record the outcome of validating a dataset version (a later result replaces it).

    Raises:
        NotFound: no such project or version.
    """
    lock_project(session, project)
    row = get_dataset(session, project, version)
    row.validation_status = ValidationStatus.passed if body.passed else ValidationStatus.failed
    row.validation_summary = body.summary
    session.add(row)
    audit.append(
        session,
        actor.name,
        "dataset_version.validated",
        "dataset_version",
        f"{project}@{version}",
        {"status": row.validation_status.value, "summary": body.summary},
    )
    session.commit()
    return row


def get_model(session: Session, project: str, version: int) -> ModelVersion:
    """Model version ``project@version``.

    Raises:
        NotFound: no such project or version.
    """
    row = session.exec(
        select(ModelVersion).where(ModelVersion.project == project, ModelVersion.version == version)
    ).first()
    if row is None:
        get_project(session, project)  # names the project when that is what is missing
        raise NotFound(f"model version {project}@{version} not found")
    return row


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
) -> Page[ModelVersion]:
    """Model versions of a project, newest first, filtered.

    Args:
        stage: only the model version that holds this stage now.
        created_after: strictly after this instant; ``created_before`` strictly before.
    """
    get_project(session, project)
    statement = select(ModelVersion).where(ModelVersion.project == project)
    if stage is not None:
        holders = select(StageAssignment.model_version).where(
            StageAssignment.project == project,
            StageAssignment.stage == stage,
            col(StageAssignment.ended_at).is_(None),
        )
        statement = statement.where(col(ModelVersion.version).in_(holders))
    if algorithm is not None:
        statement = statement.where(ModelVersion.algorithm == algorithm)
    if trained_by is not None:
        statement = statement.where(ModelVersion.trained_by == trained_by)
    if created_after is not None:
        statement = statement.where(col(ModelVersion.created_at) > created_after)
    if created_before is not None:
        statement = statement.where(col(ModelVersion.created_at) < created_before)
    statement = statement.order_by(col(ModelVersion.version).desc())
    return page(session, statement, limit=limit, offset=offset)


def _request_hash(body: ModelVersionCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _registered_as(
    session: Session, project: str, idempotency_key: str | None, request_hash: str
) -> ModelVersion | None:
    """The version an earlier request with ``idempotency_key`` registered, if any.

    Raises:
        Conflict: the key was used with a different request.
    """
    if idempotency_key is None:
        return None
    previous = session.exec(
        select(ModelVersion).where(
            ModelVersion.project == project, ModelVersion.idempotency_key == idempotency_key
        )
    ).first()
    if previous is not None and previous.request_hash != request_hash:
        raise Conflict(
            f"idempotency key {idempotency_key} of project {project} was already "
            "used with a different request"
        )
    return previous


def register_model(
    session: Session,
    *,
    actor: Principal,
    project: str,
    body: ModelVersionCreate,
    idempotency_key: str | None = None,
) -> tuple[ModelVersion, bool]:
    """Register the project's next model version, trained by the caller.

    With an ``idempotency_key``, a repeat of the same request returns the version the
    first one created.

    Returns:
        ``(model_version, created)``.

    Raises:
        NotFound: no such project or dataset version.
        Conflict: the idempotency key was used with a different request.
    """
    request_hash = _request_hash(body)
    previous = _registered_as(session, project, idempotency_key, request_hash)
    if previous is not None:
        return previous, False
    get_dataset(session, project, body.dataset_version)
    # Everything above ran unlocked; from here to the commit, the project's writers queue.
    # The version is numbered under the lock, so versions stay gapless and unique.
    lock_project(session, project)
    last = session.exec(
        select(func.max(ModelVersion.version)).where(ModelVersion.project == project)
    ).one()
    row = ModelVersion.model_validate(
        body,
        update={
            "project": project,
            "version": (last or 0) + 1,
            "trained_by": actor.name,
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
        },
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        # The one unique key not decided under the lock: the same idempotency key,
        # registered concurrently. Answer with the version the winner registered.
        session.rollback()
        previous = _registered_as(session, project, idempotency_key, request_hash)
        if previous is not None:
            return previous, False
        raise Conflict(f"model version of project {project} registered concurrently") from exc
    audit.append(
        session,
        actor.name,
        "model_version.registered",
        "model_version",
        f"{project}@{row.version}",
        body.model_dump(mode="json"),
    )
    session.commit()
    return row, True
