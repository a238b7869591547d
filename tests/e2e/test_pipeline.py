"""The pipeline end to end on the embedded default, as `make demo` runs it.

Real parts only: the governance service under uvicorn on SQLite, a temporary Prefect
server, the local artifact store, scikit-learn, Great Expectations and Evidently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from flows.errors import ContractViolation
from flows.pipeline import PipelineParams, pipeline
from governance.client import GovernanceClient
from mlgate.demo import data as demo_data
from mlgate.demo.run import SPEC_FILE, run_demo

pytestmark = pytest.mark.slow

EXPECTED_ORDER = [
    "project.created",
    "dataset_version.registered",
    "dataset_version.validated",
    "model_version.registered",
    "promotion_request.created",
    "promotion_request.decided",
    "stage.assigned",
    "monitoring_result.recorded",
]


def _subsequence(wanted: list[str], actions: list[str]) -> bool:
    it = iter(actions)
    return all(any(a == w for a in it) for w in wanted)


def test_demo_pipeline_reaches_production_under_governance(tmp_path: Path) -> None:
    summary = run_demo(4_000, tmp_path / "demo", Console(quiet=True))

    # The requester's own approval was refused; bob's opened the gate.
    trail = summary.approval_trail
    assert trail[0].who.startswith("alice")
    assert trail[0].outcome == "refused [permission_denied]"
    assert "separation of duties" in trail[0].detail
    assert trail[1].outcome == "approved"
    run = summary.pipeline
    assert run.promotion_request.status == "approved"

    # Three candidates ranked, and the chosen model is what production serves.
    assert len(run.model.leaderboard) == 3

    # No token of any principal leaks into the audit trail or the run's summary.
    tokens = json.loads((tmp_path / "demo" / "credentials.json").read_text()).values()
    dumped = summary.model_dump_json()
    assert not [t for t in tokens if t in dumped]

    # The audit chain verifies and holds the pipeline's events in order.
    assert summary.audit.ok is True
    actions = [e.action for e in summary.audit_events]
    assert _subsequence(EXPECTED_ORDER, actions), actions

    # Drift flags exactly the features the generator shifted.
    assert run.drift is not None
    assert set(run.drift.drifted_columns) == set(demo_data.DRIFTED_FEATURES)
    assert Path(run.drift.html_uri.removeprefix("file://")).is_file()

    # A second run works: a new model version, the first one kept in the history.
    again = run_demo(4_000, tmp_path / "demo", Console(quiet=True))
    assert again.pipeline.model_version == run.model_version + 1
    assert again.pipeline.dataset_version == run.dataset_version  # same data, same snapshot
    assert again.audit.ok is True


def test_contract_violation_stops_the_pipeline_and_registers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from governance.admin import bootstrap_admin
    from governance.server import serve_in_thread

    frame = demo_data.make_applications(2_000)
    frame.loc[[3, 17, 400], "age"] = [250, -4, 130]
    demo_data.write_csv(frame, tmp_path / "data" / "applications.csv")
    database_url = f"sqlite:///{tmp_path / 'gov.db'}"
    admin_token = bootstrap_admin(database_url, name="admin")
    with serve_in_thread(database_url, stores=[f"file://{tmp_path / 'artifacts'}"]) as server:
        with GovernanceClient(server.url, admin_token) as admin:
            _, token = admin.create_principal("carol", "developer")
        monkeypatch.setenv("MLGATE_TOKEN", token)
        params = PipelineParams(
            spec_path=str(SPEC_FILE),
            data_dir=str(tmp_path / "data"),
            store_url=str(tmp_path / "artifacts"),
            governance_url=server.url,
            current_source="file://applications.csv",
        )
        with pytest.raises(ContractViolation, match=r"column 'age'") as info:
            pipeline(params)
        assert "outside" in str(info.value)
        assert "region" not in str(info.value)

        with GovernanceClient(server.url, admin_token) as admin:
            assert admin.list_models("credit-risk") == []
            datasets = admin.list_datasets("credit-risk")
            assert [d.validation_status for d in datasets] == ["failed"]
            assert admin.current_stage("credit-risk") is None
            assert admin.verify_audit().ok
    assert not (tmp_path / "artifacts" / "models").exists()
