"""The prediction server over HTTP: contract checks, model swaps under load, the log.

Everything is real: governance under uvicorn, models trained on the demo's data and
promoted through governance's API, the prediction server under uvicorn on loopback.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from demo_factories import applications
from servetest import PredictionServer, Registry, registry, start_server, wait_for_version

from scoring.predlog import read_predictions


def records(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """n JSON-ready records of the demo contract (id included, target left out)."""
    frame = applications(n, seed=seed).drop(columns=["defaulted"])
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: (None if _missing(v) else _plain(v)) for k, v in row.items()})
    return out


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    with registry(tmp_path) as r:
        yield r


@pytest.fixture
def served(reg: Registry) -> Iterator[PredictionServer]:
    version = reg.register("logistic_regression")
    reg.promote(version)
    server = start_server(reg)
    wait_for_version(server.url, version)
    yield server
    server.stop()


def predict_url(server: PredictionServer, reg: Registry) -> str:
    return f"{server.url}/api/v1/projects/{reg.project}/predict"


# --------------------------------------------------------------------------- happy path


def test_one_record_and_many_get_predictions_with_ids_and_version(
    served: PredictionServer, reg: Registry
) -> None:
    url = predict_url(served, reg)
    rows = records(5)
    one = httpx.post(url, json=rows[0])
    many = httpx.post(url, json={"records": rows})

    assert one.status_code == 200, one.text
    assert many.status_code == 200, many.text
    body = many.json()
    assert body["model_version"] == f"{reg.project}@1" and body["version"] == 1
    assert len(body["predictions"]) == 5
    assert [p["application_id"] for p in body["predictions"]] == [r["application_id"] for r in rows]
    assert len({p["prediction_id"] for p in body["predictions"]}) == 5
    model = reg.models[1]
    features = reg.spec.contract.features
    expected = model.predict_proba(pd.DataFrame(rows)[features])[:, 1]
    np.testing.assert_allclose([p["score"] for p in body["predictions"]], expected, rtol=1e-9)
    assert [p["label"] for p in body["predictions"]] == [int(s >= 0.5) for s in expected]
    assert one.json()["predictions"][0]["score"] == pytest.approx(expected[0])


def test_id_column_is_optional(served: PredictionServer, reg: Registry) -> None:
    row = records(1)[0]
    del row["application_id"]
    response = httpx.post(predict_url(served, reg), json=row)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["application_id"] is None


def test_health_ready_model_and_metrics(served: PredictionServer, reg: Registry) -> None:
    httpx.post(predict_url(served, reg), json=records(1)[0])
    assert httpx.get(f"{served.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{served.url}/readyz").json()
    assert ready["model_version"] == f"{reg.project}@1"
    model = httpx.get(f"{served.url}/api/v1/projects/{reg.project}/model").json()
    assert model["sha256"] == reg.dev.get_model(reg.project, 1).sha256
    metrics = httpx.get(f"{served.url}/metrics").text
    assert f'mlgate_model_version{{project="{reg.project}"}} 1.0' in metrics
    assert 'mlgate_requests_total{endpoint="predict",status="200"} 1.0' in metrics
    assert "mlgate_predict_latency_seconds_bucket" in metrics


# --------------------------------------------------------------------------- contract violations


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def test_missing_field_names_record_and_field(served: PredictionServer, reg: Registry) -> None:
    rows = records(3)
    del rows[2]["credit_score"]
    body = _problem(
        httpx.post(predict_url(served, reg), json={"records": rows}), 422, "invalid_request"
    )
    assert body["errors"][0] == {
        "record": 2,
        "field": "credit_score",
        "problem": "required feature is missing",
    }
    assert "record 2" in body["detail"] and "'credit_score'" in body["detail"]


def test_extra_field_and_target_are_refused(served: PredictionServer, reg: Registry) -> None:
    rows = records(2)
    rows[0]["favourite_colour"] = "blue"
    rows[1]["defaulted"] = 1
    body = _problem(
        httpx.post(predict_url(served, reg), json={"records": rows}), 422, "invalid_request"
    )
    assert {(e["record"], e["field"]) for e in body["errors"]} == {
        (0, "favourite_colour"),
        (1, "defaulted"),
    }
    assert any("target" in e["problem"] for e in body["errors"])


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("age", "forty", "expected a number, got string"),
        ("age", 41.5, "expected an integer"),
        ("loan_amount", True, "expected a number, got boolean"),
        ("home_ownership", 3, "expected a string, got integer"),
        ("age", 17, "below the minimum 18"),
        ("interest_rate", 40.5, "above the maximum 40"),
        ("loan_term_months", 18, "not one of the allowed values"),
        ("region", "mars", "not one of the allowed values"),
        ("loan_amount", None, "not nullable"),
    ],
)
def test_wrong_type_or_out_of_range_value_names_the_field(
    served: PredictionServer, reg: Registry, field: str, value: Any, words: str
) -> None:
    rows = records(4)
    rows[1][field] = value
    body = _problem(
        httpx.post(predict_url(served, reg), json={"records": rows}), 422, "invalid_request"
    )
    error = body["errors"][0]
    assert (error["record"], error["field"]) == (1, field)
    assert words in error["problem"]


def test_nullable_feature_accepts_null(served: PredictionServer, reg: Registry) -> None:
    row = records(1)[0] | {"annual_income": None, "credit_score": None}
    assert httpx.post(predict_url(served, reg), json=row).status_code == 200


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "empty_body"),
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 422, "invalid_request"),
        (b"{}", 422, "invalid_request"),
        (b'{"records": []}', 422, "invalid_request"),
        (b'{"records": [1]}', 422, "invalid_request"),
    ],
)
def test_empty_or_malformed_body(
    served: PredictionServer, reg: Registry, content: bytes, status: int, code: str
) -> None:
    response = httpx.post(
        predict_url(served, reg), content=content, headers={"content-type": "application/json"}
    )
    _problem(response, status, code)


def test_oversized_body_gets_413(reg: Registry) -> None:
    version = reg.register("logistic_regression")
    reg.promote(version)
    server = start_server(reg, serve_max_body_bytes=4096)
    try:
        wait_for_version(server.url, version)
        body = {"records": records(40)}
        body_problem = _problem(
            httpx.post(predict_url(server, reg), json=body), 413, "body_too_large"
        )
        assert "4096 bytes" in body_problem["detail"]
        # a small request still works on the same server
        assert httpx.post(predict_url(server, reg), json=records(1)[0]).status_code == 200
    finally:
        server.stop()


def test_unknown_project_is_404(served: PredictionServer) -> None:
    response = httpx.post(f"{served.url}/api/v1/projects/nope/predict", json={})
    _problem(response, 404, "not_found")


# --------------------------------------------------------------------------- no model, swaps


def test_503_until_a_model_is_promoted(reg: Registry) -> None:
    server = start_server(reg)
    try:
        url = predict_url(server, reg)
        body = _problem(httpx.post(url, json=records(1)[0]), 503, "no_model")
        assert reg.project in body["detail"]
        _problem(httpx.get(f"{server.url}/readyz"), 503, "no_model")
        version = reg.register("logistic_regression")
        reg.promote(version)
        wait_for_version(server.url, version)
        assert httpx.post(url, json=records(1)[0]).status_code == 200
    finally:
        server.stop()


def test_tampered_artifact_is_never_served(reg: Registry, tmp_path: Path) -> None:
    version = reg.register("logistic_regression")
    uri = reg.dev.get_model(reg.project, version).artifact_uri
    path = Path(uri.removeprefix("file://"))
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    reg.promote(version)
    server = start_server(reg)
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while datetime.now(UTC) < deadline:
            ready = httpx.get(f"{server.url}/readyz")
            if "integrity" in ready.json()["detail"]:
                break
        body = _problem(httpx.post(predict_url(server, reg), json=records(1)[0]), 503, "no_model")
        assert "integrity" in body["detail"]
    finally:
        server.stop()


def test_promotion_under_load_fails_nothing_and_labels_every_response(reg: Registry) -> None:
    """Concurrent clients keep predicting through a promotion, a rollback and a promotion."""
    v1 = reg.register("logistic_regression", seed=1)
    v2 = reg.register("hist_gradient_boosting", seed=2)
    reg.promote(v1)
    server = start_server(reg, serve_poll_interval_s=0.1)
    wait_for_version(server.url, v1)
    url = predict_url(server, reg)
    rows = records(200, seed=5)
    features = reg.spec.contract.features
    expected = {
        v: reg.models[v].predict_proba(pd.DataFrame(rows)[features])[:, 1] for v in (v1, v2)
    }
    stop = datetime.now(UTC) + timedelta(seconds=60)
    seen: list[tuple[int, int, float, int]] = []  # (record index, version, score, status)
    failures: list[str] = []
    served_ids: list[str] = []
    done = {"phase": 0}

    def client(worker: int) -> None:
        with httpx.Client(timeout=30) as http:
            i = worker
            while done["phase"] < 3 and datetime.now(UTC) < stop:
                k = i % len(rows)
                batch = [rows[k], rows[(k + 1) % len(rows)]]
                response = http.post(url, json={"records": batch})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    body = response.json()
                    for offset, p in enumerate(body["predictions"]):
                        seen.append(((k + offset) % len(rows), body["version"], p["score"], 200))
                        served_ids.append(p["prediction_id"])
                i += 8

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client, w) for w in range(8)]
        _wait_requests(seen, 100)
        reg.promote(v2)
        wait_for_version(server.url, v2)
        _wait_requests(seen, len(seen) + 100)
        reg.approver.rollback(reg.project, comment="back to the first model")
        wait_for_version(server.url, v1)
        _wait_requests(seen, len(seen) + 100)
        reg.promote(v2)
        wait_for_version(server.url, v2)
        _wait_requests(seen, len(seen) + 100)
        done["phase"] = 3
        for f in futures:
            f.result()
    server.stop()

    assert failures == []
    versions = {v for _, v, _, _ in seen}
    assert versions == {v1, v2}
    for index, version, score, _ in seen:
        assert score == pytest.approx(expected[version][index], rel=1e-9, abs=1e-12)

    log = read_predictions(
        reg.store, reg.project, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
    )
    assert len(log) == len(served_ids)
    assert set(log["prediction_id"]) == set(served_ids)
    by_id = dict(zip(log["prediction_id"], log["version"], strict=True))
    assert {by_id[i] for i in served_ids} == {v1, v2}


def _wait_requests(seen: list[Any], n: int, timeout: float = 60.0) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while len(seen) < n:
        assert datetime.now(UTC) < deadline, "load generator stalled"
        import time

        time.sleep(0.02)


# --------------------------------------------------------------------------- the log


def test_logged_records_equal_served_ones_after_shutdown(reg: Registry) -> None:
    version = reg.register("random_forest")
    reg.promote(version)
    # a long flush interval: only the graceful shutdown writes the rows
    server = start_server(reg, serve_log_flush_s=3600, serve_log_flush_rows=1_000_000)
    wait_for_version(server.url, version)
    url = predict_url(server, reg)
    rows = records(30, seed=9)
    answers = []
    with httpx.Client() as http:
        for i in range(0, 30, 3):
            answers.append(http.post(url, json={"records": rows[i : i + 3]}).json())
        answers.append(http.post(url, json=rows[0]).json())
    server.stop()

    log = read_predictions(
        reg.store, reg.project, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
    )
    served = [p for a in answers for p in a["predictions"]]
    assert len(log) == len(served) == 31
    by_id = log.set_index("prediction_id")
    for p in served:
        row = by_id.loc[p["prediction_id"]]
        assert row["score"] == pytest.approx(p["score"])
        assert row["application_id"] == p["application_id"]
        assert row["model_version"] == f"{reg.project}@{version}"
        assert row["source"] == "api"
        assert row["latency_ms"] > 0
    first = by_id.loc[served[0]["prediction_id"]]
    for name in reg.spec.contract.features:
        sent = rows[0][name]
        assert (pd.isna(first[name]) and sent is None) or first[name] == sent


def test_actuals_are_stored_by_prediction_id(served: PredictionServer, reg: Registry) -> None:
    answer = httpx.post(predict_url(served, reg), json={"records": records(4)}).json()
    ids = [p["prediction_id"] for p in answer["predictions"]]
    url = f"{served.url}/api/v1/projects/{reg.project}/actuals"
    response = httpx.post(url, json={"actuals": [{"prediction_id": i, "actual": 1} for i in ids]})
    assert response.status_code == 201, response.text
    assert response.json() == {"accepted": 4}
    bad = httpx.post(url, json={"actuals": [{"prediction_id": ids[0], "actual": 7}]})
    assert _problem(bad, 422, "invalid_request")["detail"].startswith("actual 0: actual must be")
    from scoring.predlog import read_actuals

    stored = read_actuals(
        reg.store,
        reg.project,
        datetime.now(UTC) - timedelta(hours=1),
        datetime.now(UTC) + timedelta(seconds=1),
    )
    assert sorted(stored["prediction_id"]) == sorted(ids)
    assert set(stored["actual"]) == {1.0}


# --------------------------------------------------------------------------- authentication


def test_the_serving_token_guards_the_project_routes(
    reg: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = "serve-" + "s3cr3t" * 6
    monkeypatch.setenv("MLGATE_TEST_SERVE_TOKEN", token)
    version = reg.register("logistic_regression")
    reg.promote(version)
    server = start_server(reg, serve_token="env://MLGATE_TEST_SERVE_TOKEN")  # a reference
    try:
        wait_for_version(server.url, version)  # readiness stays open, for probes
        record = records(1)[0]
        good = {"Authorization": f"Bearer {token}"}
        wrong = "not-the-token-" + "x" * 20
        for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": token}):
            refused = httpx.post(predict_url(server, reg), json=record, headers=headers)
            body = _problem(refused, 401, "unauthenticated")
            assert refused.headers["www-authenticate"] == "Bearer"
            assert token not in refused.text and wrong not in body["detail"]
        actuals = f"{server.url}/api/v1/projects/{reg.project}/actuals"
        _problem(httpx.post(actuals, json={"actuals": []}), 401, "unauthenticated")
        _problem(
            httpx.get(f"{server.url}/api/v1/projects/{reg.project}/model"), 401, "unauthenticated"
        )
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/metrics").status_code == 200

        scored = httpx.post(predict_url(server, reg), json=record, headers=good)
        assert scored.status_code == 200, scored.text
        model = httpx.get(f"{server.url}/api/v1/projects/{reg.project}/model", headers=good)
        assert model.status_code == 200 and model.json()["version"] == version
    finally:
        server.stop()
    assert token not in caplog.text


def test_without_a_serving_token_the_server_warns_that_it_is_open(
    reg: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(reg)
    server.stop()
    assert "MLGATE_SERVE_TOKEN is not set" in caplog.text
