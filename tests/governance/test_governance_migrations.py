"""Schema migrations: upgrade head builds exactly what the models declare, on both backends.

A model change without its migration fails here: alembic's autogenerate comparison
between the migrated database and the SQLModel metadata must find nothing.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from governance.db import create_db_engine
from governance.errors import DatabaseSchemaMismatch
from governance.migrations import (
    BASELINE,
    current_revision,
    downgrade,
    head_revision,
    target_metadata,
    upgrade,
)
from governance.migrations import upgrade as migrate

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of each backend, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails under CI) without PostgreSQL
    name = f"mlgate_mig_{secrets.token_hex(5)}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(fresh_url: str) -> Iterator[sa.Engine]:
    eng = create_db_engine(fresh_url)
    try:
        yield eng
    finally:
        eng.dispose()


def _diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, target_metadata()))


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_head_matches_the_models(engine: sa.Engine) -> None:
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []
    assert _tables(engine) == set(SQLModel.metadata.tables)


def test_init_is_idempotent_and_survives_concurrent_starts(engine: sa.Engine) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            migrate(engine)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []


def test_downgrade_to_base_and_back(engine: sa.Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert _tables(engine) == set()
    upgrade(engine)
    assert _diff(engine) == []


def test_a_create_all_database_of_the_first_release_is_adopted(engine: sa.Engine) -> None:
    # What the first release's init did: the baseline's tables, no migration record.
    upgrade(engine, BASELINE)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(
            sa.text(
                "INSERT INTO audit_event (seq, ts, actor, action, entity_type, entity_id, "
                "payload, prev_hash, hash) VALUES (1, CURRENT_TIMESTAMP, 'system', "
                "'principal.created', 'principal', 'admin', '{}', :z, :h)"
            ),
            {"z": "0" * 64, "h": "a" * 64},
        )
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []
    with engine.connect() as conn:
        head = conn.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
    assert tuple(head) == (1, "a" * 64)  # the head picks up the existing chain


def test_an_unknown_unversioned_schema_is_refused(engine: sa.Engine) -> None:
    upgrade(engine, BASELINE)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text("DROP TABLE monitoring_result"))
    with pytest.raises(DatabaseSchemaMismatch, match="table monitoring_result missing"):
        migrate(engine)
