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


def test_deploy_schedules_the_monitor_from_the_spec(stack: Stack, tmp_path: Path) -> None:
    params = stack.project()
    spec = yaml.safe_load(Path(params["spec_path"]).read_text())
    spec["monitoring"]["schedule"] = "*/30 * * * *"
    scheduled = tmp_path / "scheduled.yaml"
    scheduled.write_text(yaml.safe_dump(spec))

    done = mlgate_cli("deploy", "--spec", str(scheduled), "--current-source", "", env=stack.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "monitor scheduled: */30 * * * *" in done.stdout
    monitor = stack.api("GET", "/deployments/name/mlgate-monitor/monitor").json()
    assert [s["schedule"]["cron"] for s in monitor["schedules"]] == ["*/30 * * * *"]
    assert monitor["parameters"]["params"]["spec_path"] == str(scheduled)


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
