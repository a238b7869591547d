"""The Prefect flows: ingest, validate, train, promote, score, monitor, and the pipeline.

Tasks are thin typed wrappers over `flows.steps` and the packages' logic; they pass
URIs, hashes and ids (the models of `flows.results`), never frames. Governance is
reached only through its HTTP client, with a token resolved from a secret reference
(`token_ref`), so no secret is ever a Prefect parameter. Retries sit on I/O tasks only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
from functools import cache
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import TaskRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from connectors.secrets import resolve_secret
from connectors.store import ArtifactStore, open_store
from core import __version__, offline
from core.spec import ProjectSpec, load_spec
from flows import gate, scale, steps
from flows.errors import ContractViolation, NoProductionModel, PipelineError
from flows.ingest import retry_if_retryable, snapshot_source
from flows.results import (
    Drift,
    PipelineSummary,
    Promotion,
    Scored,
    Snapshot,
    Trained,
    Validation,
)
from governance.client import GovernanceClient

progress = logging.getLogger("mlgate.progress")


def run_scoped_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Cache key of a task call within one flow run: its name and its arguments.

    When Prefect runs a flow again under the same flow run id (resumed after the gate,
    or retried after a crash), finished steps return their persisted result instead of
    running again. A new flow run never reuses them. The live ``Context`` is left out.
    """
    args = repr(sorted((k, repr(v)) for k, v in parameters.items() if k != "ctx"))
    digest = hashlib.sha256(args.encode()).hexdigest()[:16]
    return f"{flow_run.get_id() or 'no-run'}-{context.task.name}-{digest}"


# Results are persisted (small: URIs, hashes, ids) and keyed per flow run.
STEP: dict[str, Any] = {"cache_key_fn": run_scoped_key, "persist_result": True}
IO_RETRIES: dict[str, Any] = {**STEP, "retries": 3, "retry_delay_seconds": [2, 5, 15]}


class RunParams(BaseModel):
    """Where a run finds its spec, data, store and governance. Holds no secret."""

    spec_path: str = Field(description="path of the project spec (YAML)")
    data_dir: str = Field(".", description="base directory for relative file:// sources")
    store_url: str = Field(".mlgate/artifacts", description="artifact store (directory)")
    governance_url: str = Field("http://127.0.0.1:8000", description="governance service URL")
    token_ref: str = Field(
        "env://MLGATE_TOKEN", description="secret reference of the governance API token"
    )


class GateParams(RunParams):
    """A run that ends at the approval gate: how it waits for governance's decision."""

    approval_timeout_s: float = Field(
        900,
        gt=0,
        le=7 * 24 * 3600,
        description="how long to poll for approval (runs without a deployment; a suspended "
        "run waits until governance decides or expires the request)",
    )
    poll_interval_s: float = Field(
        1.0, gt=0, le=300, description="approval polling period (runs without a deployment)"
    )
    gate: Literal["auto", "suspend", "poll"] = Field(
        "auto",
        description="how to wait for approval: suspend the run (needs a deployment), poll "
        "governance, or auto (suspend under a deployment, else poll)",
    )


class PipelineParams(GateParams):
    """One pipeline run: where things are, what to score, and how to wait at the gate."""

    current_source: str | None = Field(
        None, description="URI of a later batch to score and monitor (empty: skip both)"
    )
    dask_address: str | None = Field(
        None,
        description="Dask cluster for training candidates and scoring partitions: "
        "tcp://host:port, 'local' for a LocalCluster, empty for MLGATE_DASK_ADDRESS or, "
        "unset, Prefect's default runner",
    )


def say(message: str) -> None:
    """Progress: into the Prefect run log (UI) and to the terminal's progress logger."""
    progress.info(message)
    with contextlib.suppress(MissingContextError):  # outside a run there is no run logger
        get_run_logger().info(message)


