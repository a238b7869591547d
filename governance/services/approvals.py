"""Promotion requests, their policy checks, decisions and the stage assignments they cause.

The gate: a request is created ``pending`` when every policy check passes (``blocked``
otherwise) and becomes ``approved`` when enough distinct approvers, none of whom
requested it or trained the model, approve it before it expires. Approval ends the
stage's current assignment and creates the new one in the same transaction, under the
project lock, so two approvals racing can never leave two current assignments (a partial
unique index in the database refuses it as well).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.db import is_postgres
from governance.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed
from governance.models import (
    DatasetVersion,
    Decision,
    ModelVersion,
    MonitoringResult,
    Principal,
    Project,
    PromotionRequest,
    StageAssignment,
    utcnow,
)
from governance.schemas import (
    Check,
    DecisionCreate,
    DecisionKind,
    DecisionPublic,
    Policy,
    PromotionRequestCreate,
    PromotionRequestPublic,
    RequestStatus,
    Stage,
    ValidationStatus,
)
from governance.services import audit
from governance.services.pages import Page, page
from governance.services.projects import get_project
from governance.services.resume import resume_after_commit

_PROJECTS: sa.Table = Project.__table__  # type: ignore[attr-defined]
_MODELS: sa.Table = ModelVersion.__table__  # type: ignore[attr-defined]
_REQUESTS: sa.Table = PromotionRequest.__table__  # type: ignore[attr-defined]
_DECISIONS: sa.Table = Decision.__table__  # type: ignore[attr-defined]
_ASSIGNMENTS: sa.Table = StageAssignment.__table__  # type: ignore[attr-defined]
_DATASETS: sa.Table = DatasetVersion.__table__  # type: ignore[attr-defined]

# Decisions run as Core statements, as few as the guarantees allow: they are the gate's
# hot path. Variants keyed by "is PostgreSQL" take row locks there (FOR NO KEY UPDATE:
# rows that only reference the locked one can still be inserted meanwhile); SQLite's
# BEGIN IMMEDIATE already holds the database's write lock.
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
# The request (locked), who trained its model and the project's policy (unlocked).
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
_END_ASSIGNMENT = (
    sa.update(_ASSIGNMENTS)
    .where(
        _ASSIGNMENTS.c.project == sa.bindparam("p_project"),
        _ASSIGNMENTS.c.stage == sa.bindparam("p_stage"),
        _ASSIGNMENTS.c.ended_at.is_(None),
    )
    .values(ended_at=sa.bindparam("p_ended_at"), ended_reason="replaced")
    .returning(_ASSIGNMENTS.c.model_version)
)
_INSERT_ASSIGNMENT = sa.insert(_ASSIGNMENTS).returning(_ASSIGNMENTS.c.id)
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
_REQUEST_FIELDS = tuple(_REQUESTS.c.keys())

__all__ = [
    "decide",
    "evaluate_policy",
    "expire_overdue",
    "get_request",
    "list_requests",
    "request_promotion",
    "to_public",
]


def evaluate_policy(
    session: Session,
    policy: Policy,
    *,
    project: str,
    dataset_version: int,
    metrics: dict[str, float],
    validation_status: ValidationStatus,
) -> list[Check]:
    """Run every check the policy asks for against a model version.

    Args:
        dataset_version: the version of the data that trained the model.
        metrics: the model version's metrics.
        validation_status: of that dataset version.
    """
    checks: list[Check] = []
    ref = f"{project}@{dataset_version}"
    if policy.require_validation:
        status = validation_status.value
        checks.append(
            Check(
                name="validation_passed",
                passed=status == "passed",
                detail=f"dataset version {ref} validation is {status}",
            )
        )
    for metric, floor in sorted(policy.metric_floors.items()):
        value = metrics.get(metric)
        if value is None:
            check = Check(
                name=f"metric_floor:{metric}", passed=False, detail=f"metric {metric} missing"
            )
        else:
            ok = value >= floor
            sign = ">=" if ok else "<"
            check = Check(
                name=f"metric_floor:{metric}",
                passed=ok,
                detail=f"{metric} {value:g} {sign} floor {floor:g}",
            )
        checks.append(check)
    if policy.max_drift_share is not None:
        latest = session.exec(
            select(MonitoringResult)
            .where(MonitoringResult.project == project)
            .order_by(col(MonitoringResult.created_at).desc(), col(MonitoringResult.id).desc())
            .limit(1)
        ).first()
        limit = policy.max_drift_share
        if latest is None:
            check = Check(name="drift_limit", passed=True, detail="no monitoring result yet")
        else:
            ok = latest.drift_share <= limit
            sign = "<=" if ok else ">"
            check = Check(
                name="drift_limit",
                passed=ok,
                detail=f"latest drift share {latest.drift_share:g} {sign} limit {limit:g}",
            )
        checks.append(check)
    return checks


def _detail(request: PromotionRequest, approvals: int) -> str:
    ref = f"{request.project}@{request.model_version}"
    if request.status == RequestStatus.blocked:
        failed = [c["name"] for c in request.checks if not c.get("passed")]
        return f"blocked by policy checks: {', '.join(failed)}"
    if request.status == RequestStatus.pending:
        return f"waiting for approvals: {approvals} of {request.required_approvals}"
    if request.status == RequestStatus.approved:
        return f"approved: model version {ref} assigned to {request.stage.value}"
    if request.status == RequestStatus.rejected:
        return "rejected"
    return f"expired at {request.expires_at.isoformat()}"


def to_public(session: Session, request: PromotionRequest) -> PromotionRequestPublic:
    """The API shape of a request, with its decisions and a one-line detail."""
    rows = session.connection().execute(_DECISIONS_OF, {"request_id": request.id}).all()
    return _public(request, [_decision_public(row) for row in rows])


def _decision_public(row: Any) -> DecisionPublic:
    return DecisionPublic.model_validate(row, from_attributes=True)


def _request_of(row: Any) -> PromotionRequest:
    """A request read by a Core statement, as a (detached) model object."""
    return PromotionRequest(**{name: getattr(row, name) for name in _REQUEST_FIELDS})


def _public(request: PromotionRequest, decisions: list[DecisionPublic]) -> PromotionRequestPublic:
    approvals = sum(1 for d in decisions if d.decision == DecisionKind.approve)
    return PromotionRequestPublic(
        id=request.id,
        project=request.project,
        model_version=request.model_version,
        stage=request.stage,
        requested_by=request.requested_by,
        status=request.status,
        checks=[Check.model_validate(c) for c in request.checks],
        required_approvals=request.required_approvals,
        comment=request.comment,
        flow_run_id=request.flow_run_id,
        revision=request.revision,
        created_at=request.created_at,
        expires_at=request.expires_at,
        decided_at=request.decided_at,
        detail=_detail(request, approvals),
        decisions=decisions,
    )


def request_promotion(
    session: Session,
    *,
    actor: Principal,
    project: str,
    body: PromotionRequestCreate,
    default_ttl_hours: float,
) -> PromotionRequestPublic:
    """Open a promotion request and record its policy checks.

    A failed check makes the request ``blocked``: it is saved (and audited) but can never
    be approved.

    Returns:
        The new request (no decisions yet).

    Raises:
        NotFound: no such project or model version.
        Conflict: the model version already holds that stage.
    """
    found = (
        session.connection()
        .execute(
            _PROMOTION_CONTEXT,
            {"project": project, "version": body.model_version, "stage": body.stage},
        )
        .first()
    )
    if found is None:
        raise NotFound(f"project {project} not found")
    if found.version is None:
        raise NotFound(f"model version {project}@{body.model_version} not found")
    if found.current == found.version:
        raise Conflict(
            f"model version {project}@{found.version} is already promoted to {body.stage.value}"
        )
    policy = Policy.model_validate(found.policy)
    checks = evaluate_policy(
        session,
        policy,
        project=project,
        dataset_version=found.dataset_version,
        metrics=found.metrics,
        validation_status=found.validation_status,
    )
    now = utcnow()
    ttl = policy.request_ttl_hours or default_ttl_hours
    request = PromotionRequest(
        id=uuid.uuid4(),
        project=project,
        model_version=found.version,
        stage=body.stage,
        requested_by=actor.name,
        status=(RequestStatus.pending if all(c.passed for c in checks) else RequestStatus.blocked),
        checks=[c.model_dump() for c in checks],
        required_approvals=policy.required_approvals,
        comment=body.comment,
        flow_run_id=body.flow_run_id,
        revision=1,
        created_at=now,
        expires_at=now + timedelta(hours=ttl),
        decided_at=None,
    )
    session.connection().execute(
        _INSERT_REQUEST, {name: getattr(request, name) for name in _REQUEST_FIELDS}
    )
    audit.append(
        session,
        actor.name,
        "promotion_request.created",
        "promotion_request",
        str(request.id),
        {
            "project": project,
            "model_version": found.version,
            "stage": body.stage.value,
            "status": request.status.value,
            "checks": request.checks,
            "expires_at": request.expires_at.isoformat(),
            "flow_run_id": None if body.flow_run_id is None else str(body.flow_run_id),
        },
    )
    session.commit()
    return _public(request, [])


def get_request(session: Session, request_id: uuid.UUID) -> PromotionRequest:
    """Promotion request ``request_id``.

    Raises:
        NotFound: no such request.
    """
    request = session.get(PromotionRequest, request_id)
    if request is None:
        raise NotFound(f"promotion request {request_id} not found")
    return request


def list_requests(
    session: Session,
    project: str,
    *,
    status: RequestStatus | None,
    stage: Stage | None = None,
    model_version: int | None = None,
    limit: int,
    offset: int,
) -> Page[PromotionRequest]:
    """A project's promotion requests, newest first, optionally filtered."""
    get_project(session, project)
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


