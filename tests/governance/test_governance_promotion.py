"""The promotion gate, end to end through the real server and client."""

from __future__ import annotations

import threading
import time

import pytest
from govtest import STORE, Gov, make_project, register_model

from governance.errors import Conflict, PermissionDenied


def test_promotion_needs_an_approver_other_than_the_requester(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    carol = gov.client("approver", name="carol-req")
    request = carol.request_promotion(s.project, s.model_version, comment="release 1")
    assert request.status == "pending"
    assert {c.name for c in request.checks} == {"validation_passed", "metric_floor:roc_auc"}
    assert all(c.passed for c in request.checks)

    with pytest.raises(PermissionDenied, match="separation of duties") as exc:
        carol.decide(request.id, "approve")
    assert exc.value.code == "permission_denied"
    assert str(exc.value) == (
        f"separation of duties: carol-req requested promotion request {request.id} "
        "and cannot decide it"
    )
    assert dev.current_stage(s.project) is None

    approver = gov.client("approver")
    decided = approver.decide(request.id, "approve", "looks good")
    assert decided.status == "approved"
    assert [d.decision for d in decided.decisions] == ["approve"]

    current = dev.current_stage(s.project, "production")
    assert current is not None
    assert current.model_version == s.model_version
    assert current.model.version == s.model_version
    assert current.request_id == request.id
    assert current.assigned_by == approver.whoami().name


def test_whoever_trained_the_model_cannot_approve_it(gov: Gov) -> None:
    trainer = gov.client("approver", name="tom-trainer")
    s = make_project(gov, trainer)
    request = gov.client("developer").request_promotion(s.project, s.model_version)
    with pytest.raises(PermissionDenied, match="separation of duties: tom-trainer trained") as exc:
        trainer.decide(request.id, "approve")
    assert exc.value.code == "permission_denied"


def test_second_promotion_replaces_the_first_and_keeps_history(gov: Gov) -> None:
    dev = gov.client("developer")
    approver = gov.client("approver")
    s = make_project(gov, dev)
    first = dev.request_promotion(s.project, s.model_version)
    approver.decide(first.id, "approve")
    second_model = register_model(dev, s.project, s.dataset_version, metrics={"roc_auc": 0.9})
    second = dev.request_promotion(s.project, second_model.version)
    approver.decide(second.id, "approve")

    current = dev.current_stage(s.project)
    assert current is not None and current.model_version == second_model.version
    history = dev.stage_history(s.project)
    assert [h.model_version for h in history] == [second_model.version, s.model_version]
    assert history[0].ended_at is None
    assert history[1].ended_at is not None and history[1].ended_reason == "replaced"

    with pytest.raises(Conflict, match="already promoted") as exc:
        dev.request_promotion(s.project, second_model.version)
    assert exc.value.code == "conflict"


def test_failed_metric_floor_blocks_the_request(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, metrics={"roc_auc": 0.6})
    request = dev.request_promotion(s.project, s.model_version)
    assert request.status == "blocked"
    floor = next(c for c in request.checks if c.name == "metric_floor:roc_auc")
    assert not floor.passed
    assert floor.detail == "roc_auc 0.6 < floor 0.7"
    assert "metric_floor:roc_auc" in request.detail

    with pytest.raises(Conflict, match=f"promotion request {request.id} is blocked") as exc:
        gov.client("approver").decide(request.id, "approve")
    assert exc.value.code == "conflict"
    assert dev.current_stage(s.project) is None


def test_unvalidated_data_and_drift_block_the_request(gov: Gov) -> None:
    dev = gov.client("developer")
    policy: dict[str, object] = {"require_validation": True, "max_drift_share": 0.2}
    s = make_project(gov, dev, policy=policy, validated=False)
    dev.record_monitoring(
        s.project,
        model_version=s.model_version,
        drift_share=0.5,
        dataset_drift=True,
        drifted_columns=["age", "region"],
        report_uri=f"{STORE}/reports/drift.html",
        json_uri=f"{STORE}/reports/drift.json",
        details={"columns": 14},
    )
    request = dev.request_promotion(s.project, s.model_version)
    assert request.status == "blocked"
    checks = {c.name: c for c in request.checks}
    assert not checks["validation_passed"].passed
    assert "validation is pending" in checks["validation_passed"].detail
    assert not checks["drift_limit"].passed
    assert checks["drift_limit"].detail == "latest drift share 0.5 > limit 0.2"


def test_missing_metric_fails_its_floor(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, metrics={"accuracy": 0.9})
    request = dev.request_promotion(s.project, s.model_version)
    assert request.status == "blocked"
    assert request.checks[-1].detail == "metric roc_auc missing"


def test_expired_request_cannot_be_approved(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"request_ttl_hours": 0.0002})  # 0.72 s
    request = dev.request_promotion(s.project, s.model_version)
    time.sleep(1.0)
    with pytest.raises(Conflict, match=f"promotion request {request.id} expired at") as exc:
        gov.client("approver").decide(request.id, "approve")
    assert exc.value.code == "conflict"
    assert dev.get_promotion_request(request.id).status == "expired"
    assert [r.id for r in dev.list_promotion_requests(s.project, status="expired")] == [request.id]
    actions = [e.action for e in gov.admin.audit_events()]
    assert "promotion_request.expired" in actions


def test_reject_and_double_decision(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"required_approvals": 2})
    request = dev.request_promotion(s.project, s.model_version)
    alice, bob = gov.client("approver"), gov.client("approver")
    assert alice.decide(request.id, "approve").status == "pending"
    with pytest.raises(Conflict, match="already decided") as exc:
        alice.decide(request.id, "approve")
    assert exc.value.code == "conflict"
    rejected = bob.decide(request.id, "reject", "not convinced")
    assert rejected.status == "rejected"
    assert dev.current_stage(s.project) is None


def test_two_approvals_needed(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"required_approvals": 2})
    request = dev.request_promotion(s.project, s.model_version)
    assert gov.client("approver").decide(request.id, "approve").status == "pending"
    assert dev.current_stage(s.project) is None
    assert gov.client("approver").decide(request.id, "approve").status == "approved"
    assert dev.current_stage(s.project) is not None


def test_racing_approvals_leave_one_production_model(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    models = [s.model_version] + [
        register_model(dev, s.project, s.dataset_version, algorithm=f"algo{i}").version
        for i in range(3)
    ]
    requests = [dev.request_promotion(s.project, v) for v in models]
    approvers = [gov.client("approver") for _ in requests]
    errors: list[Exception] = []
    barrier = threading.Barrier(len(requests))

    def approve(i: int) -> None:
        barrier.wait()
        try:
            approvers[i].decide(requests[i].id, "approve")
        except Exception as exc:  # collected and checked below
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    history = dev.stage_history(s.project, "production")
    assert len(history) == len(requests)
    assert len([h for h in history if h.ended_at is None]) == 1
    assert gov.admin.verify_audit().ok


def test_racing_registrations_get_distinct_versions(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    versions: list[int] = []
    barrier = threading.Barrier(6)

    def register(i: int) -> None:
        barrier.wait()
        versions.append(
            register_model(dev, s.project, s.dataset_version, algorithm=f"a{i}").version
        )

    threads = [threading.Thread(target=register, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(versions) == list(range(2, 8))
    assert gov.admin.verify_audit().ok
