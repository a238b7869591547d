"""Dataset versions and model versions of a project: registration, validation, lookup.

Version numbers are ``max + 1`` under the project lock, so concurrent registrations never
share a number (a unique constraint backs this up).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.db import is_postgres
from governance.errors import Conflict, NotFound
from governance.models import (
    DatasetVersion,
    ModelVersion,
    Principal,
    Project,
    StageAssignment,
    utcnow,
)
from governance.schemas import (
    DatasetVersionCreate,
    ModelVersionCreate,
    Stage,
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

_PROJECTS: sa.Table = Project.__table__  # type: ignore[attr-defined]
_DATASETS: sa.Table = DatasetVersion.__table__  # type: ignore[attr-defined]
_MODELS: sa.Table = ModelVersion.__table__  # type: ignore[attr-defined]
# The next version is numbered by the insert itself (max + 1, in a statement of its own
# after the project lock, so it sees what the previous lock holder committed).
_MODEL_FIELDS = [c.name for c in _MODELS.columns if c.name not in ("id", "version")]
_INSERT_MODEL = (
    sa.insert(_MODELS)
    .from_select(
        [*_MODEL_FIELDS, "version"],
        sa.select(
            *(sa.bindparam(name, type_=_MODELS.c[name].type) for name in _MODEL_FIELDS),
            func.coalesce(func.max(_MODELS.c.version), 0) + 1,
        ).where(_MODELS.c.project == sa.bindparam("project")),
    )
    .returning(_MODELS.c.id, _MODELS.c.version)
)
# The project row (locked on PostgreSQL, FOR NO KEY UPDATE: rows that only reference the
# project can still be inserted meanwhile), whether the dataset version exists, and the
# version an idempotency key registered before; by "is PostgreSQL".
_MODEL_CONTEXT = sa.select(
    _PROJECTS.c.id,
    sa.exists()
    .where(
        _DATASETS.c.project == _PROJECTS.c.name,
        _DATASETS.c.version == sa.bindparam("dataset_version"),
    )
    .label("dataset_exists"),
    sa.select(_MODELS.c.version)
    .where(_MODELS.c.project == _PROJECTS.c.name, _MODELS.c.idempotency_key == sa.bindparam("key"))
    .scalar_subquery()
    .label("registered_as"),
).where(_PROJECTS.c.name == sa.bindparam("project"))
_LOCK_FOR_MODEL = {
    False: _MODEL_CONTEXT,
    True: _MODEL_CONTEXT.with_for_update(of=_PROJECTS, key_share=True),
}


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

    Core statements, as few as the guarantees allow (this is the registry's hot path):
    one takes the project lock and learns whether the dataset version exists and whether
    the key was used; one numbers and inserts the version under that lock.

    Returns:
        ``(model_version, created)``.

    Raises:
        NotFound: no such project or dataset version.
        Conflict: the idempotency key was used with a different request.
    """
    request_hash = _request_hash(body)
    conn = session.connection()
    statement = _LOCK_FOR_MODEL[is_postgres(session)]
    found = conn.execute(
        statement,
        {"project": project, "dataset_version": body.dataset_version, "key": idempotency_key},
    ).first()
    if found is None:
        raise NotFound(f"project {project} not found")
    if found.registered_as is not None:
        previous = _registered_as(session, project, idempotency_key, request_hash)
        if previous is not None:
            return previous, False
    if not found.dataset_exists:
        raise NotFound(f"dataset version {project}@{body.dataset_version} not found")
    values = {
        **body.model_dump(),
        "project": project,
        "trained_by": actor.name,
        "created_at": utcnow(),
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
    }
    try:
        # Numbered under the lock, so versions stay gapless and unique.
        inserted = conn.execute(_INSERT_MODEL, values).one()
    except IntegrityError as exc:
        # The one unique key not decided under the lock: the same idempotency key,
        # registered concurrently. Answer with the version the winner registered.
        session.rollback()
        previous = _registered_as(session, project, idempotency_key, request_hash)
        if previous is not None:
            return previous, False
        raise Conflict(f"model version of project {project} registered concurrently") from exc
    row = ModelVersion(id=inserted.id, version=inserted.version, **values)
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