def _expire(session: Session, actor: str, request: PromotionRequest, now: datetime) -> None:
    # ``request`` was read by a Core statement (not in the session); the caller commits.
    request.status = RequestStatus.expired
    request.decided_at = now
    request.revision += 1
    session.connection().execute(
        _UPDATE_REQUEST,
        {
            "request_id": request.id,
            "status": request.status,
            "decided_at": now,
            "revision": request.revision,
        },
    )
    audit.append(
        session,
        actor,
        "promotion_request.expired",
        "promotion_request",
        str(request.id),
        {"expires_at": request.expires_at.isoformat()},
    )
    resume_after_commit(session, request)


def expire_overdue(session: Session, *, limit: int = 100) -> list[uuid.UUID]:
    """Expire pending requests past their expiry (actor ``system``), one project at a time.

    Returns:
        The ids of the requests expired.
    """
    now = utcnow()
    overdue = session.exec(
        select(PromotionRequest.project)
        .where(
            PromotionRequest.status == RequestStatus.pending,
            col(PromotionRequest.expires_at) <= now,
        )
        .distinct()
    ).all()
    session.rollback()  # end the read before taking locks, one project at a time
    expired: list[uuid.UUID] = []
    for project in overdue:
        statement = (
            sa.select(_REQUESTS)
            .where(
                _REQUESTS.c.project == project,
                _REQUESTS.c.status == RequestStatus.pending,
                _REQUESTS.c.expires_at <= now,
            )
            .limit(limit)
        )
        if is_postgres(session):
            # The requests' own locks, as decide takes them; one being decided is skipped
            # (decide expires it itself if it is overdue) and picked up by a later sweep.
            statement = statement.with_for_update(key_share=True, skip_locked=True)
        for row in session.connection().execute(statement).all():
            request = _request_of(row)
            _expire(session, "system", request, now)
            expired.append(request.id)
        session.commit()
    return expired


