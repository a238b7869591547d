"""The database layer: engine construction, sessions and the write locks.

Writes serialize where it matters:

* SQLite: every transaction starts with ``BEGIN IMMEDIATE``, so a writer holds the
  database's write lock from its first statement; concurrent writers wait (busy timeout).
* PostgreSQL: the audit chain is serialized by ``SELECT … FOR UPDATE`` on its head row,
  taken by the commit itself after the transaction's other statements
  (:class:`governance.store.uow.UnitOfWork` appends its events at commit); per-project work
  (version numbering, stage changes, policy changes) by ``SELECT … FOR NO KEY UPDATE``
  on the project row, taken just before the rows it guards are written; a decision by
  the same lock on its promotion request row. Locks are always taken in the order
  request → project → audit chain, so they cannot deadlock.

The schema is managed by Alembic (:mod:`governance.migrations`, whose ``upgrade`` the
service runs at start-up).

Nothing outside ``governance/`` imports this module.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from governance.errors import InvalidInput

__all__ = [
    "RequestGate",
    "create_db_engine",
    "grant_service_role",
    "is_postgres",
    "session_scope",
]


# PostgreSQL connections per process. More let more requests run their Python at once,
# which on one GIL slows whoever holds a lock; see the benchmark bench/governance_api.py.
POOL_SIZE = 6
# Worker threads of the server (anyio's default limit), which bounds the connections.
MAX_THREADS = 40


def _normalize_url(url: str) -> str:
    # Accept the familiar postgresql:// and pick the driver we ship (psycopg 3).
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_db_engine(
    database_url: str, *, echo: bool = False, pool_size: int = POOL_SIZE
) -> Engine:
    """Build the engine for ``database_url``; for SQLite, create the parent directory.

    Args:
        database_url: a ``sqlite:///path`` or ``postgresql[+psycopg]://`` URL.
        echo: log every statement.
        pool_size: PostgreSQL connections kept open by this process.
    """
    url = make_url(_normalize_url(database_url))
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        in_memory = database in ("", ":memory:")
        if not in_memory:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if in_memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, **kwargs)
        _sqlite_write_lock(engine)
        return engine
    # The app admits no more requests than POOL_SIZE (:class:`RequestGate`), so the rest
    # wait outside instead of running their Python alongside the one holding the project
    # or chain lock (one process, one GIL). The overflow only serves background threads
    # and embedders without the gate: up to the worker threads there may be, so no thread
    # ever waits for a connection held by a request that waits for a thread.
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max(0, MAX_THREADS - pool_size),
    )


def _sqlite_write_lock(engine: Engine) -> None:
    """Make every SQLite transaction take the write lock at its start (``BEGIN IMMEDIATE``)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN instead of pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield one session; roll back whatever was not committed when the caller is done."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except Exception:
            session.rollback()
            raise


# Privileges of the service's own PostgreSQL role, per table (others: read and write).
_SERVICE_PRIVILEGES = {
    "audit_event": "SELECT, INSERT",
    "audit_head": "SELECT, UPDATE",
    "alembic_version": "SELECT",
}


def grant_service_role(engine: Engine, role: str) -> None:
    """PostgreSQL: grant ``role`` what the service needs, and no way to rewrite the trail.

    Run it as the tables' owner after each upgrade (new tables need their grants). The
    role gets SELECT and INSERT on ``audit_event`` only (no UPDATE, DELETE or TRUNCATE),
    SELECT and UPDATE on ``audit_head``, SELECT on ``alembic_version`` (so start-up can
    see the schema is current; migrations then run as the owner), and read/write on the
    other tables. Not being the owner, it cannot disable the append-only triggers either.

    Raises:
        InvalidInput: the engine is not PostgreSQL.
    """
    if engine.dialect.name != "postgresql":
        raise InvalidInput("service role grants apply to PostgreSQL databases only")
    quoted = engine.dialect.identifier_preparer.quote(role)
    with engine.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO {quoted}')
        for table in sa_inspect(conn).get_table_names():
            privileges = _SERVICE_PRIVILEGES.get(table, "SELECT, INSERT, UPDATE, DELETE")
            conn.exec_driver_sql(f'REVOKE ALL ON TABLE "{table}" FROM {quoted}')
            conn.exec_driver_sql(f'GRANT {privileges} ON TABLE "{table}" TO {quoted}')
        conn.exec_driver_sql(
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {quoted}'
        )


class RequestGate:
    """ASGI middleware: at most ``limit`` HTTP requests inside the app at once.

    The others wait in line on the event loop, holding neither a worker thread nor a
    database connection. Sized to the connection pool, it keeps every admitted request
    able to get a connection and a thread (no pool-versus-threadpool starvation), and
    keeps the Python work that competes with a lock holder for the GIL bounded.
    """

    def __init__(self, app: Any, limit: int = POOL_SIZE) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # created on the server's own event loop
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            await self.app(scope, receive, send)
