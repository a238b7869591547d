"""Fixtures for end-to-end runs: a Prefect test server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    """A real, temporary Prefect server (prefect_test_harness) for every flow run here."""
    from prefect.testing.utilities import prefect_test_harness

    import mlgate.offline  # noqa: F401  (telemetry off before Prefect is imported)

    with prefect_test_harness(server_startup_timeout=120):
        yield