def _check_revision(request: PromotionRequest, if_match: int | None) -> None:
    if if_match is not None and if_match != request.revision:
        raise PreconditionFailed(
            f"promotion request {request.id} is at revision {request.revision}, "
            f"not {if_match} (If-Match): it changed since it was read"
        )


def _needed(request: PromotionRequest, policy: dict[str, Any]) -> int:
    # A policy tightened after the request was opened applies; a loosened one does not.
    return max(request.required_approvals, Policy.model_validate(policy).required_approvals)


def decide(
    session: Session,
    *,
    actor: Principal,
    request_id: uuid.UUID,
    body: DecisionCreate,
    if_match: int | None = None,
) -> PromotionRequestPublic:
    """Record an approver's decision; on the last approval needed, assign the stage.

    Args:
        if_match: the revision the caller last saw; None decides whatever the revision.

    Returns:
        The request as it stands after the decision, with every decision on it.

    Raises:
        NotFound: no such request.
        PermissionDenied: separation of duties (the caller requested it or trained the model).
        PreconditionFailed: ``if_match`` is not the request's current revision.
        Conflict: the request is not pending, has expired, or the caller already decided it.
    """
    # Lock order: request, then the project (only when the last approval assigns the
    # stage), then the audit chain (at commit).
    postgres = is_postgres(session)
    conn = session.connection()
    found = conn.execute(_LOCK_REQUEST[postgres], {"request_id": request_id}).first()
    if found is None:
        raise NotFound(f"promotion request {request_id} not found")
    request = _request_of(found)
    project = request.project
    if actor.name == request.requested_by:
        raise PermissionDenied(
            f"separation of duties: {actor.name} requested promotion request {request_id} "
            "and cannot decide it"
        )
    if actor.name == found.trained_by:
        raise PermissionDenied(
            f"separation of duties: {actor.name} trained model version "
            f"{project}@{request.model_version} and cannot decide promotion request "
            f"{request_id}"
        )
    now = utcnow()
    if request.status == RequestStatus.pending and request.expires_at <= now:
        _expire(session, actor.name, request, now)
        session.commit()
        raise Conflict(
            f"promotion request {request_id} expired at {request.expires_at.isoformat()}"
        )
    if request.status != RequestStatus.pending:
        raise Conflict(f"promotion request {request_id} is {request.status.value}, not pending")
    _check_revision(request, if_match)
    decisions = [
        _decision_public(row) for row in conn.execute(_DECISIONS_OF, {"request_id": request_id})
    ]
    if any(d.principal == actor.name for d in decisions):
        raise Conflict(f"{actor.name} already decided promotion request {request_id}")
    mine = {
        "request_id": request_id,
        "principal": actor.name,
        "decision": body.decision,
        "comment": body.comment,
        "created_at": now,
    }
    decisions.append(
        _decision_public(
            SimpleNamespace(id=conn.execute(_INSERT_DECISION, mine).scalar_one(), **mine)
        )
    )
    assigned = False
    if body.decision == DecisionKind.reject:
        request.status = RequestStatus.rejected
        request.decided_at = now
    else:
        approvals = len({d.principal for d in decisions if d.decision == DecisionKind.approve})
        needed = _needed(request, found.policy)
        if approvals >= needed:
            # The last approval: take the project's lock (stage changes and policy changes
            # queue there) and check again against the policy as it is now.
            policy = conn.execute(_LOCK_POLICY[postgres], {"project": project}).scalar_one()
            needed = _needed(request, policy)
        request.required_approvals = needed
        if approvals >= needed:
            request.status = RequestStatus.approved
            request.decided_at = now
            assigned = True
    request.revision += 1
    conn.execute(
        _UPDATE_REQUEST,
        {
            "request_id": request_id,
            "status": request.status,
            "decided_at": request.decided_at,
            "revision": request.revision,
            "required_approvals": request.required_approvals,
        },
    )
    audit.append(
        session,
        actor.name,
        "promotion_request.decided",
        "promotion_request",
        str(request_id),
        {
            "decision": body.decision.value,
            "comment": body.comment,
            "status": request.status.value,
        },
    )
    if request.status != RequestStatus.pending:
        resume_after_commit(session, request)
    try:
        if assigned:
            _assign(session, actor, request, now)
        session.commit()
    except IntegrityError as exc:  # the partial unique index caught a race
        session.rollback()
        raise Conflict(
            f"stage {request.stage.value} of project {project} changed concurrently; retry"
        ) from exc
    return _public(request, decisions)


def _assign(session: Session, actor: Principal, request: PromotionRequest, now: datetime) -> int:
    """End the stage's current assignment and assign the request's model; the new id."""
    conn = session.connection()
    ended = conn.execute(
        _END_ASSIGNMENT,
        {"p_project": request.project, "p_stage": request.stage, "p_ended_at": now},
    ).first()
    replaced: int | None = None if ended is None else int(ended.model_version)
    assignment_id: int = conn.execute(
        _INSERT_ASSIGNMENT,
        {
            "project": request.project,
            "model_version": request.model_version,
            "stage": request.stage,
            "assigned_by": actor.name,
            "request_id": request.id,
            "restores_id": None,
            "assigned_at": now,
            "ended_at": None,
            "ended_reason": None,
        },
    ).scalar_one()
    audit.append(
        session,
        actor.name,
        "stage.assigned",
        "stage_assignment",
        str(assignment_id),
        {
            "project": request.project,
            "stage": request.stage.value,
            "model_version": request.model_version,
            "replaced_model_version": replaced,
            "request_id": str(request.id),
        },
    )
    return assignment_id
