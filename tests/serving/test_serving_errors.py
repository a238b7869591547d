"""The prediction server's refusals: every ServingError through the app's one handler.

A real server (governance under uvicorn, no model promoted, so nothing is trained);
the walk over ``ServingError`` fails when a new refusal has no example here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servetest import PredictionServer, Registry, registry, start_server

from core.errors import MlgateError, Unauthenticated
from scoring.errors import LogUnavailable
from serving import errors
from serving.errors import Problem, ServingError

EXAMPLES: list[ServingError] = [
    ServingError("the server cannot answer"),
    errors.ProjectNotServed("elsewhere"),
    errors.NoModel("no production model for credit yet"),
    errors.NotReady("no production model for credit loaded yet"),
    errors.BodyTooLarge(4096),
    errors.EmptyBody(),
    errors.InvalidJson("the request body is not valid JSON: unexpected character"),
    errors.RequestInvalid(
        [Problem(0, "age", "value (17) is below the minimum 18"), Problem(1, None, "oops")]
    ),
    errors.ActualsInvalid("actual 0: actual must be one of [0, 1], got 7"),
    errors.LogFull(),
    errors.ScoringFailed("model credit@3 failed to score: ValueError"),
    errors.Unauthenticated(),
]
EXPECTED = {
    ServingError: (500, "serving_error"),
    errors.ProjectNotServed: (404, "not_found"),
    errors.NoModel: (503, "no_model"),
    errors.NotReady: (503, "no_model"),
    errors.BodyTooLarge: (413, "body_too_large"),
    errors.EmptyBody: (400, "empty_body"),
    errors.InvalidJson: (400, "invalid_json"),
    errors.RequestInvalid: (422, "invalid_request"),
    errors.ActualsInvalid: (422, "invalid_request"),
    errors.LogFull: (503, "log_full"),
    errors.ScoringFailed: (500, "scoring_failed"),
    errors.Unauthenticated: (401, "unauthenticated"),
}


def _subclasses(cls: type[ServingError]) -> set[type[ServingError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with registry(tmp_path) as r:
        yield r


@pytest.fixture
def raising(reg: Registry) -> Iterator[PredictionServer]:
    """A server with one more route, which raises the error it is told to."""
    server = start_server(reg)
    raised: list[MlgateError] = [*EXAMPLES, LogUnavailable("the prediction log is down")]

    async def raise_error(index: int) -> None:
        raise raised[index]

    server.app.add_api_route("/raise/{index}", raise_error, methods=["GET"])
    yield server
    server.stop()


def test_every_serving_error_has_an_example_and_its_status_and_code() -> None:
    assert {type(e) for e in EXAMPLES} == _subclasses(ServingError) == set(EXPECTED)
    for example in EXAMPLES:
        assert (example.status, example.code) == EXPECTED[type(example)]
    assert isinstance(errors.Unauthenticated(), Unauthenticated)  # the root's 401 class


def test_one_handler_renders_every_serving_error(raising: PredictionServer) -> None:
    for index, example in enumerate(EXAMPLES):
        response = httpx.get(f"{raising.url}/raise/{index}")
        status, code = EXPECTED[type(example)]
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body: dict[str, Any] = response.json()
        assert body["type"] == f"urn:mlgate:problem:{code}"
        assert (body["code"], body["status"]) == (code, status)
        assert body["title"] == example.title
        assert body["detail"] == example.message
        assert body["instance"] == f"/raise/{index}"
        for name, value in example.headers().items():
            assert response.headers[name] == value
    at = next(i for i, e in enumerate(EXAMPLES) if isinstance(e, errors.RequestInvalid))
    invalid = httpx.get(f"{raising.url}/raise/{at}").json()
    assert invalid["errors"] == [
        {"record": 0, "field": "age", "problem": "value (17) is below the minimum 18"},
        {"record": 1, "field": None, "problem": "oops"},
    ]
    assert (
        invalid["detail"]
        == "record 0, field 'age': value (17) is below the minimum 18 (and 1 more)"
    )


def test_the_handler_renders_other_packages_errors_too(raising: PredictionServer) -> None:
    response = httpx.get(f"{raising.url}/raise/{len(EXAMPLES)}")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "log_unavailable"


def test_refusals_are_counted_per_endpoint(reg: Registry) -> None:
    server = start_server(reg, serve_token="serve-" + "t0k3n" * 6)
    good = {"Authorization": "Bearer serve-" + "t0k3n" * 6}
    try:
        base = f"{server.url}/api/v1/projects"
        assert httpx.post(f"{base}/{reg.project}/predict", json={}).status_code == 401
        assert httpx.post(f"{base}/{reg.project}/predict", json={}, headers=good).status_code == 503
        assert httpx.post(f"{base}/nope/predict", json={}, headers=good).status_code == 404
        bad = {"actuals": [{"prediction_id": "x", "actual": 1}]}
        assert (
            httpx.post(f"{base}/{reg.project}/actuals", json=bad, headers=good).status_code == 422
        )
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    for endpoint, status, code in [
        ("predict", 401, "unauthenticated"),
        ("predict", 503, "no_model"),
        ("predict", 404, "not_found"),
        ("actuals", 422, "invalid_request"),
    ]:
        assert f'mlgate_requests_total{{endpoint="{endpoint}",status="{status}"}} 1.0' in metrics
        assert f'mlgate_request_errors_total{{code="{code}",endpoint="{endpoint}"}} 1.0' in metrics
    # probes are not requests of the project's endpoints
    assert 'endpoint="readyz"' not in metrics
