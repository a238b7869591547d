"""Idempotency keys, ETags, pagination and filters, rollback, lineage and drift alerts.

All through the real server (uvicorn in a thread) and the client, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from govtest import STORE, Gov, make_project, register_model, sha
from typer.testing import CliRunner

from governance.db import create_db_engine
from governance.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    PermissionDenied,
    PreconditionFailed,
    SecretNotReplayable,
)
from governance.schemas import DatasetVersionPublic, MonitoringResultPublic
from governance.services.resume import ResumeNotifier
from governance.services.sweeper import ExpirySweeper
from mlgate.cli import app as cli_app


def _http(gov: Gov, token: str) -> httpx.Client:
    return httpx.Client(base_url=gov.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _token(gov: Gov, role: str) -> tuple[str, str]:
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    _, token = gov.admin.create_principal(name, role)
    return name, token


def _flat(output: str) -> str:
    # Rich wraps long lines to the terminal's width.
    return " ".join(output.split())


def _events(gov: Gov, action: str, entity_id: str | None = None) -> list[object]:
    return list(gov.admin.audit_events(action=action, entity_id=entity_id))


# --------------------------------------------------------------------------- idempotency


def test_a_repeated_post_replays_the_first_answer_without_a_second_write(gov: Gov) -> None:
    name, token = _token(gov, "developer")
    s = make_project(gov, gov.client("developer"))
    body = {"model_version": s.model_version, "stage": "production", "comment": "r1"}
    path = f"/api/v1/projects/{s.project}/promotion-requests"
    with _http(gov, token) as http:
        first = http.post(path, json=body, headers={"Idempotency-Key": "req-1"})
        again = http.post(path, json=body, headers={"Idempotency-Key": "req-1"})
        other = http.post(path, json=body | {"comment": "r2"}, headers={"Idempotency-Key": "req-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(gov.admin.list_promotion_requests(s.project)) == 1
    assert len(_events(gov, "promotion_request.created", first.json()["id"])) == 1

    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["detail"] == (
        f"idempotency key req-1 was already used by {name} for a different request (POST {path})"
    )


def test_every_post_of_the_client_takes_an_idempotency_key(gov: Gov) -> None:
    dev = gov.client("developer")
    approver = gov.client("approver")
    project = gov.admin.create_project("idem-" + uuid.uuid4().hex[:6], idempotency_key="p")
    with pytest.raises(Conflict, match="already exists"):  # keys belong to their principal
        dev.create_project(project.name, idempotency_key="p")
    with pytest.raises(Conflict, match="already exists"):
        gov.admin.create_project(project.name, idempotency_key="p2")
    assert gov.admin.create_project(project.name, idempotency_key="p") == project

    def dataset() -> DatasetVersionPublic:
        return dev.register_dataset(
            project.name,
            source="file://a.csv",
            snapshot_uri=f"{STORE}/snapshots/snap.parquet",
            content_hash=sha(project.name),
            row_count=10,
            contract_version=1,
            idempotency_key="d",
        )

    def validate(version: int) -> DatasetVersionPublic:
        return dev.record_validation(
            project.name, version, passed=True, summary={}, idempotency_key="v"
        )

    def monitor(version: int) -> MonitoringResultPublic:
        return dev.record_monitoring(
            project.name,
            model_version=version,
            drift_share=0.1,
            dataset_drift=False,
            drifted_columns=[],
            idempotency_key="mon",
        )

    ds = dataset()
    assert dataset() == ds
    assert validate(ds.version) == validate(ds.version)
    model = register_model(dev, project.name, ds.version, idempotency_key="m")
    req = dev.request_promotion(project.name, model.version, idempotency_key="r")
    assert dev.request_promotion(project.name, model.version, idempotency_key="r") == req
    decided = approver.decide(req.id, "approve", idempotency_key="a")
    assert approver.decide(req.id, "approve", idempotency_key="a") == decided
    assert monitor(model.version) == monitor(model.version)
    assert len(dev.list_monitoring(project.name)) == 1

    # One event per write, however many times each POST was repeated.
    for action, count in (
        ("project.created", 1),
        ("dataset_version.registered", 1),
        ("dataset_version.validated", 1),
        ("promotion_request.created", 1),
        ("promotion_request.decided", 1),
        ("stage.assigned", 1),
        ("monitoring_result.recorded", 1),
    ):
        mine = [
            e
            for e in gov.admin.audit_events(action=action)
            if project.name in json.dumps(e.payload) + e.entity_id or e.entity_id == str(req.id)
        ]
        assert len(mine) == count, action

    # A token is shown once: repeating its creation cannot replay it.
    name = "svc-" + uuid.uuid4().hex[:6]
    _, token = gov.admin.create_principal(name, "developer", idempotency_key="pr")
    assert token.startswith("mlg_")
    with pytest.raises(SecretNotReplayable, match="shown only once") as exc:
        gov.admin.create_principal(name, "developer", idempotency_key="pr")
    assert exc.value.code == "secret_not_replayable"
    created = gov.admin.create_token(name, idempotency_key="tok")
    with pytest.raises(SecretNotReplayable):
        gov.admin.create_token(name, idempotency_key="tok")
    assert created.token not in json.dumps([e.payload for e in gov.admin.audit_events()])


# --------------------------------------------------------------------------- ETag / If-Match


def test_a_stale_policy_update_is_refused_with_412(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    _, token = _token(gov, "developer")
    with _http(gov, token) as http:
        read = http.get(f"/api/v1/projects/{s.project}")
        etag = read.headers["ETag"]
        assert etag == f'"{read.json()["revision"]}"'
        policy = {"required_approvals": 2}
        url = f"/api/v1/projects/{s.project}/policy"
        missing = http.put(url, json=policy)
        assert missing.status_code == 428
        assert missing.json()["code"] == "precondition_required"
        ok = http.put(url, json=policy, headers={"If-Match": etag})
        assert ok.status_code == 200
        assert ok.headers["ETag"] != etag
        stale = http.put(url, json={"required_approvals": 3}, headers={"If-Match": etag})
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        assert stale.json()["code"] == "precondition_failed"
        assert "its policy changed since it was read" in stale.json()["detail"]
        bad = http.put(url, json=policy, headers={"If-Match": "yesterday"})
        assert bad.status_code == 422 and "If-Match" in bad.json()["detail"]
    assert dev.get_project(s.project).policy.required_approvals == 2

    with pytest.raises(PreconditionFailed, match=f"project {s.project} is at revision") as exc:
        dev.update_policy(s.project, {"required_approvals": 1}, if_match=1)
    assert exc.value.code == "precondition_failed"
    # ensure_project reads the ETag and sends it back; None overwrites (If-Match: *).
    assert dev.ensure_project(s.project, "", {"required_approvals": 1}).revision == 3
    assert dev.update_policy(s.project, {"required_approvals": 2}).revision == 4


def test_a_decision_on_a_request_that_changed_since_it_was_read_is_refused(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"required_approvals": 2})
    seen = dev.request_promotion(s.project, s.model_version)
    gov.client("approver").decide(seen.id, "approve")
    late = gov.client("approver")
    with pytest.raises(PreconditionFailed, match="changed since it was read") as exc:
        late.decide(seen.id, "reject", if_match=seen.revision)
    assert exc.value.code == "precondition_failed"
    fresh = late.get_promotion_request(seen.id)
    assert late.decide(seen.id, "approve", if_match=fresh.revision).status == "approved"


# --------------------------------------------------------------------------- lists


def test_lists_are_paginated_with_a_total_and_filtered(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    for i in range(4):
        register_model(dev, s.project, s.dataset_version, algorithm="logreg" if i % 2 else "gbm")
    all_models = dev.list_models(s.project)
    assert all_models.total == 5 and len(all_models) == 5
    page = dev.list_models(s.project, limit=2, offset=2)
    assert [m.version for m in page] == [3, 2] and page.total == 5
    assert {m.version for m in dev.list_models(s.project, algorithm="logreg")} == {3, 5}
    assert dev.list_models(s.project, trained_by="nobody").total == 0
    newest = all_models[0].created_at
    assert [m.version for m in dev.list_models(s.project, created_after=newest)] == []
    before = dev.list_models(s.project, created_before=newest + timedelta(microseconds=1))
    assert before.total == 5
    assert dev.list_models(s.project, stage="production").total == 0
    request = dev.request_promotion(s.project, 4)
    gov.client("approver").decide(request.id, "approve")
    assert [m.version for m in dev.list_models(s.project, stage="production")] == [4]

    assert dev.list_promotion_requests(s.project, "approved", stage="production").total == 1
    assert dev.list_promotion_requests(s.project, stage="staging").total == 0
    assert dev.list_datasets(s.project, validation_status="passed").total == 1
    assert dev.list_datasets(s.project, validation_status="failed").total == 0
    events = gov.admin.audit_events(action="stage.assigned", actor=request.requested_by)
    assert events.total == 0
    assigned = gov.admin.audit_events(action="stage.assigned", entity_type="stage_assignment")
    assert any(e.payload["project"] == s.project for e in assigned)
    assert all(e.action == "stage.assigned" for e in assigned)

    with pytest.raises(InvalidInput, match=r"query\.stage") as exc:
        dev.list_models(s.project, stage="heaven")
    assert exc.value.code == "invalid_input"
    with pytest.raises(InvalidInput, match=r"query\.limit"):
        dev.list_models(s.project, limit=1001)
    with pytest.raises(InvalidInput, match=r"query\.validation_status"):
        dev.list_datasets(s.project, validation_status="maybe")
    _, token = _token(gov, "viewer")
    with _http(gov, token) as http:
        r = http.get(f"/api/v1/projects/{s.project}/models", params={"created_after": "soon"})
    assert r.status_code == 422 and "query.created_after" in r.json()["detail"]


# --------------------------------------------------------------------------- rollback


def _promote(gov: Gov, dev_project: tuple[object, str], version: int) -> None:
    dev, project = dev_project
    request = dev.request_promotion(project, version)  # type: ignore[attr-defined]
    gov.client("approver").decide(request.id, "approve")


def test_rollback_restores_the_previous_model_and_walks_back(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    v2 = register_model(dev, s.project, s.dataset_version, algorithm="b").version
    v3 = register_model(dev, s.project, s.dataset_version, algorithm="c").version
    ops = gov.client("approver")
    with pytest.raises(Conflict, match="nothing to roll back: no model version") as exc:
        ops.rollback(s.project)
    assert exc.value.code == "conflict"
    for version in (s.model_version, v2, v3):
        _promote(gov, (dev, s.project), version)

    with pytest.raises(PermissionDenied, match="needs approver"):
        dev.rollback(s.project)
    done = ops.rollback(s.project, comment="v3 scores badly")
    assert (done.from_model_version, done.to_model_version) == (v3, v2)
    assert done.ended.ended_reason == "rolled_back"
    current = dev.current_stage(s.project)
    assert current is not None and current.model_version == v2
    assert current.restores_id is not None
    again = ops.rollback(s.project)
    assert (again.from_model_version, again.to_model_version) == (v2, s.model_version)
    with pytest.raises(Conflict, match=f"{s.project}@{s.model_version} is the first"):
        ops.rollback(s.project)

    history = dev.stage_history(s.project, "production")
    assert [h.model_version for h in history] == [s.model_version, v2, v3, v2, s.model_version]
    assert [h.ended_at is None for h in history] == [True, False, False, False, False]
    events = gov.admin.audit_events(action="stage.rolled_back")
    mine = [e for e in events if e.payload["project"] == s.project]
    assert [(e.payload["from_model_version"], e.payload["to_model_version"]) for e in mine] == [
        (v3, v2),
        (v2, s.model_version),
    ]
    assert mine[0].payload["comment"] == "v3 scores badly"
    assert gov.admin.verify_audit().ok


def test_rollback_cli(gov: Gov, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    v2 = register_model(dev, s.project, s.dataset_version, algorithm="b").version
    _promote(gov, (dev, s.project), s.model_version)
    _promote(gov, (dev, s.project), v2)
    _, token = _token(gov, "approver")
    monkeypatch.setenv("MLGATE_GOVERNANCE_URL", gov.url)
    monkeypatch.setenv("MLGATE_TOKEN", token)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["rollback", s.project, "--stage", "production"])
    assert result.exit_code == 0, result.output
    assert f"rolled back from model version {v2} to {s.model_version}" in _flat(result.output)
    result = runner.invoke(cli_app, ["rollback", s.project])
    assert result.exit_code == 1
    assert "error conflict: nothing to roll back to" in _flat(result.output)


# --------------------------------------------------------------------------- lineage


def test_lineage_answers_data_validation_approvals_and_stages(
    gov: Gov, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    alice = gov.client("approver")
    blocked_then = dev.request_promotion(s.project, s.model_version, comment="first try")
    alice.decide(blocked_then.id, "reject", "wait for more data")
    approved = dev.request_promotion(s.project, s.model_version)
    alice.decide(approved.id, "approve", "ok now")
    v2 = register_model(dev, s.project, s.dataset_version, algorithm="b").version
    _promote(gov, (dev, s.project), v2)

    lin = gov.client("viewer").lineage(s.project, s.model_version)
    assert lin.model.version == s.model_version
    assert lin.trained_by == dev.whoami().name and lin.code_version == "0.1.0"
    (data,) = lin.datasets
    assert data.version == s.dataset_version and data.source == "file://applications.csv"
    assert data.content_hash == sha(s.project) and data.row_count == 1000
    assert data.contract_version == 1 and data.validation_status == "passed"
    assert [r.status for r in lin.promotion_requests] == ["rejected", "approved"]
    assert lin.promotion_requests[0].decisions[0].comment == "wait for more data"
    assert lin.promotion_requests[1].decisions[0].principal == alice.whoami().name
    assert {c.name for c in lin.promotion_requests[1].checks} == {
        "validation_passed",
        "metric_floor:roc_auc",
    }
    (held,) = lin.stage_history
    assert held.stage == "production" and held.ended_reason == "replaced"
    assert held.ended_at is not None and held.ended_at >= held.assigned_at

    _, token = _token(gov, "viewer")
    monkeypatch.setenv("MLGATE_URL", gov.url)
    monkeypatch.setenv("MLGATE_TOKEN", token)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["lineage", f"{s.project}@{s.model_version}", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["datasets"][0]["content_hash"] == sha(s.project)
    text = runner.invoke(cli_app, ["lineage", f"{s.project}@{s.model_version}"])
    assert text.exit_code == 0, text.output
    flat = _flat(text.output)
    assert "validation passed" in flat and "wait for more data" in flat
    assert "Stage history" in flat
    bad = runner.invoke(cli_app, ["lineage", "no-version"])
    assert bad.exit_code == 2 and "PROJECT@VERSION" in bad.output


# --------------------------------------------------------------------------- alerts


def test_a_drift_breach_is_audited_as_an_alert(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"max_drift_share": 0.3})
    calm = dict(model_version=s.model_version, drifted_columns=["age"], dataset_drift=False)
    dev.record_monitoring(s.project, drift_share=0.1, **calm)  # type: ignore[arg-type]
    ref = f"{s.project}@{s.model_version}"
    assert _events(gov, "monitoring.alert", ref) == []
    dev.record_monitoring(s.project, drift_share=0.4, **calm)  # type: ignore[arg-type]
    dev.record_monitoring(
        s.project,
        model_version=s.model_version,
        drift_share=0.2,
        dataset_drift=True,
        drifted_columns=["income", "region"],
    )
    alerts = gov.admin.audit_events(action="monitoring.alert", entity_id=ref)
    assert [a.payload["reasons"] for a in alerts] == [
        ["drift share 0.4 > limit 0.3"],
        ["dataset drift detected"],
    ]
    assert alerts[1].payload["drifted_columns"] == ["income", "region"]
    assert alerts[1].payload["model_version"] == s.model_version
    recorded = gov.admin.audit_events(action="monitoring_result.recorded")
    assert (
        alerts[1].seq
        == next(
            e.seq for e in recorded if e.entity_id == str(alerts[1].payload["monitoring_result"])
        )
        + 1
    )
    assert dev.list_monitoring(s.project, dataset_drift=True).total == 1


def test_idempotency_key_is_scoped_to_the_principal(gov: Gov) -> None:
    a, b = gov.client("developer"), gov.client("developer")
    s = make_project(gov, a)
    first = a.request_promotion(s.project, s.model_version, idempotency_key="same")
    with pytest.raises(IdempotencyKeyReused):
        a.request_promotion(s.project, s.model_version, stage="staging", idempotency_key="same")
    second = b.request_promotion(s.project, s.model_version, idempotency_key="same")
    assert second.id != first.id


def test_values_no_column_can_hold_are_refused_naming_where(gov: Gov) -> None:
    # Found by fuzzing: on PostgreSQL these reached the database and failed there (500).
    _, token = _token(gov, "admin")
    with _http(gov, token) as http:
        seq = http.get("/api/v1/audit/events", params={"after_seq": 2**40})
        tok = http.delete(f"/api/v1/tokens/{2**50}")
        actor = http.get("/api/v1/audit/events", params={"actor": "a\x00b"})
        body = http.post("/api/v1/projects", json={"name": "nul-test", "description": "a\x00"})
    assert seq.status_code == 422 and "query.after_seq" in seq.json()["detail"]
    assert tok.status_code == 422 and "path.token_id" in tok.json()["detail"]
    assert actor.status_code == 422
    assert actor.json()["detail"] == "query.actor: NUL characters are not allowed"
    assert body.status_code == 422
    assert body.json()["detail"] == "body.description: NUL characters are not allowed"


def test_idempotent_answers_are_forgotten_after_the_retention(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    first = dev.request_promotion(s.project, s.model_version, idempotency_key="k")
    engine = create_db_engine(gov.database_url)
    notifier = ResumeNotifier(engine, None)
    try:
        sweeper = ExpirySweeper(engine, notifier, 3600, idempotency_retention=timedelta(hours=1))
        assert sweeper.purge_idempotency() == 0  # younger than the retention: kept
        assert dev.request_promotion(s.project, s.model_version, idempotency_key="k") == first
        sweeper = ExpirySweeper(engine, notifier, 3600, idempotency_retention=timedelta(0))
        assert sweeper.purge_idempotency() >= 1
    finally:
        notifier.close()
        engine.dispose()
    again = dev.request_promotion(s.project, s.model_version, idempotency_key="k")
    assert again.id != first.id  # the key is free again: a new request
