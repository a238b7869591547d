"""Promotion requests, their policy checks, decisions and the stage assignments they cause.

The gate: a request is created ``pending`` when every policy check passes (``blocked``
otherwise) and becomes ``approved`` when enough distinct approvers, none of whom
requested it or trained the model, approve it before it expires. Approval ends the
stage's current assignment and creates the new one in the same unit of work, under the
project lock, so two approvals racing can never leave two current assignments (a partial
unique index in the database refuses it as well).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from governance.errors import Conflict, NotFound, PermissionDenied, PreconditionFailed
from governance.models import Principal, PromotionRequest, utcnow
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
)
from governance.services import policy as policy_rules
from governance.services.resume import resume_after_commit
from governance.store import monitoring as monitoring_rows
from governance.store import requests, stages
from governance.store.pages import Page
from governance.store.uow import Database, UnitOfWork

__all__ = [
    "decide",
    "expire_overdue",
    "get_request",
    "list_all_requests",
    "list_requests",
    "public",
    "request_promotion",
]


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


def public(session: Session, request: PromotionRequest) -> PromotionRequestPublic:
    """The API shape of a request, with its decisions and a one-line detail."""
    return _public(request, requests.decisions_of(session, request.id))


def get_request(session: Session, request_id: uuid.UUID) -> PromotionRequestPublic:
    """Promotion request ``request_id`` with its decisions.

    Raises:
        NotFound: no such request.
    """
    return public(session, requests.get(session, request_id))


def list_requests(
    session: Session,
    project: str,
    *,
    status: RequestStatus | None,
    stage: Stage | None = None,
    model_version: int | None = None,
    limit: int,
    offset: int,
) -> Page[PromotionRequestPublic]:
    """A project's promotion requests, newest first, optionally filtered."""
    rows, total = requests.list_of(
        session,
        project,
        status=status,
        stage=stage,
        model_version=model_version,
        limit=limit,
        offset=offset,
    )
    return [public(session, row) for row in rows], total


def list_all_requests(
    session: Session,
    *,
    status: RequestStatus | None = None,
    project: str | None = None,
    stage: Stage | None = None,
    id_prefix: str | None = None,
    limit: int,
    offset: int,
) -> Page[PromotionRequestPublic]:
    """Requests of every project, oldest first, optionally filtered.

    Args:
        id_prefix: the first characters of the id (hex, dashes ignored).
    """
    prefix = None if id_prefix is None else id_prefix.replace("-", "").lower()
    rows, total = requests.list_all(
        session,
        status=status,
        project=project,
        stage=stage,
        id_prefix=prefix,
        limit=limit,
        offset=offset,
    )
    return [public(session, row) for row in rows], total


