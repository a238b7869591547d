"""Fixtures every test package shares: a clean environment and a PostgreSQL database."""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from core import offline

_CLEARED_PREFIXES = ("MLGATE_", "AWS_", "VAULT_")
PG_HOST = "127.0.0.1"
PG_PORT = 5432


def pytest_configure(config: pytest.Config) -> None:
    """The test run is an entry point like any other: telemetry off before anything runs."""
    offline.apply()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees MLGATE_*, AWS_* or VAULT_* variables it did not set itself."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES):
            monkeypatch.delenv(name, raising=False)


def _admin_connection() -> tuple[psycopg.Connection[Any], str]:
    last: Exception | None = None
    for user in dict.fromkeys(("postgres", getpass.getuser())):
        try:
            conn = psycopg.connect(
                host=PG_HOST,
                port=PG_PORT,
                user=user,
                dbname="test",
                connect_timeout=3,
                autocommit=True,
            )
            return conn, user
        except psycopg.OperationalError as exc:
            last = exc
    raise RuntimeError(f"PostgreSQL at {PG_HOST}:{PG_PORT} unreachable: {last}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end.

    Skips when PostgreSQL is unreachable, except under ``CI=true`` where that fails.
    """
    try:
        conn, user = _admin_connection()
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(str(exc))
    name = f"mlgate_t_{secrets.token_hex(6)}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
