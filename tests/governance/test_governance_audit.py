"""The audit chain: every write leaves an event; edits and deletions are caught."""

from __future__ import annotations

import itertools
import json

import pytest
import sqlalchemy as sa
from govtest import Gov, make_project, triggers_bypassed
from typer.testing import CliRunner

from mlgate.commands.governance import audit_app


def _as_text(payload: object) -> str:
    # SQLite hands JSON back as text, PostgreSQL as Python objects.
    return payload if isinstance(payload, str) else json.dumps(payload)


def _superuser(gov: Gov) -> sa.Engine:
    """The database as its owner, who may switch the append-only triggers off."""
    return gov.engine()


def _tamper_payload(gov: Gov, seq: int) -> None:
    with _superuser(gov).begin() as conn, triggers_bypassed(conn):
        conn.execute(
            sa.text("UPDATE audit_event SET payload = :p WHERE seq = :s"),
            {"p": json.dumps({"tampered": True}), "s": seq},
        )


def test_every_write_is_audited_and_the_chain_verifies(gov: Gov) -> None:
    dev = gov.client("developer")
    s = make_project(gov, dev)
    approver = gov.client("approver")
    request = dev.request_promotion(s.project, s.model_version)
    approver.decide(request.id, "approve")

    events = gov.admin.audit_events()
    actions = [e.action for e in events if e.entity_id.startswith(s.project)] + [
        e.action for e in events if e.entity_type in ("project", "promotion_request")
    ]
    for action in (
        "project.created",
        "dataset_version.registered",
        "dataset_version.validated",
        "model_version.registered",
        "promotion_request.created",
        "promotion_request.decided",
    ):
        assert action in actions
    assert any(e.action == "stage.assigned" and e.payload["project"] == s.project for e in events)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))

    result = gov.admin.verify_audit()
    assert result.ok and result.events_checked == len(events) and result.first_broken is None


def test_an_edited_event_is_caught(gov: Gov) -> None:
    make_project(gov, gov.client("developer"))
    events = gov.admin.audit_events()
    target = events[len(events) // 2]
    with _superuser(gov).connect() as conn:
        original = conn.execute(
            sa.text("SELECT payload FROM audit_event WHERE seq = :s"), {"s": target.seq}
        ).scalar_one()
    _tamper_payload(gov, target.seq)
    try:
        result = gov.admin.verify_audit()
        assert not result.ok
        assert result.first_broken is not None
        assert result.first_broken.seq == target.seq
        assert "edited" in result.first_broken.reason
        assert result.events_checked == target.seq
    finally:
        with _superuser(gov).begin() as conn, triggers_bypassed(conn):
            conn.execute(
                sa.text("UPDATE audit_event SET payload = :p WHERE seq = :s"),
                {
                    "p": _as_text(original),
                    "s": target.seq,
                },
            )
    assert gov.admin.verify_audit().ok


def test_a_deleted_event_is_caught(gov: Gov) -> None:
    make_project(gov, gov.client("developer"))
    events = gov.admin.audit_events()
    target = events[-3]
    columns = "seq, ts, actor, action, entity_type, entity_id, payload, prev_hash, hash"
    with _superuser(gov).connect() as conn:
        row = conn.execute(
            sa.text(f"SELECT {columns} FROM audit_event WHERE seq = :s"), {"s": target.seq}
        ).one()
    with _superuser(gov).begin() as conn, triggers_bypassed(conn):
        conn.execute(sa.text("DELETE FROM audit_event WHERE seq = :s"), {"s": target.seq})
    try:
        result = gov.admin.verify_audit()
        assert not result.ok and result.first_broken is not None
        assert result.first_broken.seq == target.seq + 1
        assert result.first_broken.reason.startswith(f"sequence gap: expected event {target.seq}")
    finally:
        values = dict(row._mapping)
        values["payload"] = _as_text(values["payload"])
        params = ", ".join(f":{c.strip()}" for c in columns.split(","))
        with _superuser(gov).begin() as conn, triggers_bypassed(conn):
            conn.execute(sa.text(f"INSERT INTO audit_event ({columns}) VALUES ({params})"), values)
    assert gov.admin.verify_audit().ok


def test_cli_verify_names_the_broken_event(gov: Gov, monkeypatch: pytest.MonkeyPatch) -> None:
    token = gov.admin.create_token(gov.admin.whoami().name).token
    monkeypatch.setenv("MLGATE_URL", gov.url)
    monkeypatch.setenv("MLGATE_TOKEN", token)
    runner = CliRunner()
    ok = runner.invoke(audit_app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact" in ok.output

    seq = gov.admin.audit_events()[-1].seq
    with _superuser(gov).connect() as conn:
        original = conn.execute(
            sa.text("SELECT actor FROM audit_event WHERE seq = :s"), {"s": seq}
        ).scalar_one()
    with _superuser(gov).begin() as conn, triggers_bypassed(conn):
        conn.execute(sa.text("UPDATE audit_event SET actor = 'mallory' WHERE seq = :s"), {"s": seq})
    try:
        broken = runner.invoke(audit_app, ["verify"])
        assert broken.exit_code == 1
        assert f"event {seq}" in broken.output
        assert token not in broken.output
    finally:
        with _superuser(gov).begin() as conn, triggers_bypassed(conn):
            conn.execute(
                sa.text("UPDATE audit_event SET actor = :a WHERE seq = :s"),
                {"a": original, "s": seq},
            )
