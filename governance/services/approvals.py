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

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from governance.db import is_postgres, utcnow
from governance.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed
from governance.models import (
    Check,
    Decision,
    DecisionCreate,
    DecisionKind,
    DecisionPublic,
    ModelVersion,
    MonitoringResult,
    Policy,
    Principal,
    Project,
    PromotionRequest,
    PromotionRequestCreate,
    PromotionRequestPublic,
    RequestStatus,
    Stage,
    StageAssignment,
)
from governance.services import audit
from governance.services.pages import Page, page
from governance.services.projects import get_project, lock_project
from governance.services.registry import get_dataset, get_model
from governance.services.resume import resume_after_commit

__all__ = [
    "current_assignment",
    "decide",
    "evaluate_policy",
    "expire_overdue",
    "get_request",
    "list_requests",
    "request_promotion",
    "to_public",
]


def evaluate_policy(session: Session, policy: Policy, model: ModelVersion) -> list[Check]:
    """Run every check the policy asks for against a model version."""
    checks: list[Check] = []
    ref = f"{model.project}@{model.dataset_version}"
    if policy.require_validation:
        dataset = get_dataset(session, model.project, model.dataset_version)
        status = dataset.validation_status.value
        checks.append(
            Check(
                name="validation_passed",
                passed=status == "passed",
                detail=f"dataset version {ref} validation is {status}",
            )
        )
    for metric, floor in sorted(policy.metric_floors.items()):
        value = model.metrics.get(metric)
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
            .where(MonitoringResult.project == model.project)
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
    decisions = session.exec(
        select(Decision).where(Decision.request_id == request.id).order_by(col(Decision.id))
    ).all()
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
        decisions=[DecisionPublic.model_validate(d) for d in decisions],
    )


def current_assignment(session: Session, project: str, stage: Stage) -> StageAssignment | None:
    """The assignment that holds ``stage`` of ``project`` now, if any."""
    return session.exec(
        select(StageAssignment).where(
            StageAssignment.project == project,
            StageAssignment.stage == stage,
            col(StageAssignment.ended_at).is_(None),
        )
    ).first()


def request_promotion(
    session: Session,
    *,
    actor: Principal,
    project: str,
    body: PromotionRequestCreate,
    default_ttl_hours: float,
) -> PromotionRequest:
    """Open a promotion request and record its policy checks.

    A failed check makes the request ``blocked``: it is saved (and audited) but can never
    be approved.

    Raises:
        NotFound: no such project or model version.
        Conflict: the model version already holds that stage.
    """
    row = get_project(session, project)
    model = get_model(session, project, body.model_version)
    current = current_assignment(session, project, body.stage)
    if current is not None and current.model_version == model.version:
        raise Conflict(
            f"model version {project}@{model.version} is already promoted to {body.stage.value}"
        )
    policy = Policy.model_validate(row.policy)
    checks = evaluate_policy(session, policy, model)
    now = utcnow()
    ttl = policy.request_ttl_hours or default_ttl_hours
    request = PromotionRequest(
        project=project,
        model_version=model.version,
        stage=body.stage,
        requested_by=actor.name,
        status=(RequestStatus.pending if all(c.passed for c in checks) else RequestStatus.blocked),
        checks=[c.model_dump() for c in checks],
        required_approvals=policy.required_approvals,
        comment=body.comment,
        flow_run_id=body.flow_run_id,
        created_at=now,
        expires_at=now + timedelta(hours=ttl),
    )
    session.add(request)
    session.flush()
    audit.append(
        session,
        actor.name,
        "promotion_request.created",
        "promotion_request",
        str(request.id),
        {
            "project": project,
            "model_version": model.version,
            "stage": body.stage.value,
            "status": request.status.value,
            "checks": request.checks,
            "expires_at": request.expires_at.isoformat(),
            "flow_run_id": None if body.flow_run_id is None else str(body.flow_run_id),
        },
    )
    session.commit()
    return request


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
    # The caller commits.
    request.status = RequestStatus.expired
    request.decided_at = now
    request.revision += 1
    session.add(request)
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
            select(PromotionRequest)
            .where(
                PromotionRequest.project == project,
                PromotionRequest.status == RequestStatus.pending,
                col(PromotionRequest.expires_at) <= now,
            )
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if is_postgres(session):
            # The requests' own locks, as decide takes them; one being decided is skipped
            # (decide expires it itself if it is overdue) and picked up by a later sweep.
            statement = statement.with_for_update(key_share=True, skip_locked=True)
        for request in session.exec(statement).all():
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


