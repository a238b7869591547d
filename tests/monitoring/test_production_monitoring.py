"""Monitoring what production saw: known injected drift, schema findings, the fast path,
and one whole monitoring run against a real governance server and a real store.

The data comes from the demo's generator: ``make_current_batch`` shifts exactly
``DRIFTED_FEATURES`` and keeps every other feature's distribution.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from connectors.store import LocalArtifactStore
from core.errors import InvalidInput
from core.spec import ProjectSpec, load_spec
from flows.monitor import MonitorParams, run_monitoring
from flows.train import make_candidate
from governance.admin import bootstrap_admin
from governance.client import GovernanceClient
from governance.server import serve_in_thread
from mlgate.demo.data import DRIFTED_FEATURES, make_applications, make_current_batch
from mlgate.demo.run import SPEC_FILE
from monitoring.actuals import ingest_actuals
from monitoring.drift import run_drift
from monitoring.errors import ActualsError, MonitoringError
from scoring import model_format, predlog
from scoring.batch import score_frame

SPEC = load_spec(SPEC_FILE)
CONTRACT = SPEC.contract
STABLE = [f for f in CONTRACT.features if f not in DRIFTED_FEATURES]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_applications(20_000, seed=7)


@pytest.fixture(scope="module")
def current() -> pd.DataFrame:
    return make_current_batch(8_000, seed=8)


def test_injected_drift_is_flagged_and_stable_columns_are_not(
    reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    result = run_drift(reference, current, CONTRACT).result
    assert sorted(result.drifted_columns) == sorted(DRIFTED_FEATURES)
    by_column = {c.column: c for c in result.columns}
    assert not any(by_column[name].drifted for name in STABLE)
    assert all(c.stattest for c in result.columns)  # the test used, per column
    assert result.schema_findings == []


def test_no_drift_between_two_samples_of_the_training_population(
    reference: pd.DataFrame,
) -> None:
    result = run_drift(reference, make_applications(8_000, seed=99), CONTRACT).result
    assert result.drifted_columns == []


def test_renamed_and_all_null_columns_are_findings_and_drift_still_runs(
    reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    broken = current.rename(columns={"region": "sales_region"})
    broken["employment_years"] = np.nan
    result = run_drift(reference, broken, CONTRACT).result

    findings = {(f.column, f.kind, f.side) for f in result.schema_findings}
    assert ("region", "missing", "current") in findings
    assert ("sales_region", "extra", "current") in findings
    assert ("employment_years", "all_null", "current") in findings
    compared = {c.column for c in result.columns}
    assert compared == set(CONTRACT.features) - {"region", "employment_years"}
    assert sorted(result.drifted_columns) == sorted(DRIFTED_FEATURES)


def test_a_column_that_changed_type_is_a_finding(
    reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    broken = current.copy()
    broken["age"] = "unknown"
    result = run_drift(reference, broken, CONTRACT).result
    assert [(f.column, f.kind) for f in result.schema_findings] == [("age", "unexpected_type")]
    assert "age" not in {c.column for c in result.columns}


def test_fast_path_verdicts_equal_the_full_computation(
    reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    full = run_drift(reference, current, CONTRACT).result
    fast = run_drift(
        reference, current, CONTRACT, sample_rows=2_000, guard_band=0.25, engine="stattest"
    ).result
    assert fast.sampled and not full.sampled
    assert fast.n_reference == 2_000
    assert {c.column: c.drifted for c in fast.columns} == {
        c.column: c.drifted for c in full.columns
    }
    # Close calls were recomputed on every row: their scores are the full ones.
    by_full = {c.column: c for c in full.columns}
    for name in fast.rechecked_columns:
        same = next(c for c in fast.columns if c.column == name)
        assert same.score == pytest.approx(by_full[name].score)


def test_direct_tests_give_the_report_s_scores_and_verdicts(
    reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    report = run_drift(reference, current, CONTRACT).result
    direct = run_drift(reference, current, CONTRACT, engine="stattest").result
    assert [(c.column, c.stattest, c.threshold, c.drifted) for c in direct.columns] == [
        (c.column, c.stattest, c.threshold, c.drifted) for c in report.columns
    ]
    for a, b in zip(direct.columns, report.columns, strict=True):
        assert a.score == pytest.approx(b.score, rel=1e-9)


def test_guard_band_rechecks_close_calls_on_all_rows(
    reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    """With the widest band every column scoring up to twice its threshold is rechecked."""
    full = {
        c.column: c
        for c in run_drift(reference, current, CONTRACT, engine="stattest").result.columns
    }
    fast = run_drift(
        reference, current, CONTRACT, sample_rows=1_500, guard_band=1.0, engine="stattest"
    ).result
    assert set(STABLE) <= set(fast.rechecked_columns)
    for c in fast.columns:
        if c.column in fast.rechecked_columns:
            assert c.score == pytest.approx(full[c.column].score)
        else:
            assert c.score > 2 * c.threshold and full[c.column].drifted


# --------------------------------------------------------------------------- a whole run


@pytest.fixture
def production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ProjectSpec, GovernanceClient, LocalArtifactStore, int]]:
    """A governance server with a promoted model trained on a real stored snapshot.

    The developer's token is in ``MLGATE_TOKEN`` (what the flow's ``token_ref`` names).
    """
    db = f"sqlite:///{tmp_path / 'gov.db'}"
    with serve_in_thread(db, stores=[f"file://{tmp_path / 'artifacts'}"]) as server:
        admin = GovernanceClient(server.url, bootstrap_admin(db))
        _, dev_token = admin.create_principal(f"dev-{secrets.token_hex(3)}", "developer")
        monkeypatch.setenv("MLGATE_TOKEN", dev_token)
        _, ok_token = admin.create_principal(f"risk-{secrets.token_hex(3)}", "approver")
        strict = SPEC.policy.model_copy(update={"metric_floors": {"roc_auc": 0.99}})
        spec = SPEC.model_copy(update={"name": f"credit-{secrets.token_hex(3)}", "policy": strict})
        store = LocalArtifactStore(tmp_path / "artifacts")
        train = make_applications(3_000, seed=7)
        snap = store.write_snapshot(pa.Table.from_pandas(train, preserve_index=False))
        with (
            GovernanceClient(server.url, dev_token) as dev,
            GovernanceClient(server.url, ok_token) as approver,
        ):
            dev.ensure_project(spec.name, "", {"metric_floors": {"roc_auc": 0.99}})
            ds = dev.register_dataset(
                spec.name,
                source="file://a.csv",
                snapshot_uri=snap.uri,
                content_hash=snap.sha256,
                row_count=len(train),
                contract_version=1,
            )
            dev.record_validation(spec.name, ds.version, passed=True, summary={})
            model = make_candidate("logistic_regression", CONTRACT, seed=0).fit(
                train[CONTRACT.features], train["defaulted"]
            )
            art = store.put_bytes(model_format.dumps(model), kind="models", suffix=".skops")
            mv = dev.register_model(
                spec.name,
                algorithm="logistic_regression",
                params={},
                metrics={"roc_auc": 0.995},
                artifact_uri=art.uri,
                sha256=art.sha256,
                dataset_version=ds.version,
                code_version="test",
            )
            req = dev.request_promotion(spec.name, mv.version)
            approver.decide(str(req.id), "approve")
            try:
                yield spec, dev, store, mv.version
            finally:
                admin.close()


def test_monitoring_run_records_drift_quality_and_live_metrics(
    production: tuple[ProjectSpec, GovernanceClient, LocalArtifactStore, int], tmp_path: Path
) -> None:
    spec, client, store, version = production
    spec_path = tmp_path / "spec.yaml"
    from core.spec import dump_spec

    spec_path.write_text(dump_spec(spec))
    # What production saw: a drifted batch, scored and logged like batch scoring does.
    batch = make_current_batch(3_000, seed=8)
    model = model_format.load_verified(
        store.get_bytes(client.get_model(spec.name, version).artifact_uri),
        expected_sha256=client.get_model(spec.name, version).sha256,
    )
    scored = score_frame(model, batch, CONTRACT, model_version=f"{spec.name}@{version}")
    predlog.write_predictions(
        store,
        spec.name,
        predlog.scored_log_table(CONTRACT, batch, scored, version=version, latency_ms=0.1),
    )
    # Ground truth for 2,000 of them arrives as a file.
    actuals = pd.DataFrame(
        {"prediction_id": scored["prediction_id"][:2_000], "actual": batch["defaulted"][:2_000]}
    )
    actuals.to_csv(tmp_path / "actuals.csv", index=False)

    summary = run_monitoring(
        MonitorParams(
            spec_path=str(spec_path),
            data_dir=str(tmp_path),
            store_url=str(store.root),
            actuals_source="file://actuals.csv",
            window_end=datetime.now(UTC) + timedelta(seconds=1),
        ),
        client,
        store,
    )

    assert summary.actuals_ingested == 2_000
    assert summary.window["rows"] == 3_000
    assert sorted((summary.drift or {})["drifted_columns"]) == sorted(DRIFTED_FEATURES)
    live = summary.live_quality
    assert live["with_actuals"] == 2_000 and live["unmatched_actuals"] == 0
    assert 0.5 < live["metrics"]["roc_auc"] < 0.99  # below the floor of this project
    assert summary.breach is True
    assert any(a.startswith("dataset drift") for a in summary.alerts)
    assert any(a.startswith("live roc_auc") for a in summary.alerts)
    assert (summary.prediction_drift or {})["stattest"]
    assert all(q["ok"] for q in summary.data_quality)
    recorded = client.list_monitoring(spec.name)[0]
    assert recorded.model_version == version
    assert recorded.dataset_drift is True
    assert recorded.details["breach"] is True
    assert recorded.report_uri is not None and recorded.report_uri == summary.report_uri
    assert b"<html" in store.get_bytes(recorded.report_uri)


def test_bad_actuals_file_names_the_row(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    pd.DataFrame({"prediction_id": ["0" * 32, "nope"], "actual": [1, 0]}).to_csv(
        tmp_path / "a.csv", index=False
    )
    with pytest.raises(ActualsError, match="row 1: prediction_id is not a prediction id"):
        ingest_actuals(store, SPEC, "file://a.csv", base_dir=tmp_path)
    pd.DataFrame({"prediction_id": ["0" * 32], "actual": [3]}).to_csv(
        tmp_path / "b.csv", index=False
    )
    with pytest.raises(ActualsError, match=r"row 0: actual must be one of \[0, 1\], got 3"):
        ingest_actuals(store, SPEC, "file://b.csv", base_dir=tmp_path)


def test_an_unusable_actuals_source_is_invalid_input_of_the_one_tree(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    pd.DataFrame({"id": ["0" * 32], "actual": [1]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ActualsError) as caught:
        ingest_actuals(store, SPEC, "file://c.csv", base_dir=tmp_path)
    assert isinstance(caught.value, MonitoringError) and isinstance(caught.value, InvalidInput)
    assert (caught.value.code, caught.value.status) == ("invalid_actuals", 422)
    assert not isinstance(caught.value, ValueError)
    assert "prediction_id" in caught.value.message


def test_the_prefect_flow_monitors_and_records(
    production: tuple[ProjectSpec, GovernanceClient, LocalArtifactStore, int], tmp_path: Path
) -> None:
    """``mlgate-monitor`` on a real (temporary) Prefect server, token from a reference."""
    from prefect.testing.utilities import prefect_test_harness

    from core.spec import dump_spec
    from flows.monitor import monitor_flow

    spec, client, store, version = production
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(dump_spec(spec))
    batch = make_current_batch(2_000, seed=8)
    artifact = client.get_model(spec.name, version)
    model = model_format.load_verified(
        store.get_bytes(artifact.artifact_uri), expected_sha256=artifact.sha256
    )
    scored = score_frame(model, batch, CONTRACT, model_version=f"{spec.name}@{version}")
    predlog.write_predictions(
        store,
        spec.name,
        predlog.scored_log_table(CONTRACT, batch, scored, version=version, latency_ms=0.1),
    )
    params = MonitorParams(
        spec_path=str(spec_path),
        store_url=str(store.root),
        governance_url=client.base_url,
        window_end=datetime.now(UTC) + timedelta(seconds=1),
    )
    # the parameters hold a reference to the token, never the token
    assert os.environ["MLGATE_TOKEN"] not in params.model_dump_json()
    with prefect_test_harness(server_startup_timeout=120):
        summary = monitor_flow(params)

    assert summary.breach is True
    assert sorted((summary.drift or {})["drifted_columns"]) == sorted(DRIFTED_FEATURES)
    recorded = client.list_monitoring(spec.name)[0]
    assert recorded.json_uri == summary.json_uri
    assert recorded.details["window"]["rows"] == 2_000
