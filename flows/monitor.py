"""The ``mlgate-monitor`` flow: production monitoring on a schedule.

One run looks at the last ``window_hours`` of the prediction log (what the
prediction server and batch scoring actually saw) against the training data of the
model that is in production now:

1. optional: store actuals from ``actuals_source`` (a file or table with
   ``prediction_id`` and ``actual`` columns);
2. ask governance for the production model and its training dataset;
3. drift, data quality, prediction drift and live quality
   (:func:`monitoring.monitor.monitor_window`), reports stored as HTML and JSON;
4. record the result in governance (a breach carries ``details.breach = true`` and
   the alerts) and publish a Markdown artifact under the stable key ``monitoring``.

Logic lives in ``run_monitoring``, which takes a governance client and a store and is
tested without Prefect; the flow wraps it with I/O retries where they are safe.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import MissingContextError
from pydantic import BaseModel, Field

from connectors.secrets import resolve_secret
from connectors.store import ArtifactStore, open_store
from core import offline
from core.spec import ProjectSpec, load_spec
from flows.errors import NoProductionModel
from flows.results import MonitorSummary
from flows.retrain import trigger_retrain
from governance.client import GovernanceClient
from monitoring.actuals import ingest_actuals
from monitoring.monitor import MonitorOutcome, monitor_window
from serving.registry import load_handle

if TYPE_CHECKING:
    import pandas as pd

    from governance.schemas import ModelVersionPublic

__all__ = ["MonitorParams", "monitor_flow", "run_monitoring"]

log = logging.getLogger("mlgate.progress")


class MonitorParams(BaseModel):
    """One monitoring run. Holds no secret: the token is a reference."""

    spec_path: str = Field(description="path of the project spec (YAML)")
    data_dir: str = Field(".", description="base directory for relative file:// sources")
    store_url: str = Field(".mlgate/artifacts", description="artifact store (directory)")
    governance_url: str = Field("http://127.0.0.1:8000", description="governance service URL")
    token_ref: str = Field(
        "env://MLGATE_TOKEN", description="secret reference of the governance API token"
    )
    window_hours: float = Field(
        24.0, gt=0, le=24 * 90, description="length of the window of logged predictions"
    )
    window_end: datetime | None = Field(
        None, description="end of the window, timezone-aware (None: now)"
    )
    actuals_source: str | None = Field(
        None, description="URI of actuals (prediction_id, actual) to store first (None: none)"
    )
    min_actuals: int = Field(
        100, ge=1, le=10_000_000, description="actuals needed before live metrics can breach"
    )
    reference_rows: int = Field(
        100_000, ge=1_000, le=10_000_000, description="reference rows scored for prediction drift"
    )
    record: bool = Field(True, description="record the result in governance")
    retrain_on_breach: bool = Field(
        False,
        description="on a drift breach, start the mlgate-pipeline/retrain deployment "
        "(its new model still goes through the approval gate)",
    )


def _reference(
    client: GovernanceClient, store: ArtifactStore, spec: ProjectSpec
) -> tuple[ModelVersionPublic, pd.DataFrame]:
    """The production model version and its training snapshot as a frame."""
    stage = client.current_stage(spec.name, "production")
    if stage is None:
        raise NoProductionModel(f"{spec.name} has no production model to monitor")
    model = stage.model
    dataset = client.get_dataset(spec.name, model.dataset_version)
    frame = store.read_snapshot(dataset.snapshot_uri, sha256=dataset.content_hash).to_pandas()
    return model, frame


def run_monitoring(
    params: MonitorParams, client: GovernanceClient, store: ArtifactStore
) -> MonitorSummary:
    """One monitoring run without Prefect; returns the summary recorded in governance.

    Raises:
        NoProductionModel: the project has no production model.
        ActualsError: the actuals source is unusable.
    """
    spec = load_spec(params.spec_path)
    ingested = 0
    if params.actuals_source:
        ingested = ingest_actuals(store, spec, params.actuals_source, base_dir=params.data_dir)
    model, reference = _reference(client, store, spec)
    end = (params.window_end or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(hours=params.window_hours)
    sample = reference.sample(n=min(len(reference), params.reference_rows), random_state=0)
    handle = load_handle(store, spec.name, model, list(spec.contract.features))
    outcome = monitor_window(
        store,
        spec,
        reference,
        start=start,
        end=end,
        reference_scores=handle.score(sample),
        min_actuals=params.min_actuals,
    )
    result_id = None
    if params.record and not outcome.empty:
        result_id = _record(client, spec, model.version, outcome)
    return MonitorSummary.model_validate(
        {
            **outcome.summary(),
            "model_version": model.version,
            "actuals_ingested": ingested,
            "report_uri": outcome.html_uri,
            "json_uri": outcome.json_uri,
            "markdown": outcome.markdown(),
            "monitoring_result_id": result_id,
        }
    )


def _record(client: GovernanceClient, spec: ProjectSpec, version: int, o: MonitorOutcome) -> int:
    drift = o.drift
    assert drift is not None
    result = client.record_monitoring(
        spec.name,
        model_version=version,
        drift_share=drift.drift_share,
        dataset_drift=drift.dataset_drift,
        drifted_columns=list(drift.drifted_columns),
        report_uri=o.html_uri,
        json_uri=o.json_uri,
        details=o.summary(),
    )
    return result.id


@task(retries=3, retry_delay_seconds=[2, 5, 15])
def _connect(params: MonitorParams) -> str:
    """Check that governance answers (I/O, retried)."""
    token = resolve_secret(params.token_ref).get_secret_value()
    with GovernanceClient(params.governance_url, token) as client:
        return client.health().status


@task
def _monitor(params: MonitorParams) -> MonitorSummary:
    token = resolve_secret(params.token_ref).get_secret_value()
    store = open_store(str(Path(params.store_url)))
    with GovernanceClient(params.governance_url, token) as client:
        return run_monitoring(params, client, store)


@flow(name="mlgate-monitor", log_prints=False)
def monitor_flow(params: MonitorParams) -> MonitorSummary:
    """Drift, data quality and live quality of the production model over a window."""
    offline.apply()
    _connect(params)
    summary = _monitor(params)
    with contextlib.suppress(MissingContextError):
        create_markdown_artifact(
            key="monitoring", markdown=summary.markdown, description="production monitoring"
        )
    log.info("monitoring: %s", "; ".join(summary.alerts) or "no breach")
    result_id = summary.monitoring_result_id
    if params.retrain_on_breach and summary.breach and result_id is not None:
        run_id = trigger_retrain(
            params.model_dump(mode="json"),
            project=load_spec(params.spec_path).name,
            breach_id=str(result_id),
        )
        summary = summary.model_copy(update={"retrain_run_id": run_id})
    return summary