@cache
def code_version() -> str:
    """mlgate's version, with the git commit when run from a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=True,
        ).stdout.strip()
        return f"{__version__}+g{sha}"
    except (OSError, subprocess.SubprocessError):
        return __version__


class Context:
    """What every flow needs: the spec, the store and a governance client."""

    def __init__(self, params: RunParams) -> None:
        self.params = params
        self.spec: ProjectSpec = load_spec(params.spec_path)
        self.store: ArtifactStore = open_store(params.store_url)
        self.base_dir = Path(params.data_dir)
        token = resolve_secret(params.token_ref)
        self.client = GovernanceClient(params.governance_url, token.get_secret_value())

    def close(self) -> None:
        self.client.close()


def _key(spec: ProjectSpec, what: str) -> str:
    return f"{spec.name}-{what}"


# ------------------------------------------------------------------------------ tasks
@task(name="read-source-into-snapshot", **IO_RETRIES, retry_condition_fn=retry_if_retryable)
def ingest_task(ctx: Context, source: str) -> Snapshot:
    return snapshot_source(source, ctx.spec.contract, ctx.store, base_dir=ctx.base_dir)


@task(name="register-dataset-version", **IO_RETRIES)
def register_dataset_task(ctx: Context, snap: Snapshot) -> int:
    ds = ctx.client.register_dataset(
        ctx.spec.name,
        source=snap.source,
        snapshot_uri=snap.uri,
        content_hash=snap.content_hash,
        row_count=snap.rows,
        contract_version=ctx.spec.contract.version,
        idempotency_key=f"dataset-{ctx.spec.name}-{snap.content_hash}",
    )
    return int(ds.version)


@task(name="validate-against-contract", **STEP)
def validate_task(ctx: Context, snap: Snapshot, dataset_version: int) -> Validation:
    report = steps.validate_snapshot(ctx.store, ctx.spec, snap.uri, snap.content_hash)
    ctx.client.record_validation(
        ctx.spec.name, dataset_version, passed=report.success, summary=report.to_dict()
    )
    create_markdown_artifact(
        key=_key(ctx.spec, "validation"),
        markdown=report.summary_markdown(),
        description=f"validation of {ctx.spec.name} dataset v{dataset_version}",
    )
    if not report.success:
        raise ContractViolation(report)
    return Validation(
        passed=report.success,
        evaluated=report.evaluated,
        rows=report.rows,
        duration_s=round(report.duration_s, 4),
        failing_columns=report.failing_columns,
    )


@task(name="train-candidates-and-rank", **STEP)
def train_task(ctx: Context, snap: Snapshot) -> Trained:
    trained = steps.train_snapshot(ctx.store, ctx.spec, snap.uri, snap.content_hash)
    publish_leaderboard(ctx.spec, trained)
    return trained


def train_on_cluster(ctx: Context, snap: Snapshot, address: str) -> Trained:
    """Train the candidates as parallel tasks on the Dask cluster at ``address``."""
    runner = scale.task_runner(address)
    trained = scale.train_candidates.with_options(task_runner=runner)(
        ctx.params.spec_path, ctx.params.store_url, snap.uri, snap.content_hash
    )
    publish_leaderboard(ctx.spec, trained)
    return trained


def publish_leaderboard(spec: ProjectSpec, trained: Trained) -> None:
    """The leaderboard as a table artifact (stable key ``<project>-leaderboard``)."""
    create_table_artifact(
        key=_key(spec, "leaderboard"),
        table=trained.leaderboard,
        description=f"{spec.name}: candidates ranked by {spec.training.primary_metric}",
    )


@task(name="register-model-version", **IO_RETRIES)
def register_model_task(ctx: Context, trained: Trained, dataset_version: int) -> int:
    run_id = flow_run.get_id()
    mv = ctx.client.register_model(
        ctx.spec.name,
        algorithm=trained.algorithm,
        params=trained.params,
        metrics=trained.metrics,
        artifact_uri=trained.artifact_uri,
        sha256=trained.sha256,
        dataset_version=dataset_version,
        code_version=code_version(),
        flow_run_id=str(run_id) if run_id else None,
        idempotency_key=f"model-{ctx.spec.name}-{trained.sha256}-{run_id}",
    )
    url = f"{ctx.client.base_url}/api/v1/projects/{ctx.spec.name}/models/{mv.version}"
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in trained.metrics.items())
    create_markdown_artifact(
        key=_key(ctx.spec, "model"),
        markdown=(
            f"### {ctx.spec.name}@{mv.version}: {trained.algorithm}\n\n"
            f"- in governance: [{url}]({url})\n- trained on dataset v{dataset_version}\n"
            f"- metrics: {metrics}\n- artifact: `{trained.artifact_uri}`\n"
            f"- sha256: `{trained.sha256}`\n"
        ),
        description=f"model version {ctx.spec.name}@{mv.version} registered in governance",
    )
    return int(mv.version)


@task(name="request-promotion-to-production", **IO_RETRIES)
def request_promotion_task(ctx: Context, model_version: int, suspendable: bool) -> str:
    """Open the promotion request; the idempotency key makes a retry return the same one."""
    run_id = flow_run.get_id()
    req = ctx.client.request_promotion(
        ctx.spec.name,
        model_version,
        stage="production",
        comment=f"pipeline run {flow_run.get_name() or ''}".strip(),
        flow_run_id=str(run_id) if run_id and suspendable else None,
        idempotency_key=f"promote-{ctx.spec.name}-{model_version}-{run_id}",
    )
    failed = [c for c in req.checks if not c.passed]
    if req.status.value == "blocked":
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        raise PipelineError(f"promotion of {ctx.spec.name}@{model_version} is blocked: {reasons}")
    return str(req.id)


def suspends(params: GateParams) -> bool:
    """Whether this run suspends at the gate (else it polls governance)."""
    return params.gate == "suspend" or (params.gate == "auto" and gate.in_deployment())


def pass_gate(ctx: Context, request_id: str, params: GateParams) -> Promotion:
    """Wait at the approval gate; only governance's record of the decision opens it.

    Raises:
        GateError: rejected (with the reasons), expired, or not in effect.
    """
    if suspends(params):
        req = gate.wait_suspended(ctx.client, request_id)
    else:
        req = gate.wait_polling(
            ctx.client,
            request_id,
            timeout_s=params.approval_timeout_s,
            poll_s=params.poll_interval_s,
        )
    return gate.confirm_promoted(ctx.client, req)


@task(name="score-batch-with-production-model", **IO_RETRIES)
def score_task(ctx: Context, source: str) -> Scored:
    current = ctx.client.current_stage(ctx.spec.name, "production")
    if current is None:
        raise NoProductionModel(f"project {ctx.spec.name} has no production model to score with")
    return steps.score_source(
        ctx.store,
        ctx.spec,
        source,
        model=current.model.model_dump(mode="json"),
        base_dir=ctx.base_dir,
    )


def score_on_cluster(ctx: Context, source: str, address: str) -> Scored:
    """Score ``source`` in partitions on the Dask cluster at ``address``."""
    current = ctx.client.current_stage(ctx.spec.name, "production")
    if current is None:
        raise NoProductionModel(f"project {ctx.spec.name} has no production model to score with")
    runner = scale.task_runner(address)
    return scale.score_partitions.with_options(task_runner=runner)(
        ctx.params.spec_path,
        ctx.params.store_url,
        source,
        str(ctx.base_dir),
        current.model.model_dump(mode="json"),
    )


@task(name="compute-drift-with-evidently", **STEP)
def drift_task(ctx: Context, reference: Snapshot, inputs_uri: str, inputs_sha256: str) -> Drift:
    drift, markdown = steps.drift_against_reference(
        ctx.store,
        ctx.spec,
        reference_uri=reference.uri,
        reference_sha256=reference.content_hash,
        current_uri=inputs_uri,
        current_sha256=inputs_sha256,
    )
    create_markdown_artifact(
        key=_key(ctx.spec, "drift"),
        markdown=(
            f"{markdown}\n\nEvidently report: [{drift.html_uri}]({drift.html_uri})"
            f" (JSON: `{drift.json_uri}`)"
        ),
        description=f"{ctx.spec.name}: drift of the current batch against training data",
    )
    return drift


@task(name="record-drift-in-governance", **IO_RETRIES)
def record_drift_task(ctx: Context, model_version: int, drift: Drift) -> None:
    report = hashlib.sha256(drift.json_uri.encode()).hexdigest()[:16]
    key = f"drift-{ctx.spec.name}-{model_version}-{flow_run.get_id()}-{report}"
    steps.record_drift(ctx.client, ctx.spec, model_version, drift, idempotency_key=key)


# ------------------------------------------------------------------------------ flow
@flow(name="mlgate-pipeline", log_prints=True, persist_result=True)
def pipeline(params: PipelineParams) -> PipelineSummary:
    """Raw data to a governed production model: ingest, validate, train, promote,
    score and monitor one project. Returns a small summary of what it did."""
    offline.apply()
    ctx = Context(params)
    spec = ctx.spec
    try:
        ctx.client.ensure_project(
            spec.name, description=spec.description, policy=spec.policy.model_dump(mode="json")
        )
        say(f"[1/6] ingest {spec.source}")
        snap = ingest_task(ctx, spec.source)
        dataset_version = register_dataset_task(ctx, snap)
        say(
            f"      snapshot {snap.content_hash[:12]} ({snap.rows:,} rows)"
            f" = dataset v{dataset_version}"
        )

        say("[2/6] validate against the data contract (Great Expectations)")
        validation = validate_task(ctx, snap, dataset_version)
        say(f"      {validation.evaluated} expectations passed")

        say(f"[3/6] train {len(spec.training.candidates)} candidates")
        address = scale.dask_address(params.dask_address)
        trained = train_on_cluster(ctx, snap, address) if address else train_task(ctx, snap)
        model_version = register_model_task(ctx, trained, dataset_version)
        say(f"      best {trained.algorithm} registered as {spec.name}@{model_version}")

        say("[4/6] request promotion to production and wait for approval")
        request_id = request_promotion_task(ctx, model_version, suspends(params))
        say(f"      request {request_id[:8]} filed; waiting for governance to decide")
        decided = pass_gate(ctx, request_id, params)
        say(
            f"      request {request_id[:8]} {decided.status};"
            f" {spec.name}@{model_version} in production"
        )

        scored: Scored | None = None
        drift: Drift | None = None
        if params.current_source:
            say(f"[5/6] batch scoring {params.current_source} with the production model")
            scored = (
                score_on_cluster(ctx, params.current_source, address)
                if address
                else score_task(ctx, params.current_source)
            )
            say(f"      {scored.rows:,} rows scored -> {scored.predictions_uri}")
            say("[6/6] drift of the scored batch against the training data (Evidently)")
            drift = drift_task(ctx, snap, scored.inputs_uri, scored.inputs_sha256)
            record_drift_task(ctx, model_version, drift)
            say(
                f"      drift share {drift.drift_share:.0%}:"
                f" {', '.join(drift.drifted_columns) or 'none'}"
            )
        return PipelineSummary(
            project=spec.name,
            snapshot=snap,
            dataset_version=dataset_version,
            validation=validation,
            model_version=model_version,
            model=trained,
            promotion_request=decided,
            scoring=scored,
            drift=drift,
        )
    finally:
        ctx.close()
