"""One unit of work per write: rows and audit events land together or not at all, work
after commit runs only once the transaction is durable, concurrent repeats of one
idempotent POST register once; on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from govtest import Gov, make_project, rand, register_model

from governance import chain
from governance.db import create_db_engine
from governance.migrations import upgrade
from governance.models import AuditEvent, Project
from governance.schemas import ProjectCreate
from governance.services import principals, projects
from governance.store import projects as project_rows
from governance.store.uow import Database


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = create_db_engine(database_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def _count(engine: sa.Engine, table: type, **where: str) -> int:
    columns = table.__table__.c  # type: ignore[attr-defined]
    statement = sa.select(sa.func.count()).select_from(table.__table__)  # type: ignore[attr-defined]
    for name, value in where.items():
        statement = statement.where(columns[name] == value)
    with engine.connect() as conn:
        return int(conn.execute(statement).scalar_one())


def test_rows_and_audit_events_land_together_or_not_at_all(engine: sa.Engine) -> None:
    db = Database.open(engine)
    try:
        admin = principals.bootstrap_admin(db, name=rand("admin"))
        actor = principals.authenticate(db.session, admin.token)
        db.session.rollback()  # end the read (SQLite: it holds the write lock)
        events_before = _count(engine, AuditEvent)
        name = rand("uow")
        ran: list[str] = []
        with pytest.raises(RuntimeError, match="boom"), db.unit_of_work() as uow:
            project_rows.insert(
                uow.session, name=name, description="", policy={}, created_by=actor.name
            )
            uow.audit(actor.name, "project.created", "project", name)
            uow.after_commit(lambda: ran.append("callback"))
            raise RuntimeError("boom")  # before the commit: nothing may remain
        assert _count(engine, Project, name=name) == 0
        assert _count(engine, AuditEvent) == events_before
        assert ran == []

        created = projects.create_project(db, actor=actor, body=ProjectCreate(name=name))
        assert created.name == name
        assert _count(engine, Project, name=name) == 1
        assert _count(engine, AuditEvent, action="project.created", entity_id=name) == 1
    finally:
        db.close()


def test_work_after_commit_sees_a_durable_transaction_and_runs_once(engine: sa.Engine) -> None:
    db = Database.open(engine)
    seen: list[int] = []
    name = rand("uow")
    try:
        admin = principals.bootstrap_admin(db, name=rand("admin"))
        actor = principals.authenticate(db.session, admin.token)
        db.session.rollback()  # end the read (SQLite: it holds the write lock)
        with db.unit_of_work() as uow:
            project_rows.insert(
                uow.session, name=name, description="", policy={}, created_by=actor.name
            )
            uow.audit(actor.name, "project.created", "project", name)
            # Another connection: only a committed transaction is visible there.
            uow.after_commit(lambda: seen.append(_count(engine, Project, name=name)))
            assert seen == []
            uow.commit()
            with pytest.raises(RuntimeError, match="commits once"):
                uow.commit()
        assert seen == [1]
    finally:
        db.close()


def test_a_failing_after_commit_callback_does_not_undo_the_commit(engine: sa.Engine) -> None:
    db = Database.open(engine)
    name = rand("uow")
    try:
        admin = principals.bootstrap_admin(db, name=rand("admin"))
        actor = principals.authenticate(db.session, admin.token)
        db.session.rollback()  # end the read (SQLite: it holds the write lock)
        with db.unit_of_work() as uow:
            project_rows.insert(
                uow.session, name=name, description="", policy={}, created_by=actor.name
            )
            uow.audit(actor.name, "project.created", "project", name)

            def fail() -> None:
                raise RuntimeError("callback failed")

            uow.after_commit(fail)
            uow.commit()
        assert _count(engine, Project, name=name) == 1
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(AuditEvent.__table__))]  # type: ignore[attr-defined]
        assert chain.verify_records(sorted(rows, key=lambda r: r["seq"])).ok
    finally:
        db.close()


def test_concurrent_repeats_of_one_idempotent_registration_register_once(gov: Gov) -> None:
    dev = gov.client("developer")
    setup = make_project(gov, dev)
    answers: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def register() -> None:
        start.wait()
        try:
            model = register_model(
                dev, setup.project, setup.dataset_version, idempotency_key="same-run"
            )
            answers.append(model.version)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Every caller got the one version, or was told to retry while the winner committed.
    assert all(getattr(e, "code", "") == "conflict" for e in errors), errors
    assert answers and len(set(answers)) == 1
    versions = [m.version for m in dev.list_models(setup.project)]
    assert versions == [answers[0], setup.model_version]


def test_importing_the_client_loads_no_table_and_no_database_layer() -> None:
    probe = (
        "import sys, governance.client\n"
        "bad = sorted(m for m in sys.modules if m.startswith(("
        "'governance.models', 'governance.db', 'governance.store', 'governance.services',"
        " 'governance.migrations', 'governance.api', 'governance.main', 'alembic')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
