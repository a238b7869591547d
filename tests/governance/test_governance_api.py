"""The HTTP contract: problem details, idempotency, deduplication, client errors."""

from __future__ import annotations

import socket

import httpx
import pytest
from govtest import STORE, Gov, make_project, register_model, sha

from governance.client import GovernanceClient
from governance.errors import (
    GovernanceUnavailable,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
)


def _raw(gov: Gov) -> httpx.Client:
    token = gov.admin.create_token(gov.admin.whoami().name).token
    return httpx.Client(base_url=gov.url, headers={"Authorization": f"Bearer {token}"})


def test_not_found_is_problem_json(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    with _raw(gov) as http:
        response = http.get(f"/api/v1/projects/{s.project}/models/7")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["code"] == "not_found"
    assert body["title"] == "Not found"
    assert body["type"] == "urn:mlgate:problem:not_found"
    assert body["detail"] == f"model version {s.project}@7 not found"

    with pytest.raises(NotFound, match=f"model version {s.project}@7 not found") as exc:
        dev.get_model(s.project, 7)
    assert exc.value.code == "not_found"


def test_validation_error_is_problem_json_naming_the_field(gov: Gov) -> None:
    with _raw(gov) as http:
        response = http.post("/api/v1/projects", json={"name": "Bad Name!", "policy": {}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_input"
    assert "body.name" in body["detail"]
    assert [e["field"] for e in body["errors"]] == ["body.name"]

    with pytest.raises(InvalidInput, match=r"body\.policy\.required_approvals") as exc:
        gov.client("developer").create_project("good-name", policy={"required_approvals": 0})
    assert exc.value.code == "invalid_input"


def test_model_registration_is_idempotent(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    first = register_model(dev, s.project, s.dataset_version, idempotency_key="run-42")
    again = register_model(dev, s.project, s.dataset_version, idempotency_key="run-42")
    assert again == first
    assert [m.version for m in dev.list_models(s.project)] == [first.version, s.model_version]
    with pytest.raises(IdempotencyKeyReused, match="idempotency key run-42") as exc:
        register_model(
            dev, s.project, s.dataset_version, idempotency_key="run-42", metrics={"roc_auc": 0.1}
        )
    assert exc.value.code == "idempotency_key_reused"
    assert first.trained_by == dev.whoami().name


def test_same_content_hash_returns_the_existing_dataset(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    body = {
        "source": "file://applications.csv",
        "snapshot_uri": f"{STORE}/snapshots/snap.parquet",
        "content_hash": sha(s.project),
        "row_count": 1000,
        "contract_version": 1,
    }
    with _raw(gov) as http:
        response = http.post(f"/api/v1/projects/{s.project}/datasets", json=body)
    assert response.status_code == 200
    assert response.json()["version"] == s.dataset_version
    assert len(dev.list_datasets(s.project)) == 1


def test_ensure_project_updates_a_changed_policy(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    updated = dev.ensure_project(s.project, "x", {"metric_floors": {"roc_auc": 0.75}})
    assert updated.policy.metric_floors == {"roc_auc": 0.75}
    assert any(
        e.action == "project.policy_updated" and e.entity_id == s.project
        for e in gov.admin.audit_events()
    )
    with pytest.raises(NotFound, match="project nope-nope not found"):
        dev.current_stage("nope-nope")


def test_unreachable_service_raises_governance_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = GovernanceClient(f"http://127.0.0.1:{port}", "mlg_x", timeout=1)
    with client, pytest.raises(GovernanceUnavailable, match="cannot be reached") as exc:
        client.health()
    assert exc.value.code == "governance_unavailable"


def test_from_env_requires_url_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput, match="MLGATE_URL is not set"):
        GovernanceClient.from_env()
    monkeypatch.setenv("MLGATE_URL", "http://127.0.0.1:1")
    with pytest.raises(InvalidInput, match="MLGATE_TOKEN is not set"):
        GovernanceClient.from_env()