def request_promotion(
    db: Database,
    *,
    actor: Principal,
    project: str,
    body: PromotionRequestCreate,
    default_ttl_hours: float,
) -> PromotionRequestPublic:
    """Open a promotion request and record its policy checks.

    A failed check makes the request ``blocked``: it is saved (and audited) but can never
    be approved.

    Raises:
        NotFound: no such project or model version.
        Conflict: the model version already holds that stage.
    """
    with db.unit_of_work() as uow:
        found = requests.promotion_context(uow.session, project, body.model_version, body.stage)
        if found is None:
            raise NotFound(f"project {project} not found")
        if found.version is None:
            raise NotFound(f"model version {project}@{body.model_version} not found")
        if found.current == found.version:
            raise Conflict(
                f"model version {project}@{found.version} is already promoted to {body.stage.value}"
            )
        policy = Policy.model_validate(found.policy)
        latest = (
            monitoring_rows.latest(uow.session, project)
            if policy.max_drift_share is not None
            else None
        )
        checks = policy_rules.evaluate(
            policy,
            project=project,
            dataset_version=found.dataset_version,
            metrics=found.metrics,
            validation_status=found.validation_status,
            latest_monitoring=latest,
        )
        now = utcnow()
        ttl = policy.request_ttl_hours or default_ttl_hours
        passed = all(c.passed for c in checks)
        request = PromotionRequest(
            id=uuid.uuid4(),
            project=project,
            model_version=found.version,
            stage=body.stage,
            requested_by=actor.name,
            status=RequestStatus.pending if passed else RequestStatus.blocked,
            checks=[c.model_dump() for c in checks],
            required_approvals=policy.required_approvals,
            comment=body.comment,
            flow_run_id=body.flow_run_id,
            revision=1,
            created_at=now,
            expires_at=now + timedelta(hours=ttl),
            decided_at=None,
        )
        requests.insert(uow.session, request)
        uow.audit(
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
        answer = _public(request, [])
        uow.commit(answer)
    return answer


def _expire(uow: UnitOfWork, actor: str, request: PromotionRequest, now: datetime) -> None:
    request.status = RequestStatus.expired
    request.decided_at = now
    request.revision += 1
    requests.update(
        uow.session,
        request.id,
        status=request.status,
        decided_at=now,
        revision=request.revision,
    )
    uow.audit(
        actor,
        "promotion_request.expired",
        "promotion_request",
        str(request.id),
        {"expires_at": request.expires_at.isoformat()},
    )
    resume_after_commit(uow, request)


def expire_overdue(db: Database, *, limit: int = 100) -> list[uuid.UUID]:
    """Expire pending requests past their expiry (actor ``system``), one project at a
    time, each project in a unit of work of its own.

    Returns:
        The ids of the requests expired.
    """
    now = utcnow()
    overdue = requests.overdue_projects(db.session, now)
    db.session.rollback()  # end the read before taking locks, one project at a time
    expired: list[uuid.UUID] = []
    for project in overdue:
        with db.unit_of_work() as uow:
            for request in requests.lock_overdue(uow.session, project, now, limit):
                _expire(uow, "system", request, now)
                expired.append(request.id)
            uow.commit()
    return expired


def _refuse_conflicts_of_interest(
    actor: Principal, request: PromotionRequest, trained_by: str
) -> None:
    if actor.name == request.requested_by:
        raise PermissionDenied(
            f"separation of duties: {actor.name} requested promotion request {request.id} "
            "and cannot decide it"
        )
    if actor.name == trained_by:
        raise PermissionDenied(
            f"separation of duties: {actor.name} trained model version "
            f"{request.project}@{request.model_version} and cannot decide promotion request "
            f"{request.id}"
        )


def decide(
    db: Database,
    *,
    actor: Principal,
    request_id: uuid.UUID,
    body: DecisionCreate,
    if_match: int | None = None,
) -> PromotionRequestPublic:
    """Record an approver's decision; on the last approval needed, assign the stage.

    Lock order: the request, then the project (only when the last approval assigns the
    stage), then the audit chain (at commit).

    Args:
        if_match: the revision the caller last saw; None decides whatever the revision.

    Returns:
        The request as it stands after the decision, with every decision on it.

    Raises:
        NotFound: no such request.
        PermissionDenied: separation of duties (the caller requested it or trained the model).
        PreconditionFailed: ``if_match`` is not the request's current revision.
        Conflict: the request is not pending, has expired (the expiry is recorded), or
            the caller already decided it.
    """
    with db.unit_of_work() as uow:
        found = requests.lock_for_decision(uow.session, request_id)
        if found is None:
            raise NotFound(f"promotion request {request_id} not found")
        request = requests.of_row(found)
        _refuse_conflicts_of_interest(actor, request, found.trained_by)
        now = utcnow()
        if request.status == RequestStatus.pending and request.expires_at <= now:
            # Overdue: the expiry is this unit of work; the decision is refused after it.
            _expire(uow, actor.name, request, now)
            uow.commit()
            raise Conflict(
                f"promotion request {request_id} expired at {request.expires_at.isoformat()}"
            )
        if request.status != RequestStatus.pending:
            raise Conflict(f"promotion request {request_id} is {request.status.value}, not pending")
        if if_match is not None and if_match != request.revision:
            raise PreconditionFailed(
                f"promotion request {request.id} is at revision {request.revision}, "
                f"not {if_match} (If-Match): it changed since it was read"
            )
        decisions = requests.decisions_of(uow.session, request_id)
        if any(d.principal == actor.name for d in decisions):
            raise Conflict(f"{actor.name} already decided promotion request {request_id}")
        decisions.append(
            requests.insert_decision(
                uow.session,
                {
                    "request_id": request_id,
                    "principal": actor.name,
                    "decision": body.decision,
                    "comment": body.comment,
                    "created_at": now,
                },
            )
        )
        assigned = _apply(uow, request, body.decision, decisions, found.policy, now)
        request.revision += 1
        requests.update(
            uow.session,
            request_id,
            status=request.status,
            decided_at=request.decided_at,
            revision=request.revision,
            required_approvals=request.required_approvals,
        )
        uow.audit(
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
            resume_after_commit(uow, request)
        if assigned:
            _assign(uow, actor, request, now)
        answer = _public(request, decisions)
        uow.commit(answer)
    return answer


def _apply(
    uow: UnitOfWork,
    request: PromotionRequest,
    decision: DecisionKind,
    decisions: list[DecisionPublic],
    policy: dict[str, Any],
    now: datetime,
) -> bool:
    """Move the request by one decision; whether it now assigns the stage."""
    if decision == DecisionKind.reject:
        request.status = RequestStatus.rejected
        request.decided_at = now
        return False
    approvals = len({d.principal for d in decisions if d.decision == DecisionKind.approve})
    needed = policy_rules.required_approvals(request, policy)
    if approvals >= needed:
        # The last approval: take the project's lock (stage changes and policy changes
        # queue there) and check again against the policy as it is now.
        needed = policy_rules.required_approvals(
            request, requests.lock_policy(uow.session, request.project)
        )
    request.required_approvals = needed
    if approvals < needed:
        return False
    request.status = RequestStatus.approved
    request.decided_at = now
    return True


def _assign(uow: UnitOfWork, actor: Principal, request: PromotionRequest, now: datetime) -> None:
    """End the stage's current assignment and assign the request's model."""
    replaced = stages.end_current(uow.session, request.project, request.stage, now)
    assignment_id = stages.insert(
        uow.session,
        project=request.project,
        model_version=request.model_version,
        stage=request.stage,
        assigned_by=actor.name,
        request_id=request.id,
        restores_id=None,
        assigned_at=now,
    )
    uow.audit(
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
