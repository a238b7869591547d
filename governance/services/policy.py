"""A project's promotion policy, judged against one model version."""

from __future__ import annotations

from typing import Any

from governance.models import MonitoringResult, PromotionRequest
from governance.schemas import Check, Policy, ValidationStatus

__all__ = ["evaluate", "required_approvals"]


def evaluate(
    policy: Policy,
    *,
    project: str,
    dataset_version: int,
    metrics: dict[str, float],
    validation_status: ValidationStatus,
    latest_monitoring: MonitoringResult | None,
) -> list[Check]:
    """Run every check the policy asks for against a model version.

    Args:
        dataset_version: the version of the data that trained the model.
        metrics: the model version's metrics.
        validation_status: of that dataset version.
        latest_monitoring: the project's newest monitoring result (for the drift limit).
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
        limit = policy.max_drift_share
        if latest_monitoring is None:
            check = Check(name="drift_limit", passed=True, detail="no monitoring result yet")
        else:
            share = latest_monitoring.drift_share
            ok = share <= limit
            sign = "<=" if ok else ">"
            check = Check(
                name="drift_limit",
                passed=ok,
                detail=f"latest drift share {share:g} {sign} limit {limit:g}",
            )
        checks.append(check)
    return checks


def required_approvals(request: PromotionRequest, policy: dict[str, Any]) -> int:
    """Approvals a request needs: a policy tightened after it was opened applies, a
    loosened one does not."""
    return max(request.required_approvals, Policy.model_validate(policy).required_approvals)
