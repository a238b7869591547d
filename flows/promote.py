"""The `mlgate-promote` flow: put one registered model version through the approval gate.

For CI and for people promoting a version the pipeline did not promote. The request is
filed with an idempotency key derived from the flow run and the model version, so a
retried task files it once; a version that already holds production is not requested
again, so triggering the promotion twice never promotes twice.
"""

from __future__ import annotations

from prefect import flow, task
from pydantic import Field

from core import offline
from flows.pipeline import (
    STEP,
    Context,
    GateParams,
    pass_gate,
    request_promotion_task,
    say,
    suspends,
)
from flows.results import PromoteSummary


class PromoteParams(GateParams):
    """Which model version of the spec's project to promote to production."""

    model_version: int = Field(ge=1, description="model version to promote to production")


@task(name="read-production-holder", **STEP)
def production_holder_task(ctx: Context) -> int | None:
    current = ctx.client.current_stage(ctx.spec.name, "production")
    return int(current.model.version) if current else None


@flow(name="mlgate-promote", log_prints=True, persist_result=True)
def promote(params: PromoteParams) -> PromoteSummary:
    """Request production for one model version and wait for governance's decision."""
    offline.apply()
    ctx = Context(params)
    where = f"{ctx.spec.name}@{params.model_version}"
    try:
        if production_holder_task(ctx) == params.model_version:
            say(f"{where} already holds production: nothing to request")
            return PromoteSummary(
                project=ctx.spec.name,
                model_version=params.model_version,
                status="already in production",
            )
        request_id = request_promotion_task(ctx, params.model_version, suspends(params))
        say(f"promotion request {request_id[:8]} for {where} is pending")
        decided = pass_gate(ctx, request_id, params)
        say(f"request {request_id[:8]} {decided.status}: {where} holds production")
        return PromoteSummary(
            project=decided.project,
            model_version=decided.model_version,
            status=decided.status,
            request_id=decided.request_id,
        )
    finally:
        ctx.close()
