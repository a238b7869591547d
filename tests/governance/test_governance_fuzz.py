"""Schemathesis against the service's own OpenAPI: no 5xx, every answer as documented.

A fixed, derandomized budget (a few examples per operation), so the run is reproducible
and short. Requests carry an admin token, so they get past authentication and reach the
services; the checks are: no server error, a documented status code and content type,
and a body that conforms to the documented schema (problem details included).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from governance.admin import bootstrap_admin
from governance.config import Settings
from governance.main import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and mode: small, fixed and derandomized, so the run is the same each time.
BUDGET = settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fuzz_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    """The app (called in-process over ASGI) and an admin token, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'governance.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    app = create_app(Settings(database_url=url, expiry_sweep_seconds=3600))
    yield app, bootstrap_admin(url, name=f"fuzz-{secrets.token_hex(3)}")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_and_every_answer_as_documented(
    fuzz_app: tuple[Any, str], mode: GenerationMode
) -> None:
    app, token = fuzz_app
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1

        @BUDGET
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.append(response.status_code)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert operations >= 28
    # The budget was spent on real calls; valid ones got past authentication to the services.
    assert len(statuses) >= 3 * operations
    if mode == GenerationMode.POSITIVE:
        assert sum(1 for code in statuses if code < 300) >= operations // 2, sorted(set(statuses))
    assert not failures, "\n\n".join(failures)


def test_problem_answers_are_documented_on_every_operation(fuzz_app: tuple[Any, str]) -> None:
    paths = fuzz_app[0].openapi()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            for code in ("403", "404", "409", "422"):
                content = operation["responses"][code]["content"]
                assert "application/problem+json" in content, (method, path, code)
