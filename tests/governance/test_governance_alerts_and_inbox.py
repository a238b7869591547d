"""Alerts approvers must see, the inbox across projects, and the list of principals."""

from __future__ import annotations

import pytest
from govtest import Gov, make_project

from governance.errors import InvalidInput, NotFound, PermissionDenied


def test_an_alert_is_listed_audited_and_names_its_model(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    raised = dev.raise_alert(
        s.project,
        kind="model_load_failed",
        model_version=s.model_version,
        detail="artifact bytes do not match the approved sha256",
        source="prediction-server",
        idempotency_key="load-failed-1",
    )
    again = dev.raise_alert(
        s.project,
        kind="model_load_failed",
        model_version=s.model_version,
        detail="artifact bytes do not match the approved sha256",
        source="prediction-server",
        idempotency_key="load-failed-1",
    )
    assert again == raised  # one alert per failing version, however often it is raised
    listed = gov.client("viewer").list_alerts(s.project)
    assert [a.id for a in listed] == [raised.id] and listed.total == 1
    assert listed[0].raised_by == raised.raised_by and listed[0].kind == "model_load_failed"
    events = gov.admin.audit_events(action="monitoring.alert", entity_id=str(raised.id))
    assert [e.payload["detail"] for e in events] == [raised.detail]


def test_a_drift_breach_raises_an_alert_too(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev, policy={"max_drift_share": 0.3})
    dev.record_monitoring(
        s.project,
        model_version=s.model_version,
        drift_share=0.5,
        dataset_drift=False,
        drifted_columns=["age"],
    )
    (alert,) = dev.list_alerts(s.project, kind="drift_breach")
    assert alert.model_version == s.model_version
    assert alert.detail == "drift share 0.5 > limit 0.3"


@pytest.mark.parametrize(
    ("kind", "model_version", "problem"),
    [
        ("Model Load", None, InvalidInput),  # kind must be a slug
        ("model_load_failed", 999, NotFound),  # no such model version
        ("x" * 64, None, InvalidInput),
    ],
)
def test_a_bad_alert_is_refused_and_nothing_is_written(
    gov: Gov, kind: str, model_version: int | None, problem: type[Exception]
) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    with pytest.raises(problem):
        dev.raise_alert(s.project, kind=kind, detail="d", model_version=model_version)
    assert dev.list_alerts(s.project).total == 0
    with pytest.raises(PermissionDenied):
        gov.client("viewer").raise_alert(s.project, kind="model_load_failed", detail="d")


def test_the_inbox_lists_pending_requests_of_every_project_oldest_first(gov: Gov) -> None:
    dev = gov.client("developer")
    first, second = make_project(gov, dev), make_project(gov, dev)
    a = dev.request_promotion(first.project, first.model_version)
    b = dev.request_promotion(second.project, second.model_version)
    approver = gov.client("approver")
    pending = approver.list_all_promotion_requests(status="pending")
    ids = [r.id for r in pending]
    assert ids.index(a.id) < ids.index(b.id)
    only = approver.list_all_promotion_requests(project=second.project)
    assert [r.id for r in only] == [b.id] and only.total == 1
    by_prefix = approver.list_all_promotion_requests(id_prefix=str(b.id)[:8].upper())
    assert b.id in [r.id for r in by_prefix]
    dashed = approver.list_all_promotion_requests(id_prefix=str(b.id)[:13])
    assert [r.id for r in dashed] == [b.id]
    with pytest.raises(InvalidInput, match="id_prefix"):
        approver.list_all_promotion_requests(id_prefix="xyz!")
    approver.decide(b.id, "approve")
    assert b.id not in [r.id for r in approver.list_all_promotion_requests(status="pending")]


def test_principals_are_listed_for_admins_only(gov: Gov) -> None:
    viewer = gov.client("viewer", name="vera")
    names = [p.name for p in gov.admin.list_principals()]
    assert "vera" in names and names == sorted(names)
    assert all(p.role.value == "viewer" for p in gov.admin.list_principals(role="viewer"))
    with pytest.raises(PermissionDenied):
        viewer.list_principals()
