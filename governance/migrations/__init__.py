"""Schema migrations of the governance database (Alembic), configured from code.

The revisions live in ``versions/`` next to this module, so they ship inside the
package and work from an installed wheel; no ``alembic.ini`` is needed.

:func:`upgrade` is what the service runs at start-up (and ``mlgate governance init``):

* it serializes concurrent starters — a PostgreSQL advisory lock held for the whole
  upgrade transaction, on SQLite the database write lock (``BEGIN IMMEDIATE``) — so two
  processes starting at once never both create the tables;
* the whole upgrade is one transaction (PostgreSQL and SQLite both have transactional
  DDL): it lands completely or not at all;
* it is idempotent: at the newest revision it changes nothing;
* a database created by an earlier release with ``create_all`` (the tables, but no
  ``alembic_version``) is adopted when its tables and columns are exactly the baseline's:
  it is stamped ``0001`` and upgraded from there. Anything else (some tables missing,
  unknown columns) is refused with :class:`DatabaseSchemaMismatch` naming the differences,
  rather than guessed at.

Developers create a new revision with the ``alembic`` command line and a config that
points ``script_location`` at this package, e.g.
``alembic -x url=sqlite:///dev.db -c /dev/null revision --autogenerate -m "…"`` — see
:func:`alembic_config`.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData
from sqlmodel import SQLModel

from governance import models  # noqa: F401  (the tables register in SQLModel.metadata)
from governance.db import create_db_engine
from governance.errors import DatabaseSchemaMismatch

__all__ = [
    "BASELINE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "target_metadata",
    "upgrade",
]

BASELINE = "0001"
SCRIPT_LOCATION = Path(__file__).resolve().parent
# Arbitrary but fixed key for pg_advisory_xact_lock: "mlg" + "migrate".
MIGRATION_LOCK_KEY = 0x6D6C67_0B


def target_metadata() -> MetaData:
    """The metadata of every governance table, as the code declares it."""
    return SQLModel.metadata


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for this package's revisions.

    Args:
        connection: run on this connection (inside its transaction); the usual way.
        url: otherwise, the database URL ``env.py`` connects to.
    """
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest), safely and idempotently.

    Raises:
        DatabaseSchemaMismatch: the database has governance tables but no revision record, and
            they are not exactly the baseline's.
    """
    with engine.begin() as connection:
        _lock(connection)
        context = MigrationContext.configure(connection)
        if context.get_current_revision() is None:
            _adopt_unversioned(connection)
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to ``revision`` (``base`` drops every table)."""
    with engine.begin() as connection:
        _lock(connection)
        command.downgrade(alembic_config(connection), revision)


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
    # SQLite: the engine begins every transaction with BEGIN IMMEDIATE (the write lock).


def _adopt_unversioned(connection: Connection) -> None:
    """Stamp a database made by ``create_all`` of the first release, or refuse it."""
    expected = _baseline_shape()
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names()) & set(expected)
    if not present:
        return  # a fresh database (other applications' tables are not ours to judge)
    problems = [f"table {t} missing" for t in sorted(set(expected) - present)]
    for table in sorted(present):
        columns = {c["name"] for c in inspector.get_columns(table)}
        problems += [f"{table}.{c} missing" for c in sorted(expected[table] - columns)]
        problems += [f"{table}.{c} unexpected" for c in sorted(columns - expected[table])]
    if problems:
        raise DatabaseSchemaMismatch(
            "the governance database has tables but no migration record, and they differ "
            "from the first release's schema (" + "; ".join(problems) + "); "
            "restore a backup or migrate it by hand, then stamp it"
        )
    command.stamp(alembic_config(connection), BASELINE)


def _baseline_shape() -> dict[str, set[str]]:
    """``{table: columns}`` of the baseline revision, built in a throw-away SQLite."""
    engine = create_db_engine("sqlite://")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), BASELINE)
            inspector = sa.inspect(connection)
            return {
                table: {c["name"] for c in inspector.get_columns(table)}
                for table in inspector.get_table_names()
                if table != "alembic_version"
            }
    finally:
        engine.dispose()
