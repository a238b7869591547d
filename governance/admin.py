"""Administering a governance database directly, as its operator: what the service's own
API cannot do for itself.

Create or upgrade the schema, create the first admin (the equivalent of
``createsuperuser``), grant a PostgreSQL role that cannot rewrite the audit trail, and
verify the audit chain with the service down. The ``mlgate governance`` commands
(:mod:`governance.cli`) and the embedded demo call these; everything else reaches
governance over HTTP through :mod:`governance.client`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from governance import db
from governance.chain import Head
from governance.config import get_settings
from governance.migrations import upgrade
from governance.schemas import VerifyResult
from governance.services import audit, principals
from governance.store.uow import Database

__all__ = ["bootstrap_admin", "grant_service_role", "migrate", "verify_audit"]


@contextmanager
def _engine(database_url: str) -> Iterator[Engine]:
    engine = db.create_db_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def migrate(database_url: str) -> None:
    """Create the tables or bring them to the newest migration (idempotent).

    Raises:
        DatabaseSchemaMismatch: an unversioned database whose tables are not the first
            release's.
    """
    with _engine(database_url) as engine:
        upgrade(engine)


def bootstrap_admin(
    database_url: str, name: str = "admin", *, ttl_days: float | None = None
) -> str:
    """Create the first admin principal and return its token (shown once).

    Creates the tables if needed; the creation is audited with actor ``system``.

    Args:
        ttl_days: the token's lifetime (default: ``MLGATE_TOKEN_TTL_DAYS``, 90 days).

    Raises:
        Conflict: a principal called ``name`` already exists.
    """
    lifetime = ttl_days if ttl_days is not None else get_settings().token_ttl_days
    with _engine(database_url) as engine:
        upgrade(engine)
        database = Database.open(engine)
        try:
            return principals.bootstrap_admin(database, name=name, ttl_days=lifetime).token
        finally:
            database.close()


def grant_service_role(database_url: str, role: str) -> None:
    """PostgreSQL, as the tables' owner: upgrade, then grant ``role`` what the service
    needs and no way to rewrite the audit trail (see :func:`governance.db.grant_service_role`).

    Raises:
        InvalidInput: the database is not PostgreSQL.
        sqlalchemy.exc.DBAPIError: the role does not exist.
    """
    with _engine(database_url) as engine:
        upgrade(engine)
        db.grant_service_role(engine, role)


def verify_audit(database_url: str, *, expect_head: Head | None = None) -> VerifyResult:
    """Walk the audit chain in the database itself (the service need not run)."""
    with _engine(database_url) as engine:
        database = Database.open(engine)
        try:
            return audit.verify(database.session, expect_head=expect_head)
        finally:
            database.close()
