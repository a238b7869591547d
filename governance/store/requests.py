"""Promotion requests and their decisions.

Decisions run as Core statements, as few as the guarantees allow: they are the gate's
hot path. On PostgreSQL the statements that guard a change take row locks (``FOR NO KEY
UPDATE``: rows that only reference the locked one can still be inserted meanwhile);
SQLite's ``BEGIN IMMEDIATE`` already holds the database's write lock. Locks are always
taken in the order request → project → audit chain (at commit).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from governance.errors import NotFound
from governance.models import (
    DatasetVersion,
    Decision,
    ModelVersion,
    Project,
    PromotionRequest,
    StageAssignment,
)
from governance.schemas import DecisionPublic, RequestStatus, Stage
from governance.store import projects
from governance.store.pages import Page, page

__all__ = [
    "decisions_of",
    "get",
    "insert",
    "insert_decision",
    "list_all",
    "list_of",
    "lock_for_decision",
    "lock_overdue",
    "lock_policy",
    "overdue_projects",
    "promotion_context",
    "update",
]

_PROJECTS: sa.Table = Project.__table__  # type: ignore[attr-defined]
_MODELS: sa.Table = ModelVersion.__table__  # type: ignore[attr-defined]
_REQUESTS: sa.Table = PromotionRequest.__table__  # type: ignore[attr-defined]
_DECISIONS: sa.Table = Decision.__table__  # type: ignore[attr-defined]
_ASSIGNMENTS: sa.Table = StageAssignment.__table__  # type: ignore[attr-defined]
_DATASETS: sa.Table = DatasetVersion.__table__  # type: ignore[attr-defined]
_REQUEST_FIELDS = tuple(_REQUESTS.c.keys())

# The request, who trained its model and the project's policy; keyed by "is PostgreSQL"
# (locks the request row there).
_REQUEST_CONTEXT = (
    sa.select(_REQUESTS, _MODELS.c.trained_by, _PROJECTS.c.policy)
    .join_from(
        _REQUESTS,
        _MODELS,
        sa.and_(
            _MODELS.c.project == _REQUESTS.c.project,
            _MODELS.c.version == _REQUESTS.c.model_version,
        ),
    )
    .join(_PROJECTS, _PROJECTS.c.name == _REQUESTS.c.project)
    .where(_REQUESTS.c.id == sa.bindparam("request_id"))
)
_LOCK_REQUEST = {
    False: _REQUEST_CONTEXT,
    True: _REQUEST_CONTEXT.with_for_update(of=_REQUESTS, key_share=True),
}
_POLICY = sa.select(_PROJECTS.c.policy).where(_PROJECTS.c.name == sa.bindparam("project"))
_LOCK_POLICY = {False: _POLICY, True: _POLICY.with_for_update(key_share=True)}
_DECISIONS_OF = (
    sa.select(_DECISIONS)
    .where(_DECISIONS.c.request_id == sa.bindparam("request_id"))
    .order_by(_DECISIONS.c.id)
)
_INSERT_DECISION = sa.insert(_DECISIONS).returning(_DECISIONS.c.id)
# SET clause from the parameters given (status, decided_at, revision, ...).
_UPDATE_REQUEST = sa.update(_REQUESTS).where(_REQUESTS.c.id == sa.bindparam("request_id"))
_INSERT_REQUEST = sa.insert(_REQUESTS)
# What opening a request needs, in one statement: the project's policy, the model version
# (its metrics and dataset), the dataset's validation status and the stage's holder now.
_PROMOTION_CONTEXT = (
    sa.select(
        _PROJECTS.c.policy,
        _MODELS.c.version,
        _MODELS.c.metrics,
        _MODELS.c.dataset_version,
        _DATASETS.c.validation_status,
        sa.select(_ASSIGNMENTS.c.model_version)
        .where(
            _ASSIGNMENTS.c.project == _PROJECTS.c.name,
            _ASSIGNMENTS.c.stage == sa.bindparam("stage"),
            _ASSIGNMENTS.c.ended_at.is_(None),
        )
        .scalar_subquery()
        .label("current"),
    )
    .select_from(_PROJECTS)
    .outerjoin(
        _MODELS,
        sa.and_(
            _MODELS.c.project == _PROJECTS.c.name, _MODELS.c.version == sa.bindparam("version")
        ),
    )
    .outerjoin(
        _DATASETS,
        sa.and_(
            _DATASETS.c.project == _MODELS.c.project,
            _DATASETS.c.version == _MODELS.c.dataset_version,
        ),
    )
    .where(_PROJECTS.c.name == sa.bindparam("project"))
)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def of_row(row: Any) -> PromotionRequest:
    """A request read by a Core statement, as a (detached) row object."""
    return PromotionRequest(**{name: getattr(row, name) for name in _REQUEST_FIELDS})


def promotion_context(session: Session, project: str, version: int, stage: Stage) -> Any | None:
    """Policy, model version, its dataset's validation and the stage's holder (a row).

    None: no such project. ``row.version`` is None when the model version does not exist.
    """
    params = {"project": project, "version": version, "stage": stage}
    return session.connection().execute(_PROMOTION_CONTEXT, params).first()


def insert(session: Session, request: PromotionRequest) -> None:
    """Insert a new request."""
    values = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    session.connection().execute(_INSERT_REQUEST, values)


def get(session: Session, request_id: uuid.UUID) -> PromotionRequest:
    """Promotion request ``request_id``.

    Raises:
        NotFound: no such request.
    """
    request = session.get(PromotionRequest, request_id)
    if request is None:
        raise NotFound(f"promotion request {request_id} not found")
    return request


def list_of(
    session: Session,
    project: str,
    *,
    status: RequestStatus | None,
    stage: Stage | None,
    model_version: int | None,
    limit: int,
    offset: int,
) -> Page[PromotionRequest]:
    """A project's promotion requests, newest first, optionally filtered."""
    projects.get(session, project)
    statement = select(PromotionRequest).where(PromotionRequest.project == project)
    if status is not None:
        statement = statement.where(PromotionRequest.status == status)
    if stage is not None:
        statement = statement.where(PromotionRequest.stage == stage)
    if model_version is not None:
        statement = statement.where(PromotionRequest.model_version == model_version)
    statement = statement.order_by(
        col(PromotionRequest.created_at).desc(), col(PromotionRequest.id)
    )
    return page(session, statement, limit=limit, offset=offset)


