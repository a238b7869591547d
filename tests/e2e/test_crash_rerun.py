"""A worker killed in the middle of training: the re-run completes without duplicates.

Real parts: the ``mlgate up`` stack (Prefect server, governance, a process worker).
The worker and the flow-run process it started are SIGKILLed while the training task
is Running, as when a machine dies; a new worker is started and the flow run is
retried, as the Prefect UI's *Retry* does. Finished steps come back from their
persisted results, governance POSTs carry idempotency keys, snapshots are
content-addressed: one snapshot, one dataset version, one model version.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from e2e_stack import Stack

from mlgate.stack.processes import is_running, read_state, write_state
from mlgate.stack.services import start_worker

pytestmark = pytest.mark.slow
OWN_PREFECT = True  # the stack's Prefect server, not the test harness


def _wait_training(stack: Stack, run_id: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in stack.task_runs(run_id):
            if task["name"].startswith("train-candidates") and task["state_type"] == "RUNNING":
                return
        time.sleep(0.2)
    raise AssertionError(f"training never ran\n{stack.log_tail()}")


def _kill_tree(pid: int) -> None:
    """SIGKILL the worker and its flow-run processes, and wait until they are gone."""
    proc = psutil.Process(pid)
    procs = [*proc.children(recursive=True), proc]
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(procs, timeout=30)
    assert not alive, f"still alive after SIGKILL: {alive}"


def test_worker_killed_mid_training_rerun_leaves_one_model_and_one_snapshot(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = stack.project(rows=40_000)  # long enough to be caught while training
    project = Path(params["spec_path"]).parent.name
    run_id = stack.run("mlgate-pipeline", "pipeline", params)
    _wait_training(stack, run_id)

    state = read_state(stack.dir)
    _kill_tree(state["worker"].pid)
    assert not is_running(state["worker"])
    assert stack.flow_run(run_id)["state_type"] == "RUNNING"  # left behind by the crash

    # A new worker, in the stack's environment, recorded so `mlgate down` stops it.
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    token = json.loads((stack.dir / "tokens.json").read_text())["flows"]
    state["worker"] = start_worker(stack.dir, stack.prefect, "mlgate-local", token, timeout=120)
    write_state(stack.dir, state)

    # Retry the crashed run, as the Prefect UI's Retry does.
    stack.api(
        "POST",
        f"/flow_runs/{run_id}/set_state",
        json={"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
    )
    stack.wait_state(run_id, {"PAUSED"}, timeout=300)
    with stack.admin() as admin:
        [req] = admin.list_promotion_requests(project)
    with stack.approver() as bob:
        bob.decide(str(req.id), "approve")
    stack.wait_state(run_id, {"COMPLETED"})

    with stack.admin() as admin:
        assert [m.version for m in admin.list_models(project)] == [1]
        assert len(admin.list_datasets(project)) == 1
        assert len(admin.list_promotion_requests(project)) == 1
        current = admin.current_stage(project)
        assert current is not None and current.model.version == 1
    snapshots = list(Path(params["store_url"]).glob("snapshots/**/*.parquet"))
    assert len(snapshots) == 1
