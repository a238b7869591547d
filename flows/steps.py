"""Plain-Python steps of the pipeline that need more than one package.

Each function does one step's whole logic given a store and (where it records
something) a governance client; the Prefect tasks in `flows.pipeline` wrap them.
Frames are read from and written to the artifact store here, so tasks pass only
URIs, hashes and ids: the typed results of :mod:`flows.results`.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.schema import arrow_schema
from connectors.sources import read_table
from connectors.store import ArtifactStore
from core.spec import DataContract, ProjectSpec
from flows.results import Drift, Scored, Trained
from governance.client import GovernanceClient

if TYPE_CHECKING:
    import pandas as pd

    from flows.validation_report import ValidationReport

# scikit-learn, Great Expectations and Evidently are imported by the step that needs
# them: a flow run resumed after the approval gate starts in seconds, not tens of them.
from scoring import predlog


def load_frame(store: ArtifactStore, uri: str, sha256: str) -> pd.DataFrame:
    """A stored snapshot as a pandas frame, its hash verified on read."""
    return store.read_snapshot(uri, sha256=sha256).to_pandas()


# --------------------------------------------------------------------------- validate
def validate_snapshot(
    store: ArtifactStore, spec: ProjectSpec, uri: str, sha256: str
) -> ValidationReport:
    from flows import validate as validate_lib

    frame = load_frame(store, uri, sha256)
    return validate_lib.validate_frame(frame, spec.contract, name=f"{spec.name}-contract")


# --------------------------------------------------------------------------- train
def train_snapshot(store: ArtifactStore, spec: ProjectSpec, uri: str, sha256: str) -> Trained:
    """Fit every candidate on the snapshot and store the best as a skops artifact."""
    from flows import train as train_lib
    from scoring import model_format

    frame = load_frame(store, uri, sha256)
    result = train_lib.fit(frame, spec)
    stored = store.put_bytes(model_format.dumps(result.best_model), kind="models", suffix=".skops")
    best = result.best
    metrics = {**best.holdout, "cv_mean": best.cv_mean, "cv_std": best.cv_std}
    return Trained(
        algorithm=best.name,
        params=best.params,
        metrics={k: float(v) for k, v in metrics.items()},
        artifact_uri=stored.uri,
        sha256=stored.sha256,
        leaderboard=result.leaderboard_rows(),
    )


# --------------------------------------------------------------------------- score
def read_scoring_batch(source: str, contract: DataContract, *, base_dir: Path | None) -> pa.Table:
    """A batch to score: the contract's id and feature columns, typed from the contract.

    The target is not expected (actuals arrive later); missing features are refused
    by the scorer with a message naming them.
    """
    table = read_table(source, base_dir=base_dir)
    schema = arrow_schema(contract)
    wanted = [c for c in contract.names if c != contract.target and c in table.column_names]
    columns = [table.column(name).cast(schema.field(name).type) for name in wanted]
    return pa.table(dict(zip(wanted, columns, strict=True)))


def score_source(
    store: ArtifactStore,
    spec: ProjectSpec,
    source: str,
    *,
    model: dict[str, Any],
    base_dir: Path | None,
) -> Scored:
    """Score `source` with the production `model` (as governance describes it).

    The artifact's sha256 is checked against governance's record before loading.
    """
    from scoring import batch as batch_lib
    from scoring import model_format

    started = time.perf_counter()
    data = store.get_bytes(model["artifact_uri"], sha256=model["sha256"])
    estimator = model_format.load_verified(data, expected_sha256=model["sha256"])
    inputs = read_scoring_batch(source, spec.contract, base_dir=base_dir)
    frame = inputs.to_pandas()
    scored = batch_lib.score_frame(
        estimator, frame, spec.contract, model_version=f"{spec.name}@{model['version']}"
    )
    return store_scored(store, spec, model, inputs, frame, scored, started)


def store_scored(
    store: ArtifactStore,
    spec: ProjectSpec,
    model: dict[str, Any],
    inputs: pa.Table,
    frame: pd.DataFrame,
    scored: pd.DataFrame,
    started: float,
) -> Scored:
    """Log, store and summarize a scored batch (inputs snapshot, predictions parquet)."""
    # The same records the prediction server logs, so monitoring sees batch scoring too.
    predlog.write_predictions(
        store,
        spec.name,
        predlog.scored_log_table(
            spec.contract,
            frame,
            scored,
            version=int(model["version"]),
            latency_ms=(time.perf_counter() - started) * 1000.0 / max(len(scored), 1),
        ),
    )
    inputs_stored = store.write_snapshot(inputs)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(scored, preserve_index=False), buf, compression="zstd")
    predictions = store.put_bytes(buf.getvalue(), kind="predictions", suffix=".parquet")
    return Scored(
        inputs_uri=inputs_stored.uri,
        inputs_sha256=inputs_stored.sha256,
        predictions_uri=predictions.uri,
        predictions_sha256=predictions.sha256,
        rows=len(scored),
        positive_rate=float(scored["label"].mean()) if len(scored) else 0.0,
        mean_score=float(scored["score"].mean()) if len(scored) else 0.0,
        seconds=round(time.perf_counter() - started, 3),
    )


# --------------------------------------------------------------------------- monitor
def drift_against_reference(
    store: ArtifactStore,
    spec: ProjectSpec,
    *,
    reference_uri: str,
    reference_sha256: str,
    current_uri: str,
    current_sha256: str,
) -> tuple[Drift, str]:
    """Evidently drift of the current inputs against the training snapshot.

    Returns:
        The drift, its reports stored, and its summary as markdown (for an artifact).
    """
    from monitoring.drift import run_drift

    reference = load_frame(store, reference_uri, reference_sha256)
    current = load_frame(store, current_uri, current_sha256)
    run = run_drift(
        reference,
        current,
        spec.contract,
        drift_share_threshold=spec.monitoring.drift_share_threshold,
        column_threshold=spec.monitoring.column_threshold,
        sample_rows=spec.monitoring.sample_rows,
    )
    html = store.put_bytes(run.html().encode("utf-8"), kind="reports", suffix=".html")
    js = store.put_bytes(run.json().encode("utf-8"), kind="reports", suffix=".json")
    result = run.result
    drift = Drift(
        drift_share=result.drift_share,
        dataset_drift=result.dataset_drift,
        drifted_columns=list(result.drifted_columns),
        html_uri=html.uri,
        json_uri=js.uri,
        details=result.to_dict(),
    )
    return drift, result.summary_markdown()


def record_drift(
    client: GovernanceClient,
    spec: ProjectSpec,
    model_version: int,
    drift: Drift,
    *,
    idempotency_key: str | None = None,
) -> None:
    """Record a drift result in governance; a repeat with the same key records it once."""
    client.record_monitoring(
        spec.name,
        model_version=model_version,
        drift_share=drift.drift_share,
        dataset_drift=drift.dataset_drift,
        drifted_columns=drift.drifted_columns,
        report_uri=drift.html_uri,
        json_uri=drift.json_uri,
        details=drift.details,
        idempotency_key=idempotency_key,
    )
