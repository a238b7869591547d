"""Governance under a real uvicorn server in a thread, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from govtest import S3_STORE, STORE, Gov, rand

from governance.admin import bootstrap_admin
from governance.client import GovernanceClient
from governance.config import get_settings
from governance.server import serve_in_thread


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Every governance these tests start records locations in the test stores.
    monkeypatch.setenv("MLGATE_STORES", f"{STORE},{S3_STORE}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A governance database: a new SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'governance.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def gov(database_url: str) -> Iterator[Gov]:
    with serve_in_thread(database_url) as server:
        token = bootstrap_admin(database_url, name=rand("admin"))
        admin = GovernanceClient(server.url, token)
        g = Gov(server=server, database_url=database_url, admin=admin)
        try:
            yield g
        finally:
            for client in [admin, *g.clients]:
                client.close()
