"""The approval gate: wait for governance to decide a promotion request.

Only governance opens the gate. Under a deployment the flow run *suspends*
(``suspend_flow_run`` with ``wait_for_input=GateInput``), so no worker is held while
people decide; governance resumes it with ``{"request_id": …}`` once the request is
decided (approved and promoted, rejected, or expired). Whatever input a resume carries,
the flow re-reads the request and the stage from governance and trusts nothing else:
a run resumed by hand while the request is still pending suspends again, and an
approval counts only when governance shows the model holding the stage.

Without a deployment (the embedded demo, a flow called in-process) there is nothing
to resume, so the gate polls governance instead.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect.input import RunInput

from flows.errors import GateError
from flows.results import Promotion
from governance.client import GovernanceClient
from governance.schemas import PromotionRequestPublic

# Suspensions allowed per request before the gate gives up (forged resumes included).
MAX_SUSPENSIONS = 50
# Prefect's own pause timeout lies past governance's expiry, so the expiry always wins.
SUSPEND_MARGIN_S = 300


class GateInput(RunInput):
    """What governance sends when it resumes a gated run (a hint, never trusted)."""

    request_id: str


def in_deployment() -> bool:
    """True when the current flow run belongs to a deployment (so it can be suspended)."""
    from prefect.runtime import deployment

    return deployment.get_id() is not None


def suspend_timeout(req: PromotionRequestPublic) -> int:
    """Seconds Prefect keeps the run suspended: past the request's expiry, never below 60."""
    left = (req.expires_at - datetime.now(UTC)).total_seconds()
    return int(max(left, 0) + SUSPEND_MARGIN_S)


def wait_suspended(client: GovernanceClient, request_id: str) -> PromotionRequestPublic:
    """Suspend the current flow run until governance has decided ``request_id``.

    Each resume re-reads the request from governance; while it is still pending the run
    suspends again (a resume by hand cannot open the gate). Suspension keys are
    ``gate-<request>-<n>``, so when Prefect re-runs the flow after a resume, every
    suspension already passed returns at once and the loop continues where it was.
    """
    from prefect.flow_runs import suspend_flow_run

    for attempt in range(1, MAX_SUSPENSIONS + 1):
        req = client.get_promotion_request(request_id)
        if req.status.value != "pending":
            return req
        suspend_flow_run(
            wait_for_input=GateInput,
            timeout=suspend_timeout(req),
            key=f"gate-{request_id}-{attempt}",
        )
    raise GateError(
        f"promotion request {request_id} was resumed {MAX_SUSPENSIONS} times while pending"
    )


def wait_polling(
    client: GovernanceClient, request_id: str, *, timeout_s: float, poll_s: float
) -> PromotionRequestPublic:
    """Poll governance until ``request_id`` is decided or ``timeout_s`` passes.

    Raises:
        GateError: still pending after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        req = client.get_promotion_request(request_id)
        if req.status.value != "pending":
            return req
        if time.monotonic() > deadline:
            raise GateError(
                f"promotion request {request_id} was not decided within {timeout_s:.0f} s"
            )
        time.sleep(poll_s)


def _reasons(req: PromotionRequestPublic) -> str:
    said = [f"{d.principal}: {d.comment}" for d in req.decisions if d.decision.value == "reject"]
    failed = [f"{c.name}: {c.detail}" for c in req.checks if not c.passed]
    return "; ".join(said + failed) or req.detail or "no reason given"


def confirm_promoted(client: GovernanceClient, req: PromotionRequestPublic) -> Promotion:
    """The decided request, if and only if governance shows its model holding the stage.

    Raises:
        GateError: the request was rejected (with the reasons), expired, blocked, or is
            approved but the stage holds another model version.
    """
    where = f"{req.project}@{req.model_version}"
    status = req.status.value
    if status == "rejected":
        raise GateError(f"promotion of {where} was rejected: {_reasons(req)}")
    if status == "expired":
        raise GateError(
            f"promotion request {req.id} for {where} expired at {req.expires_at:%Y-%m-%d %H:%M} "
            "UTC without the approvals it needed; request a new promotion"
        )
    if status == "blocked":
        raise GateError(f"promotion of {where} is blocked: {_reasons(req)}")
    if status != "approved":
        raise GateError(f"promotion request {req.id} for {where} is {status}, not approved")
    current = client.current_stage(req.project, req.stage.value)
    if current is None or current.model.version != req.model_version:
        holder = f"v{current.model.version}" if current else "nothing"
        raise GateError(
            f"request {req.id} is approved but {req.stage.value} of {req.project} holds {holder}, "
            f"not v{req.model_version}"
        )
    return Promotion(
        request_id=str(req.id),
        project=req.project,
        model_version=req.model_version,
        stage=req.stage.value,
        status=status,
        requested_by=req.requested_by,
        approved_by=[d.principal for d in req.decisions if d.decision.value == "approve"],
    )
