"""The monitor deployment's schedule comes from the spec; a drift breach starts the
retrain deployment once. Real parts: the ``mlgate up`` stack and ``mlgate deploy``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from e2e_stack import Stack, mlgate_cli
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.retrain import trigger_retrain

pytestmark = pytest.mark.slow
OWN_PREFECT = True  # the stack's Prefect server, not the test harness


def _scheduled(stack: Stack, tmp_path: Path, cron: str) -> tuple[Path, str]:
    """A project spec with a monitoring schedule, deployed; its path and project name."""
    params = stack.project()
    spec = yaml.safe_load(Path(params["spec_path"]).read_text())
    spec["monitoring"]["schedule"] = cron
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    done = mlgate_cli("deploy", "--spec", str(path), "--current-source", "", env=stack.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"mlgate-monitor/monitor-{spec['name']} scheduled: {cron}" in done.stdout
    return path, str(spec["name"])


def test_deploy_schedules_a_monitor_per_project_from_its_spec(stack: Stack, tmp_path: Path) -> None:
    first_spec, first = _scheduled(stack, tmp_path, "*/30 * * * *")
    second_spec, second = _scheduled(stack, tmp_path, "0 6 * * *")
    for project, spec, cron in (
        (first, first_spec, "*/30 * * * *"),
        (second, second_spec, "0 6 * * *"),
    ):
        monitor = stack.api("GET", f"/deployments/name/mlgate-monitor/monitor-{project}").json()
        assert [s["schedule"]["cron"] for s in monitor["schedules"]] == [cron]
        assert monitor["parameters"]["params"]["spec_path"] == str(spec)
        assert monitor["work_pool_name"] == "mlgate-local" and not monitor["paused"]
    shared = stack.api("GET", "/deployments/name/mlgate-monitor/monitor").json()
    assert shared["schedules"] == []  # for runs started by hand
    for project in (first, second):  # no scheduled monitoring competes with later tests
        dep = stack.deployment_id("mlgate-monitor", f"monitor-{project}")
        stack.api("DELETE", f"/deployments/{dep}")


def test_a_drift_breach_starts_the_retrain_deployment_once(stack: Stack) -> None:
    params = stack.project()
    breach = str(uuid.uuid4())
    later = datetime.now(UTC) + timedelta(hours=1)  # left scheduled: the worker stays free
    with temporary_settings({PREFECT_API_URL: stack.prefect}):
        first = trigger_retrain(params, project="cr", breach_id=breach, scheduled_time=later)
        again = trigger_retrain(params, project="cr", breach_id=breach, scheduled_time=later)
    assert first is not None and first == again
    run = stack.flow_run(first)
    assert run["deployment_id"] == stack.deployment_id("mlgate-pipeline", "retrain")
    assert run["parameters"]["params"]["spec_path"] == params["spec_path"]
    stack.api("DELETE", f"/flow_runs/{first}")
