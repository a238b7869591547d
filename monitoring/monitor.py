"""One monitoring run: what production saw in a time window, against the training data.

``monitor_window`` reads the prediction log of a window (:mod:`scoring.predlog`),
then computes

* feature drift against the training reference with Evidently (per column: test,
  score, threshold, verdict; thresholds from the project's ``monitoring`` settings),
  with schema findings for columns that vanished, appeared, changed type or are all
  null — drift still runs on the compatible columns;
* prediction drift: the window's scores against the production model's scores on
  the reference (when the caller passes them);
* data quality of the logged inputs against the contract (:mod:`monitoring.quality`);
* live quality from actuals joined by prediction id, against the policy's metric
  floors once ``min_actuals`` outcomes are known.

Large windows take the fast path when ``sample_rows`` is set: Evidently's tests
called directly (no report; the stored HTML is a plain table) on a seeded sample of
each side, each column keeping the test it would get on the full data, and every
column whose sampled verdict is a close call (within ``guard_band`` times its
threshold, or a p-value test) recomputed on all rows, so verdicts agree with the
full computation (``bench/drift.py`` checks it).

The result is stored as Evidently's HTML report and one JSON document in the
artifact store; ``MonitorOutcome.summary`` is what governance records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from connectors.store import ArtifactStore
from core.spec import ColumnSpec, DataContract, ProjectSpec
from monitoring.drift import ColumnDrift, DriftResult, run_drift
from monitoring.quality import ColumnQuality, LiveQuality, data_quality, live_quality
from scoring.predlog import read_actuals, read_predictions

__all__ = ["MonitorOutcome", "monitor_window"]

DEFAULT_GUARD_BAND = 0.25


@dataclass(frozen=True)
class MonitorOutcome:
    """What one monitoring run found and where its reports are."""

    window_start: str
    window_end: str
    rows: int
    drift: DriftResult | None
    prediction_drift: ColumnDrift | None
    """The window's scores against the production model's scores on the reference."""
    data_quality: list[ColumnQuality]
    live_quality: LiveQuality
    alerts: list[str] = field(default_factory=list)
    html_uri: str | None = None
    json_uri: str | None = None

    @property
    def breach(self) -> bool:
        return bool(self.alerts)

    @property
    def empty(self) -> bool:
        return self.rows == 0

    def summary(self) -> dict[str, Any]:
        """A JSON-safe summary for governance (``details`` of the monitoring result)."""
        return {
            "kind": "production-window",
            "window": {"start": self.window_start, "end": self.window_end, "rows": self.rows},
            "breach": self.breach,
            "alerts": list(self.alerts),
            "drift": self.drift.to_dict() if self.drift else None,
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift else None,
            "data_quality": [q.to_dict() for q in self.data_quality],
            "live_quality": self.live_quality.to_dict(),
        }

    def markdown(self) -> str:
        head = "**Breach**: " + "; ".join(self.alerts) if self.alerts else "No breach"
        lines = [
            f"{head}. Window {self.window_start} to {self.window_end}: {self.rows} predictions.",
            "",
        ]
        if self.drift is not None:
            lines.append(self.drift.summary_markdown())
        lq = self.live_quality
        if lq.with_actuals:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in lq.metrics.items())
            lines.append(f"Live quality on {lq.with_actuals} predictions with actuals: {shown}")
        return "\n".join(lines) + "\n"


def _score_contract() -> DataContract:
    return DataContract(
        columns=[
            ColumnSpec(name="score", type="float", min=0, max=1),
            ColumnSpec(name="outcome", type="int", role="target"),
        ]
    )


def monitor_window(
    store: ArtifactStore,
    spec: ProjectSpec,
    reference: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    reference_scores: np.ndarray | None = None,
    actuals_since: datetime | None = None,
    min_actuals: int = 100,
    guard_band: float = DEFAULT_GUARD_BAND,
    seed: int = 0,
) -> MonitorOutcome:
    """Monitor the predictions logged in ``[start, end)`` and store the reports.

    Args:
        store: the artifact store holding the prediction log; reports go there too.
        spec: the project (contract, monitoring thresholds, policy floors).
        reference: the training data of the production model.
        start, end: the window (timezone-aware).
        reference_scores: the production model's scores on ``reference``, for
            prediction drift (None: skipped).
        actuals_since: read actuals received since then (default: ``start``).
        min_actuals: live metrics are held against the policy's floors only from this
            many matched actuals on.
        guard_band: see the module docstring (fast path only).
        seed: sampling seed of the fast path.
    """
    window = read_predictions(store, spec.name, start, end)
    mon = spec.monitoring
    actuals = read_actuals(store, spec.name, actuals_since or start, datetime.now(end.tzinfo))
    live = live_quality(window, actuals, primary_metric=spec.training.primary_metric)
    if window.empty:
        return MonitorOutcome(
            window_start=start.isoformat(),
            window_end=end.isoformat(),
            rows=0,
            drift=None,
            prediction_drift=None,
            data_quality=[],
            live_quality=live,
        )
    current = window[[c for c in window.columns if c in spec.contract.features]]
    run = run_drift(
        reference,
        current,
        spec.contract,
        drift_share_threshold=mon.drift_share_threshold,
        column_threshold=mon.column_threshold,
        sample_rows=mon.sample_rows,
        seed=seed,
        guard_band=guard_band if mon.sample_rows else None,
        # The fast path calls Evidently's tests directly; without it, the full report.
        engine="stattest" if mon.sample_rows else "value_drift",
    )
    prediction_drift = None
    if reference_scores is not None:
        scores = run_drift(
            pd.DataFrame({"score": reference_scores}),
            window[["score"]],
            _score_contract(),
            drift_share_threshold=1.0,
            column_threshold=mon.column_threshold,
        ).result
        prediction_drift = scores.columns[0] if scores.columns else None
    quality = data_quality(current, spec.contract)
    outcome = MonitorOutcome(
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        rows=len(window),
        drift=run.result,
        prediction_drift=prediction_drift,
        data_quality=quality,
        live_quality=live,
        alerts=_alerts(run.result, prediction_drift, quality, live, spec, min_actuals),
    )
    html = store.put_bytes(run.html().encode("utf-8"), kind="reports", suffix=".html")
    document = {"summary": outcome.summary(), "evidently": json.loads(run.json())}
    js = store.put_bytes(json.dumps(document, default=str).encode(), kind="reports", suffix=".json")
    return replace(outcome, html_uri=html.uri, json_uri=js.uri)


def _alerts(
    drift: DriftResult,
    prediction_drift: ColumnDrift | None,
    quality: list[ColumnQuality],
    live: LiveQuality,
    spec: ProjectSpec,
    min_actuals: int,
) -> list[str]:
    alerts: list[str] = []
    if drift.dataset_drift:
        alerts.append(
            f"dataset drift: {len(drift.drifted_columns)} of {len(drift.columns)} features "
            f"drifted ({', '.join(drift.drifted_columns)})"
        )
    if prediction_drift is not None and prediction_drift.drifted:
        alerts.append("prediction drift: the score distribution moved")
    for finding in drift.schema_findings:
        if finding.side == "current" and finding.kind != "extra":
            alerts.append(f"schema: {finding.column} {finding.kind}")
    for q in quality:
        if not q.ok:
            alerts.append(f"data quality: {q.column} breaks the contract")
    if live.with_actuals >= min_actuals:
        for metric, floor in spec.policy.metric_floors.items():
            value = live.metrics.get(metric)
            if value is not None and value < floor:
                alerts.append(f"live {metric} {value:.3f} is below the floor {floor}")
    return alerts