def list_all(
    session: Session,
    *,
    status: RequestStatus | None,
    project: str | None,
    stage: Stage | None,
    id_prefix: str | None,
    limit: int,
    offset: int,
) -> Page[PromotionRequest]:
    """Requests of every project, oldest first (an inbox's order), optionally filtered.

    Args:
        id_prefix: lowercase hex digits the id (without dashes) starts with.
    """
    statement = select(PromotionRequest)
    if status is not None:
        statement = statement.where(PromotionRequest.status == status)
    if project is not None:
        statement = statement.where(PromotionRequest.project == project)
    if stage is not None:
        statement = statement.where(PromotionRequest.stage == stage)
    if id_prefix is not None:
        # PostgreSQL spells a uuid with dashes, SQLite keeps 32 hex digits: compare both
        # without them.
        as_hex = sa.func.replace(sa.cast(col(PromotionRequest.id), sa.String), "-", "")
        statement = statement.where(sa.func.lower(as_hex).like(f"{id_prefix}%"))
    statement = statement.order_by(col(PromotionRequest.created_at), col(PromotionRequest.id))
    return page(session, statement, limit=limit, offset=offset)


def of_model(session: Session, project: str, version: int) -> list[PromotionRequest]:
    """Every request for ``project@version``, oldest first."""
    return list(
        session.exec(
            select(PromotionRequest)
            .where(PromotionRequest.project == project, PromotionRequest.model_version == version)
            .order_by(col(PromotionRequest.created_at), col(PromotionRequest.id))
        ).all()
    )


def lock_for_decision(session: Session, request_id: uuid.UUID) -> Any | None:
    """The request (locked), who trained its model and the project's policy (a row)."""
    statement = _LOCK_REQUEST[_postgres(session)]
    return session.connection().execute(statement, {"request_id": request_id}).first()


def lock_policy(session: Session, project: str) -> dict[str, Any]:
    """The project's policy as it is now, with the project row locked."""
    statement = _LOCK_POLICY[_postgres(session)]
    policy: dict[str, Any] = (
        session.connection().execute(statement, {"project": project}).scalar_one()
    )
    return policy


def decisions_of(session: Session, request_id: uuid.UUID) -> list[DecisionPublic]:
    """The decisions on a request, in the order they were made."""
    rows = session.connection().execute(_DECISIONS_OF, {"request_id": request_id}).all()
    return [DecisionPublic.model_validate(row, from_attributes=True) for row in rows]


def insert_decision(session: Session, values: dict[str, Any]) -> DecisionPublic:
    """Insert a decision (``request_id``, ``principal``, ``decision``, ``comment``,
    ``created_at``); the decision as recorded."""
    decision_id = session.connection().execute(_INSERT_DECISION, values).scalar_one()
    return DecisionPublic(id=decision_id, **values)


def update(session: Session, request_id: uuid.UUID, **values: Any) -> None:
    """Set columns of a request (status, decided_at, revision, required_approvals)."""
    session.connection().execute(_UPDATE_REQUEST, {"request_id": request_id, **values})


def overdue_projects(session: Session, now: datetime) -> list[str]:
    """Projects with pending requests past their expiry."""
    return list(
        session.exec(
            select(PromotionRequest.project)
            .where(
                PromotionRequest.status == RequestStatus.pending,
                col(PromotionRequest.expires_at) <= now,
            )
            .distinct()
        ).all()
    )


def lock_overdue(
    session: Session, project: str, now: datetime, limit: int
) -> list[PromotionRequest]:
    """A project's overdue pending requests, locked as a decision locks them.

    On PostgreSQL one being decided right now is skipped (the decision expires it itself
    if it is overdue) and picked up by a later sweep.
    """
    statement = (
        sa.select(_REQUESTS)
        .where(
            _REQUESTS.c.project == project,
            _REQUESTS.c.status == RequestStatus.pending,
            _REQUESTS.c.expires_at <= now,
        )
        .limit(limit)
    )
    if _postgres(session):
        statement = statement.with_for_update(key_share=True, skip_locked=True)
    return [of_row(row) for row in session.connection().execute(statement).all()]