def _lock_request(session: Session, request_id: uuid.UUID) -> PromotionRequest:
    """Promotion request ``request_id``, locked until the transaction ends (PostgreSQL).

    Raises:
        NotFound: no such request.
    """
    statement = select(PromotionRequest).where(PromotionRequest.id == request_id)
    if is_postgres(session):
        statement = statement.with_for_update(key_share=True)
    request = session.exec(statement.execution_options(populate_existing=True)).first()
    if request is None:
        raise NotFound(f"promotion request {request_id} not found")
    return request


def _needed(request: PromotionRequest, project: Project) -> int:
    # A policy tightened after the request was opened applies; a loosened one does not.
    return max(request.required_approvals, Policy.model_validate(project.policy).required_approvals)


def decide(
    session: Session,
    *,
    actor: Principal,
    request_id: uuid.UUID,
    body: DecisionCreate,
    if_match: int | None = None,
) -> PromotionRequest:
    """Record an approver's decision; on the last approval needed, assign the stage.

    Args:
        if_match: the revision the caller last saw; None decides whatever the revision.

    Raises:
        NotFound: no such request.
        PermissionDenied: separation of duties (the caller requested it or trained the model).
        PreconditionFailed: ``if_match`` is not the request's current revision.
        Conflict: the request is not pending, has expired, or the caller already decided it.
    """
    # Lock order: request, then the project (only when the last approval assigns the
    # stage), then the audit chain (at commit).
    request = _lock_request(session, request_id)
    project = request.project
    model = get_model(session, project, request.model_version)
    if actor.name == request.requested_by:
        raise PermissionDenied(
            f"separation of duties: {actor.name} requested promotion request {request_id} "
            "and cannot decide it"
        )
    if actor.name == model.trained_by:
        raise PermissionDenied(
            f"separation of duties: {actor.name} trained model version "
            f"{project}@{model.version} and cannot decide promotion request {request_id}"
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
    already = session.exec(
        select(Decision).where(Decision.request_id == request_id, Decision.principal == actor.name)
    ).first()
    if already is not None:
        raise Conflict(f"{actor.name} already decided promotion request {request_id}")

    session.add(
        Decision(
            request_id=request_id,
            principal=actor.name,
            decision=body.decision,
            comment=body.comment,
        )
    )
    session.flush()
    assigned = False
    if body.decision == DecisionKind.reject:
        request.status = RequestStatus.rejected
        request.decided_at = now
    else:
        approvers = session.exec(
            select(Decision.principal).where(
                Decision.request_id == request_id, Decision.decision == DecisionKind.approve
            )
        ).all()
        approvals = len(set(approvers))
        needed = _needed(request, get_project(session, project))
        if approvals >= needed:
            # The last approval: take the project's lock (stage changes and policy changes
            # queue there) and check again against the policy as it is now.
            needed = _needed(request, lock_project(session, project))
        request.required_approvals = needed
        if approvals >= needed:
            request.status = RequestStatus.approved
            request.decided_at = now
            assigned = True
    request.revision += 1
    session.add(request)
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
    return request


def _assign(
    session: Session, actor: Principal, request: PromotionRequest, now: datetime
) -> StageAssignment:
    current = current_assignment(session, request.project, request.stage)
    replaced: int | None = None
    if current is not None:
        current.ended_at = now
        current.ended_reason = "replaced"
        replaced = current.model_version
        session.add(current)
        session.flush()
    assignment = StageAssignment(
        project=request.project,
        model_version=request.model_version,
        stage=request.stage,
        assigned_by=actor.name,
        request_id=request.id,
        assigned_at=now,
    )
    session.add(assignment)
    session.flush()
    audit.append(
        session,
        actor.name,
        "stage.assigned",
        "stage_assignment",
        str(assignment.id),
        {
            "project": request.project,
            "stage": request.stage.value,
            "model_version": request.model_version,
            "replaced_model_version": replaced,
            "request_id": str(request.id),
        },
    )
    return assignment
