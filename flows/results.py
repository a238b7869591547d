"""What the flows' steps return and what a run sums up: small typed models.

Task results carry URIs, hashes, ids and metrics, never frames: Prefect persists them
per flow run (so a resumed or retried run does not redo a finished step) and a flow
returns its summary as one of these. They are frozen pydantic models, so they
serialize to JSON and read by attribute.

::

    Snapshot     a source conformed to the contract, stored content-addressed
    Validation   the contract validation of a snapshot that passed
    Trained      the best candidate, stored as a skops artifact, and the leaderboard
    Scored       a batch scored with the production model, inputs and predictions stored
    Drift        the drift of scored inputs against the training snapshot, reports stored
    Promotion    a promotion request governance decided and put into effect

    PipelineSummary   what one mlgate-pipeline run did
    PromoteSummary    what one mlgate-promote run did
    MonitorSummary    what one mlgate-monitor run found
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Drift",
    "LeaderboardRow",
    "MonitorSummary",
    "PipelineSummary",
    "PromoteSummary",
    "Promotion",
    "Scored",
    "Snapshot",
    "Trained",
    "Validation",
]

# One ranked candidate, as the leaderboard artifact shows it: rank, candidate, the
# cross-validated primary metric, its spread, the holdout metrics and the fit time.
LeaderboardRow = dict[str, str | int | float]
# A hyperparameter of the leaderboard's choice, JSON-safe.
ParamValue = str | int | float | bool | None

# A sha256 as the store names content by it.
_SHA256 = r"^[0-9a-f]{64}$"


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Snapshot(_Result):
    """Where a snapshot lives and what it holds."""

    source: str = Field(description="URI the data was read from")
    uri: str = Field(description="URI of the snapshot (deterministic parquet) in the store")
    content_hash: str = Field(
        pattern=_SHA256, description="sha256 of the snapshot's bytes; names it"
    )
    rows: int = Field(ge=0, description="rows in the snapshot")
    columns: int = Field(ge=0, description="columns in the snapshot (the contract's)")


class Validation(_Result):
    """The contract validation of a snapshot; a failed one raises ContractViolation."""

    passed: bool = Field(description="whether every check passed")
    evaluated: int = Field(ge=0, description="expectations evaluated")
    rows: int = Field(ge=0, description="rows validated")
    duration_s: float = Field(ge=0, description="seconds the validation took")
    failing_columns: list[str] = Field(
        default_factory=list, description="columns with at least one failed check"
    )


class Trained(_Result):
    """The best candidate of a training run, stored, and how every candidate did."""

    algorithm: str = Field(description="candidate name of the best pipeline")
    params: dict[str, ParamValue] = Field(description="its key hyperparameters")
    metrics: dict[str, float] = Field(
        description="its holdout metrics, with cv_mean and cv_std of the primary metric"
    )
    artifact_uri: str = Field(description="URI of the stored skops artifact")
    sha256: str = Field(pattern=_SHA256, description="sha256 of the artifact's bytes")
    leaderboard: list[LeaderboardRow] = Field(
        description="one row per candidate, best first (the leaderboard artifact's table)"
    )


class Scored(_Result):
    """A batch scored with the production model; inputs and predictions in the store."""

    inputs_uri: str = Field(description="URI of the scored inputs, stored as a snapshot")
    inputs_sha256: str = Field(pattern=_SHA256, description="sha256 of the stored inputs")
    predictions_uri: str = Field(description="URI of the predictions (parquet)")
    predictions_sha256: str = Field(pattern=_SHA256, description="sha256 of the predictions file")
    rows: int = Field(ge=0, description="rows scored")
    positive_rate: float = Field(ge=0, le=1, description="share of rows labelled positive")
    mean_score: float = Field(ge=0, le=1, description="mean predicted probability")
    seconds: float = Field(ge=0, description="seconds scoring and storing took")


class Drift(_Result):
    """The drift of scored inputs against the training snapshot, reports stored."""

    drift_share: float = Field(ge=0, le=1, description="share of features that drifted")
    dataset_drift: bool = Field(description="whether the share reached the spec's threshold")
    drifted_columns: list[str] = Field(description="the features that drifted")
    html_uri: str = Field(description="URI of the Evidently HTML report")
    json_uri: str = Field(description="URI of the Evidently JSON report")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="per-column results, in the monitoring package's JSON form "
        "(what governance records as the result's details)",
    )


class Promotion(_Result):
    """A promotion request that governance decided and put into effect."""

    request_id: str = Field(description="id of the promotion request in governance")
    project: str = Field(description="project of the model version")
    model_version: int = Field(ge=1, description="the promoted model version")
    stage: str = Field(description="the stage it now holds")
    status: str = Field(description="the request's status in governance (approved)")
    requested_by: str = Field(description="principal who filed the request")
    approved_by: list[str] = Field(
        default_factory=list, description="principals whose approvals opened the gate"
    )


class PipelineSummary(_Result):
    """What one mlgate-pipeline run did: ids, hashes, URIs and metrics of every step."""

    project: str = Field(description="project of the run")
    snapshot: Snapshot = Field(description="the training snapshot")
    dataset_version: int = Field(ge=1, description="its dataset version in governance")
    validation: Validation = Field(description="its contract validation")
    model_version: int = Field(ge=1, description="the model version registered")
    model: Trained = Field(description="the trained model and the leaderboard")
    promotion_request: Promotion = Field(description="the decided promotion request")
    scoring: Scored | None = Field(
        None, description="the current batch scored (None: no current_source)"
    )
    drift: Drift | None = Field(None, description="its drift (None: no current_source)")


class PromoteSummary(_Result):
    """What one mlgate-promote run did."""

    project: str = Field(description="project of the model version")
    model_version: int = Field(ge=1, description="the model version to promote")
    status: str = Field(
        description="'approved' once promoted, or 'already in production' if it held the "
        "stage before the run"
    )
    request_id: str | None = Field(
        None, description="the promotion request (None: none was needed)"
    )


class MonitorSummary(_Result):
    """What one mlgate-monitor run found over one window of logged predictions.

    ``window``, ``drift``, ``prediction_drift``, ``data_quality`` and ``live_quality``
    keep the monitoring package's JSON form (the record governance stores as the
    result's details).
    """

    kind: str = Field("production-window", description="what was monitored")
    window: dict[str, Any] = Field(description="start and end (ISO 8601) and rows of the window")
    breach: bool = Field(description="whether any alert fired")
    alerts: list[str] = Field(default_factory=list, description="one line per threshold breached")
    drift: dict[str, Any] | None = Field(
        None, description="input drift against the training data (None: no predictions)"
    )
    prediction_drift: dict[str, Any] | None = Field(
        None, description="drift of the scores against the reference's scores"
    )
    data_quality: list[dict[str, Any]] = Field(
        default_factory=list, description="data-quality checks of the logged inputs"
    )
    live_quality: dict[str, Any] = Field(
        default_factory=dict, description="metrics on the predictions with actuals"
    )
    model_version: int = Field(ge=1, description="the production model version monitored")
    actuals_ingested: int = Field(ge=0, description="actuals stored by this run first")
    report_uri: str | None = Field(None, description="URI of the HTML report")
    json_uri: str | None = Field(None, description="URI of the JSON report")
    markdown: str = Field("", description="the summary as the monitoring artifact shows it")
    monitoring_result_id: int | None = Field(
        None, description="the result recorded in governance (None: not recorded)"
    )
    retrain_run_id: str | None = Field(
        None, description="the retrain flow run a breach started (None: none)"
    )
