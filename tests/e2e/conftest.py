"""Fixtures for end-to-end runs.

* ``prefect_server`` (autouse): a temporary Prefect server (prefect_test_harness) for
  flows called in-process, as the demo calls them.
* ``stack``: the real local stack as users start it: ``mlgate up`` (a Prefect server on
  SQLite in its own home, the governance service told to resume flow runs there, a
  worker on a process work pool) on free ports, ``mlgate deploy`` of prefect.yaml, and
  ``mlgate down`` at the end. Tests drive it over HTTP (see ``e2e_stack``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from e2e_stack import Stack, free_port, mlgate_cli


@pytest.fixture(scope="session")
def _prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def prefect_server(request: pytest.FixtureRequest) -> None:
    """A real, temporary Prefect server (prefect_test_harness) for flows run in-process.

    Modules that talk to a stack of their own set ``OWN_PREFECT = True`` and skip it.
    """
    if not getattr(request.module, "OWN_PREFECT", False):
        request.getfixturevalue("_prefect_harness")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``mlgate up`` + ``mlgate deploy`` on free ports; ``mlgate down`` afterwards."""
    root = tmp_path_factory.mktemp("stack")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLGATE_", "PREFECT_"))} | {
        "MLGATE_STACK_DIR": str(root / "stack"),
        "MLGATE_DATABASE_URL": f"sqlite:///{root / 'governance.db'}",
        "MLGATE_EXPIRY_SWEEP_SECONDS": "0.5",
        # Each test project keeps its store under the stack's root (Stack.project).
        "MLGATE_STORES": f"file://{root}",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    ports = [str(free_port()) for _ in range(2)]
    up = mlgate_cli(
        "up",
        "--prefect-port",
        ports[0],
        "--governance-port",
        ports[1],
        "--no-serving",
        env=env,
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        deployed = mlgate_cli("deploy", "--current-source", "", env=env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "pipeline" in deployed.stdout and "promote" in deployed.stdout
        yield Stack(root, env)
    finally:
        down = mlgate_cli("down", env=env, timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
