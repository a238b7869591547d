"""Tampering with the audit trail as a database superuser is caught by verify.

The chain is built by real writes through the real service (uvicorn, HTTP client). Each
case then edits the rows directly — on PostgreSQL as the superuser, switching the
append-only triggers off as only the tables' owner can (``session_replication_role =
replica`` no longer skips them) — asks the service to verify, names the event, and puts
the rows back. On PostgreSQL the
service's own connection is refused by the database, and a role granted with
:func:`governance.db.grant_service_role` cannot even try.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from govtest import Gov, make_project, rand, triggers_bypassed
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from governance import chain
from governance.admin import bootstrap_admin
from governance.client import GovernanceClient
from governance.db import create_db_engine
from governance.models import AuditEvent, audit_head
from governance.server import serve_in_thread
from governance.services import audit

PG_ADMIN = "host=127.0.0.1 user=postgres dbname=test"
EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
HEAD = audit_head


def _pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    request.getfixturevalue("postgres_url")  # skips (or fails under CI) without PostgreSQL
    name = f"mlgate_tamper_{secrets.token_hex(5)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chain_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own (tampering must not disturb other tests' chains)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tamper.db'}"
        return
    for name in _pg_database(request):
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@dataclass
class Trail:
    gov: Gov
    superuser: sa.Engine
    rows: list[dict[str, Any]]
    head: dict[str, Any]

    def verify(self) -> tuple[int | None, str]:
        result = self.gov.admin.verify_audit()
        if result.ok:
            return None, ""
        assert result.first_broken is not None
        return result.first_broken.seq, result.first_broken.reason

    def restore(self) -> None:
        with self.superuser.begin() as conn, triggers_bypassed(conn):
            conn.execute(EVENTS.delete())
            conn.execute(EVENTS.insert(), self.rows)
            conn.execute(HEAD.update().values(**self.head))


def _superuser_engine(url: str) -> sa.Engine:
    """The database as its owner (on PostgreSQL the superuser the tests connect as)."""
    return create_db_engine(url)


@pytest.fixture
def trail(chain_url: str) -> Iterator[Trail]:
    with serve_in_thread(chain_url) as server:
        admin = GovernanceClient(server.url, bootstrap_admin(chain_url, name=rand("admin")))
        gov = Gov(server=server, database_url=chain_url, admin=admin)
        dev = gov.client("developer")
        setup = make_project(gov, dev)
        request = dev.request_promotion(setup.project, setup.model_version)
        gov.client("approver").decide(request.id, "approve")
        superuser = _superuser_engine(chain_url)
        with superuser.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(EVENTS.select().order_by("seq"))]
            head = dict(conn.execute(HEAD.select()).one()._mapping)
        assert len(rows) >= 8 and head["seq"] == rows[-1]["seq"]
        t = Trail(gov, superuser, rows, head)
        try:
            assert t.verify() == (None, "")
            yield t
            t.restore()
            assert t.verify() == (None, ""), "restoring the rows should give the chain back"
        finally:
            superuser.dispose()
            for client in [admin, *gov.clients]:
                client.close()


def _update(at: int, **values: Any) -> Callable[[sa.Connection], object]:
    return lambda conn: conn.execute(EVENTS.update().where(EVENTS.c.seq == at).values(**values))


def _tamper(trail: Trail, change: Callable[[sa.Connection], object]) -> tuple[int | None, str]:
    with trail.superuser.begin() as conn, triggers_bypassed(conn):
        change(conn)
    return trail.verify()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", {"approved_by": "mallory"}),
        ("actor", "mallory"),
        ("action", "model_version.deleted"),
        ("ts", "shift"),
    ],
)
def test_an_edited_event_is_named(trail: Trail, column: str, value: object) -> None:
    target = trail.rows[len(trail.rows) // 2]
    if value == "shift":
        value = target["ts"] + timedelta(seconds=1)
    seq, reason = _tamper(trail, _update(target["seq"], **{column: value}))
    assert seq == target["seq"]
    assert f"event {seq}" in reason and "edited" in reason


def test_a_deleted_event_is_named(trail: Trail) -> None:
    target = trail.rows[3]["seq"]
    seq, reason = _tamper(trail, lambda c: c.execute(EVENTS.delete().where(EVENTS.c.seq == target)))
    assert seq == target + 1
    assert f"expected event {target}" in reason and "deleted" in reason


def test_reordered_events_are_named(trail: Trail) -> None:
    a, b = trail.rows[2]["seq"], trail.rows[3]["seq"]

    def swap(conn: sa.Connection) -> None:
        _update(a, seq=-1)(conn)
        _update(b, seq=a)(conn)
        _update(-1, seq=b)(conn)

    seq, reason = _tamper(trail, swap)
    assert seq == a
    assert f"written as event {b}" in reason and "reordered" in reason


def test_a_truncated_tail_is_named(trail: Trail) -> None:
    last = trail.rows[-1]["seq"]
    seq, reason = _tamper(
        trail, lambda c: c.execute(EVENTS.delete().where(EVENTS.c.seq >= last - 1))
    )
    assert seq == last - 1
    assert "truncated" in reason and f"{last - 1}..{last}" in reason


def test_a_forged_event_after_the_tail_is_named(trail: Trail) -> None:
    last = trail.rows[-1]
    fields: dict[str, Any] = {
        "seq": last["seq"] + 1,
        "ts": last["ts"] + timedelta(seconds=1),
        "actor": "mallory",
        "action": "stage.assigned",
        "entity_type": "stage",
        "entity_id": "forged",
        "payload": {"stage": "production"},
        "prev_hash": last["hash"],
    }
    forged = {**fields, "hash": chain.event_hash(**fields)}
    seq, reason = _tamper(trail, lambda c: c.execute(EVENTS.insert(), [forged]))
    assert seq == last["seq"] + 1
    assert "beyond the chain head" in reason


def test_a_replaced_event_breaks_the_next_link(trail: Trail) -> None:
    target = trail.rows[4]
    fields = {k: target[k] for k in target if k != "hash"}
    fields["actor"] = "mallory"
    rehashed = chain.event_hash(**fields)  # consistent with itself, not with its successor
    seq, reason = _tamper(trail, _update(target["seq"], actor="mallory", hash=rehashed))
    assert seq == target["seq"] + 1
    assert f"event {target['seq']} replaced or forged" in reason


def test_a_consistent_rewrite_is_caught_by_the_pinned_head(trail: Trail) -> None:
    pinned = chain.Head(trail.head["seq"], trail.head["hash"])
    # Rewrite the whole history from event 2 on, recomputing every hash and the head:
    # what a superuser can do undetected inside the database.
    rewritten: list[dict[str, Any]] = []
    prev = trail.rows[0]["hash"]
    for row in trail.rows[1:]:
        fields = {k: row[k] for k in row if k != "hash"}
        fields["prev_hash"] = prev
        if row["seq"] == 2:
            fields["actor"] = "mallory"
        prev = chain.event_hash(**fields)
        rewritten.append({**fields, "hash": prev})

    def rewrite(conn: sa.Connection) -> None:
        conn.execute(EVENTS.delete().where(EVENTS.c.seq >= 2))
        conn.execute(EVENTS.insert(), rewritten)
        conn.execute(HEAD.update().values(seq=rewritten[-1]["seq"], hash=prev))

    assert _tamper(trail, rewrite) == (None, "")  # the database alone cannot tell
    with Session(trail.superuser) as session:
        result = audit.verify(session, expect_head=pinned)
    assert not result.ok and result.first_broken is not None
    assert result.first_broken.seq == pinned.seq
    assert "history rewritten" in result.first_broken.reason


def test_an_export_verifies_offline_and_its_tampering_is_named(trail: Trail) -> None:
    exported = [e.model_dump(mode="json") for e in trail.gov.admin.audit_events()]
    head = chain.Head(exported[-1]["seq"], exported[-1]["hash"])
    assert chain.verify_records(exported, expect_head=head).ok
    exported[2]["payload"] = {"tampered": True}
    broken = chain.verify_records(exported).first_broken
    assert broken is not None and broken.seq == exported[2]["seq"]
    assert not chain.verify_records(exported[:-1], expect_head=head).ok  # cut short


def test_the_service_connection_cannot_rewrite_the_trail(trail: Trail) -> None:
    service = create_db_engine(trail.gov.database_url)  # as the service connects
    statements = [
        "UPDATE audit_event SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_event WHERE seq = 2",
        "DELETE FROM audit_event",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = seq - 1",
        "UPDATE audit_head SET seq = seq + 1",  # ahead of the chain: no such event
        "UPDATE audit_head SET hash = 'forged'",
    ]
    if service.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_event")
    try:
        for statement in statements:
            with pytest.raises(sa.exc.DBAPIError) as refused, service.begin() as conn:
                conn.exec_driver_sql(statement)
            message = str(refused.value.orig)
            assert "append-only" in message or "audit_head" in message, message
    finally:
        service.dispose()
    assert trail.verify() == (None, "")


@pytest.mark.postgres
def test_a_granted_service_role_runs_the_service_but_cannot_tamper(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from governance.cli import app as governance_app
    from governance.config import get_settings

    role = f"mlgate_svc_{secrets.token_hex(4)}"
    for name in _pg_database(request):
        owner_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        owner = create_db_engine(owner_url)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
        monkeypatch.setenv("MLGATE_DATABASE_URL", owner_url)
        get_settings.cache_clear()
        try:
            runner = CliRunner()
            missing = runner.invoke(governance_app, ["grant-service-role", f"{role}_missing"])
            assert missing.exit_code == 1
            assert f"{role}_missing" in missing.output and "does not exist" in missing.output
            token = bootstrap_admin(owner_url, name="admin")
            granted = runner.invoke(governance_app, ["grant-service-role", role])
            assert granted.exit_code == 0, granted.output
            assert role in granted.output
            service_url = f"postgresql+psycopg://{role}@127.0.0.1:5432/{name}"
            with serve_in_thread(service_url) as server:
                admin = GovernanceClient(server.url, token)
                gov = Gov(server=server, database_url=service_url, admin=admin)
                make_project(gov, gov.client("developer"))
                assert admin.verify_audit().ok
                admin.close()
            service = create_db_engine(service_url)
            for statement in (
                "UPDATE audit_event SET actor = 'mallory' WHERE seq = 1",
                "DELETE FROM audit_event WHERE seq = 1",
                "TRUNCATE audit_event",
                "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
                "SET session_replication_role = replica",
            ):
                with pytest.raises(sa.exc.DBAPIError) as refused, service.begin() as conn:
                    conn.exec_driver_sql(statement)
                assert "permission denied" in str(refused.value.orig) or "must be owner" in str(
                    refused.value.orig
                )
            service.dispose()
        finally:
            owner.dispose()
            get_settings.cache_clear()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_cli_pins_the_head_and_verifies_an_export_offline(
    trail: Trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mlgate.commands.governance import audit_app

    token = trail.gov.admin.create_token(trail.gov.admin.whoami().name).token
    for var in ("MLGATE_URL", "MLGATE_GOVERNANCE_URL"):
        monkeypatch.setenv(var, trail.gov.url)
    monkeypatch.setenv("MLGATE_TOKEN", token)
    runner = CliRunner()
    ok = runner.invoke(audit_app, ["verify"])
    assert ok.exit_code == 0, ok.output
    head = ok.output.split("head ", 1)[1].split()[0]
    seq, hash_ = head.split(":")
    assert int(seq) >= len(trail.rows) and len(hash_) == 64

    out = tmp_path / "audit.jsonl"
    assert runner.invoke(audit_app, ["export", "--out", str(out)]).exit_code == 0
    offline = runner.invoke(audit_app, ["verify", "--file", str(out), "--expect-head", head])
    assert offline.exit_code == 0, offline.output
    assert runner.invoke(audit_app, ["verify", "--expect-head", head]).exit_code == 0

    forged = f"{seq}:{'f' * 64}"
    rewritten = runner.invoke(audit_app, ["verify", "--expect-head", forged])
    assert rewritten.exit_code == 1
    assert f"event {seq}" in rewritten.output and "pinned head" in rewritten.output
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-1]) + "\n")  # the export cut short
    cut = runner.invoke(audit_app, ["verify", "--file", str(out), "--expect-head", head])
    assert cut.exit_code == 1 and f"event {seq}" in cut.output
    bad = runner.invoke(audit_app, ["verify", "--expect-head", "12:nothex"])
    assert bad.exit_code == 2 and "SEQ:HASH" in bad.output


@pytest.mark.postgres
def test_replication_mode_no_longer_skips_the_append_only_triggers(
    request: pytest.FixtureRequest,
) -> None:
    url: str = request.getfixturevalue("postgres_url")
    from governance.migrations import upgrade

    engine = create_db_engine(url)
    upgrade(engine)
    replica = sa.create_engine(
        url, connect_args={"options": "-c session_replication_role=replica"}, poolclass=NullPool
    )
    try:
        for statement in (
            "UPDATE audit_event SET actor = 'mallory'",
            "DELETE FROM audit_event",
            "DELETE FROM audit_head",
            "UPDATE audit_head SET seq = seq + 5",
        ):
            with pytest.raises(sa.exc.DBAPIError) as refused, replica.begin() as conn:
                conn.exec_driver_sql(statement)
            assert "audit_" in str(refused.value.orig), statement
    finally:
        replica.dispose()
        engine.dispose()
