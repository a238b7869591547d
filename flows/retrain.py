"""Start the retrain deployment when monitoring finds a drift breach.

The retrain run is the pipeline without scoring (``mlgate-pipeline/retrain`` in
prefect.yaml): a new model version goes through the same approval gate as any other,
so a breach never changes production by itself. One breach starts one run: the
Prefect idempotency key is derived from the project and the monitoring result.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

RETRAIN_DEPLOYMENT = "mlgate-pipeline/retrain"
log = logging.getLogger("mlgate.progress")


def retrain_parameters(run: dict[str, Any]) -> dict[str, Any]:
    """The retrain flow's parameters from a run's own (spec, data, store, governance)."""
    keep = ("spec_path", "data_dir", "store_url", "governance_url", "token_ref")
    return {"params": {k: run[k] for k in keep if k in run}}


def trigger_retrain(
    run: dict[str, Any],
    *,
    project: str,
    breach_id: str,
    scheduled_time: datetime | None = None,
) -> str | None:
    """Start ``mlgate-pipeline/retrain`` for the breach ``breach_id`` of ``project``.

    Returns the flow run id, or None when the deployment is not registered (flows run
    in-process, e.g. the embedded demo). The same ``breach_id`` gives the same run.
    """
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        # Called from synchronous code, Prefect's sync-compatible run_deployment returns
        # the flow run itself, not the coroutine its signature also allows.
        flow_run = cast(
            FlowRun,
            run_deployment(
                RETRAIN_DEPLOYMENT,
                parameters=retrain_parameters(run),
                timeout=0,
                as_subflow=False,
                idempotency_key=f"retrain-{project}-{breach_id}",
                scheduled_time=scheduled_time,
                tags=["mlgate", "retrain", "drift"],
            ),
        )
    except ObjectNotFound:
        log.warning("drift breach in %s: no %s deployment to start", project, RETRAIN_DEPLOYMENT)
        return None
    log.info("drift breach in %s: retrain run %s started", project, flow_run.id)
    return str(flow_run.id)
