"""The approval gate on a real Prefect server: deployments, a worker, suspended runs.

Everything real: ``mlgate up`` started a Prefect server, the governance service (which
resumes flow runs once their request is decided) and a worker; ``mlgate deploy``
registered prefect.yaml. Runs go through the worker; people decide through
governance's HTTP API; a forged resume goes through Prefect's own API.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from e2e_stack import Stack
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_URL, temporary_settings

pytestmark = pytest.mark.slow
OWN_PREFECT = True  # the stack's Prefect server, not the test harness


def _request_of(stack: Stack, project: str) -> str:
    with stack.admin() as admin:
        [req] = admin.list_promotion_requests(project)
    return str(req.id)


def _project(params: dict[str, object]) -> str:
    return Path(str(params["spec_path"])).parent.name


def test_approval_resumes_the_run_and_forged_resumes_do_not_promote(stack: Stack) -> None:
    """…and monitoring the promoted model then finds the drift and starts a retrain."""
    params = stack.project() | {"current_source": "file://current.csv"}
    project = _project(params)
    run_id = stack.run("mlgate-pipeline", "pipeline", params)
    run = stack.wait_state(run_id, {"PAUSED"})
    assert run["state_name"] == "Suspended"  # no worker held while people decide
    request_id = _request_of(stack, project)
    with stack.admin() as admin:
        req = admin.get_promotion_request(request_id)
        assert req.status.value == "pending"
        assert str(req.flow_run_id) == run_id

    # Resuming by hand from Prefect, with forged input or the real id, opens nothing.
    with temporary_settings({PREFECT_API_URL: stack.prefect}):
        resume_flow_run(uuid.UUID(run_id), run_input={"request_id": "forged"})
        run = stack.wait_suspended_again(run_id, run["state"]["id"])
        resume_flow_run(uuid.UUID(run_id), run_input={"request_id": request_id})
        run = stack.wait_suspended_again(run_id, run["state"]["id"])
    with stack.admin() as admin:
        assert admin.current_stage(project) is None
        assert admin.get_promotion_request(request_id).status.value == "pending"
        assert len(admin.list_models(project)) == 1  # the re-executions registered nothing

    # An approver decides in governance; governance resumes the run; it completes.
    with stack.approver() as bob:
        bob.decide(request_id, "approve", comment="metrics and drift reviewed")
    stack.wait_state(run_id, {"COMPLETED"})
    with stack.admin() as admin:
        current = admin.current_stage(project)
        assert current is not None and current.model.version == 1
        assert len(admin.list_models(project)) == 1
        assert len(admin.list_datasets(project)) == 1
        assert len(admin.list_monitoring(project)) == 1

    # What the run shows in the Prefect UI: named tasks and stable artifacts.
    names = {t["name"].rsplit("-", 1)[0] for t in stack.task_runs(run_id)}
    assert {
        "read-source-into-snapshot",
        "validate-against-contract",
        "train-candidates-and-rank",
        "register-model-version",
        "request-promotion-to-production",
        "score-batch-with-production-model",
        "compute-drift-with-evidently",
    } <= names
    [board] = stack.artifacts(f"{project}-leaderboard")
    assert board["type"] == "table" and "logistic_regression" in board["data"]
    [model] = stack.artifacts(f"{project}-model")
    assert f"/api/v1/projects/{project}/models/1" in model["data"]
    [drift] = stack.artifacts(f"{project}-drift")
    assert "Evidently report: [file://" in drift["data"]
    assert stack.artifacts(f"{project}-validation")

    _monitoring_breach_starts_one_retrain(stack, params, project)


def _monitoring_breach_starts_one_retrain(
    stack: Stack, params: dict[str, object], project: str
) -> None:
    """The monitor deployment, over the drifted batch the run just scored, records a
    breach and starts the retrain deployment once (its model would meet the same gate)."""
    monitor = {k: v for k, v in params.items() if k != "current_source"}
    run_id = stack.run("mlgate-monitor", "monitor", monitor | {"retrain_on_breach": True})
    stack.wait_state(run_id, {"COMPLETED"})
    with stack.admin() as admin:
        latest = admin.list_monitoring(project)[0]
        assert latest.dataset_drift and {"annual_income", "interest_rate"} <= set(
            latest.drifted_columns
        )
    retrain = stack.deployment_id("mlgate-pipeline", "retrain")
    body = {"flow_runs": {"deployment_id": {"any_": [retrain]}}}
    runs = [
        r
        for r in stack.api("POST", "/flow_runs/filter", json=body).json()
        if r["parameters"]["params"]["spec_path"] == params["spec_path"]
    ]
    assert len(runs) == 1, runs
    [started] = runs
    assert started["idempotency_key"] == f"retrain-{project}-{latest.id}"
    assert started["parameters"]["params"]["store_url"] == params["store_url"]
    # Not needed further here: stop it so it does not compete with the next tests.
    state = "CANCELLING" if started["state_type"] == "RUNNING" else "CANCELLED"
    stack.api(
        "POST",
        f"/flow_runs/{started['id']}/set_state",
        json={"state": {"type": state}, "force": True},
    )


def test_rejection_fails_the_run_with_the_reason(stack: Stack) -> None:
    params = stack.project()
    project = _project(params)
    run_id = stack.run("mlgate-pipeline", "pipeline", params)
    stack.wait_state(run_id, {"PAUSED"})
    with stack.approver() as bob:
        bob.decide(_request_of(stack, project), "reject", comment="holdout too small")
    run = stack.wait_state(run_id, {"FAILED"})
    assert "rejected" in run["state"]["message"] or "rejected" in stack.log_tail()
    assert "holdout too small" in stack.log_tail(80)
    with stack.admin() as admin:
        assert admin.current_stage(project) is None


def test_expired_request_fails_the_run_clearly(stack: Stack) -> None:
    params = stack.project(request_ttl_hours=3 / 3600)  # expires three seconds after filing
    project = _project(params)
    run_id = stack.run("mlgate-pipeline", "pipeline", params)
    stack.wait_state(run_id, {"FAILED"}, timeout=150)
    assert "expired" in stack.log_tail(80)
    with stack.admin() as admin:
        [req] = admin.list_promotion_requests(project)
        assert req.status.value == "expired"
        assert admin.current_stage(project) is None


def test_promoting_a_version_twice_promotes_it_once(stack: Stack) -> None:
    params = stack.project()
    project = _project(params)
    run_id = stack.run("mlgate-pipeline", "pipeline", params)
    stack.wait_state(run_id, {"PAUSED"})
    with stack.approver() as bob:
        bob.decide(_request_of(stack, project), "approve")
    stack.wait_state(run_id, {"COMPLETED"})

    again = stack.run("mlgate-promote", "promote", params | {"model_version": 1})
    stack.wait_state(again, {"COMPLETED"})
    with stack.admin() as admin:
        assert len(admin.list_promotion_requests(project)) == 1
        assert len(admin.stage_history(project, "production")) == 1
