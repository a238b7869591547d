"""The prediction log and the actuals log on an S3 artifact store (moto's server on loopback).

Everything written to S3 reads back as from a local store: the same rows for the same
windows, the latest actual per prediction, no entry lost to concurrent writers or to
listings longer than a page; tampered objects and foreign index objects are refused.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from connector_servers import moto_s3, new_bucket, s3_admin
from demo_factories import CONTRACT, applications
from servetest import registry, start_server, wait_for_version

from connectors.errors import IntegrityError, UnsafePath
from connectors.s3store import S3ArtifactStore
from connectors.store import ArtifactStore, LocalArtifactStore, open_store
from scoring.errors import LogUnavailable
from scoring.predlog import (
    ACTUALS,
    ACTUALS_SCHEMA,
    PREDICTIONS,
    IndexEntry,
    LogIndex,
    log_schema,
    read_actuals,
    read_predictions,
    to_table,
    write_actuals,
    write_predictions,
)

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
PREFIX = "team/artifacts"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def s3_url(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An ``s3://`` store URL on a fresh bucket, credentials as env:// references."""
    monkeypatch.setenv("MLGATE_TEST_S3_AK", "test-access-key")
    monkeypatch.setenv("MLGATE_TEST_S3_SK", "test-secret-key")
    return (
        f"s3://{new_bucket(s3_endpoint)}/{PREFIX}?endpoint={s3_endpoint}"
        "&access_key=env://MLGATE_TEST_S3_AK&secret_key=env://MLGATE_TEST_S3_SK"
    )


@pytest.fixture
def s3(s3_url: str) -> S3ArtifactStore:
    store = open_store(s3_url)
    assert isinstance(store, S3ArtifactStore)
    return store


@pytest.fixture
def local(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def project() -> str:
    return f"credit-{uuid.uuid4().hex[:8]}"


def predictions(times: list[datetime], version: int, *, seed: int = 0) -> pa.Table:
    """Prediction-log rows of the demo contract at ``times``, all from one model version."""
    n = len(times)
    frame = applications(n, seed=seed)
    rng = np.random.default_rng(seed)
    columns = {name: frame[name].to_numpy() for name in CONTRACT.features}
    assert CONTRACT.id_column is not None
    columns[CONTRACT.id_column] = frame[CONTRACT.id_column].astype(str).tolist()
    scores = rng.random(n)
    columns.update(
        prediction_id=[uuid.uuid4().hex for _ in range(n)],
        score=scores,
        label=(scores >= 0.5).astype(np.int64),
        model_version=[f"credit@{version}"] * n,
        version=[version] * n,
        predicted_at=pa.array(times, type=pa.timestamp("us", tz="UTC")),
        latency_ms=[1.5] * n,
        source=["api"] * n,
    )
    return to_table(log_schema(CONTRACT), columns)


def actuals(rows: list[tuple[str, float, datetime]]) -> pa.Table:
    ids, values, times = zip(*rows, strict=True)
    return pa.table(
        {"prediction_id": list(ids), "actual": list(values), "received_at": list(times)},
        schema=ACTUALS_SCHEMA,
    )


def index_keys(endpoint: str, bucket: str, prefix: str) -> list[str]:
    paginator = s3_admin(endpoint).get_paginator("list_objects_v2")
    return [
        o["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]


# --------------------------------------------------------------------------- same as local


def test_logs_on_s3_read_back_exactly_as_from_a_local_store(
    s3: S3ArtifactStore, local: LocalArtifactStore
) -> None:
    name = project()
    hours = [0, 1, 13, 23.5, 24, 25, 36, 47.75, 48, 50]  # three days, one row at each midnight
    times = [DAY0 + timedelta(hours=h, microseconds=i) for i, h in enumerate(hours)]
    # Three flushes, each spanning days and both model versions, as a server's would.
    batches = [
        pa.concat_tables([predictions(times[0:3], 1, seed=1), predictions(times[3:5], 2, seed=2)]),
        pa.concat_tables([predictions(times[5:7], 1, seed=3), predictions(times[7:8], 2, seed=4)]),
        predictions(times[8:10], 2, seed=5),
    ]
    everything = pa.concat_tables(batches).to_pandas()
    ids = everything["prediction_id"].tolist()
    late = DAY0 + timedelta(days=2, hours=3)
    actual_flushes = [
        # ids[0] gets a later actual in this first flush than in the next one: time wins
        actuals([(ids[0], 1.0, late), (ids[1], 0.0, DAY0 + timedelta(hours=2))]),
        actuals([(ids[0], 0.0, DAY0 + timedelta(hours=5)), (ids[2], 1.0, late)]),
        # the same id and the same time twice: the one written last wins
        actuals([(ids[2], 0.0, late), (ids[5], 1.0, DAY0 + timedelta(days=1, hours=23))]),
    ]
    for store in (local, s3):
        assert [write_predictions(store, name, b) for b in batches] == [5, 3, 2]
        assert [write_actuals(store, name, a) for a in actual_flushes] == [2, 2, 2]

    windows = {
        "all three days": (DAY0, DAY0 + timedelta(days=3)),
        "row edges: start kept, end left out": (times[2], times[7]),
        "across midnight": (DAY0 + timedelta(hours=23), DAY0 + timedelta(hours=25)),
        "nothing logged": (DAY0 - timedelta(days=5), DAY0 - timedelta(days=4)),
    }
    for label, (start, end) in windows.items():
        from_s3 = read_predictions(s3, name, start, end)
        expected = everything[
            (everything["predicted_at"] >= start) & (everything["predicted_at"] < end)
        ]
        assert from_s3["prediction_id"].tolist() == expected["prediction_id"].tolist(), label
        pd.testing.assert_frame_equal(from_s3, read_predictions(local, name, start, end))
        pd.testing.assert_frame_equal(
            read_actuals(s3, name, start, end), read_actuals(local, name, start, end)
        )
    assert set(read_predictions(s3, name, DAY0, DAY0 + timedelta(days=3))["version"]) == {1, 2}

    latest = read_actuals(s3, name, DAY0, DAY0 + timedelta(days=3)).set_index("prediction_id")
    assert latest["actual"].to_dict() == {ids[0]: 1.0, ids[1]: 0.0, ids[2]: 0.0, ids[5]: 1.0}
    assert latest.loc[ids[0], "received_at"] == late

    def summary(store: ArtifactStore, log: str) -> list[tuple[object, ...]]:
        entries = LogIndex(store, log).entries(name, DAY0, DAY0 + timedelta(days=3))
        return [(e.sha256, e.rows, e.min_time, e.max_time, e.model_version) for e in entries]

    for log in (PREDICTIONS, ACTUALS):
        assert summary(s3, log) == summary(local, log)
    for entry in LogIndex(s3, PREDICTIONS).entries(name, DAY0, DAY0 + timedelta(days=3)):
        assert entry.uri.startswith(s3.root_uri) and s3.exists(entry.uri)


# --------------------------------------------------------------------------- many writers


def test_two_writers_on_one_project_and_day_lose_no_entry(s3_url: str) -> None:
    name = project()
    writers = [open_store(s3_url), open_store(s3_url)]  # separate clients, as two processes
    start = threading.Barrier(2)
    flushes = 25

    def write(w: int) -> list[str]:
        start.wait()
        written: list[str] = []
        for i in range(flushes):
            at = DAY0 + timedelta(hours=10, seconds=i, microseconds=w)
            table = predictions([at, at + timedelta(milliseconds=1)], 1 + w % 2, seed=i)
            assert write_predictions(writers[w], name, table) == 2
            write_actuals(writers[w], name, actuals([(table["prediction_id"][0].as_py(), 1.0, at)]))
            written += table["prediction_id"].to_pylist()
        return written

    with ThreadPoolExecutor(2) as pool:
        written = [pid for ids in pool.map(write, range(2)) for pid in ids]

    reader = open_store(s3_url)
    window = (DAY0, DAY0 + timedelta(days=1))
    logged = read_predictions(reader, name, *window)
    assert len(logged) == 2 * flushes * 2
    assert sorted(logged["prediction_id"]) == sorted(written)
    assert len(read_actuals(reader, name, *window)) == 2 * flushes
    assert len(LogIndex(reader, PREDICTIONS).entries(name, *window)) == 2 * flushes


def test_more_than_a_listing_page_of_entries_in_a_day_are_all_found(
    s3: S3ArtifactStore, s3_endpoint: str
) -> None:
    name = project()
    count = 1_030  # S3 lists at most 1,000 keys per page
    at = [DAY0 + timedelta(hours=6, milliseconds=i) for i in range(count)]
    # The index alone, to stay fast: entries of distinct times, sharing one real object.
    obj = s3.put_bytes(b"rows", kind=ACTUALS, suffix=".parquet")
    index = LogIndex(s3, ACTUALS)

    def append(i: int) -> None:
        index.append(name, DAY0.date(), IndexEntry(obj.uri, obj.sha256, 1, at[i], at[i]))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(count)))

    day = f"{PREFIX}/.mlgate-index/{ACTUALS}/{name}/2026-03-01/"
    assert len(index_keys(s3_endpoint, s3.bucket, day)) == count
    found = index.entries(name, DAY0, DAY0 + timedelta(days=1))
    assert sorted(e.min_time for e in found) == at
    assert {(e.uri, e.sha256, e.rows) for e in found} == {(obj.uri, obj.sha256, 1)}
    later = index.entries(name, at[1_010], DAY0 + timedelta(days=1))
    assert sorted(e.min_time for e in later) == at[1_010:]


# --------------------------------------------------------------------------- refusals


def test_a_tampered_log_object_is_refused_on_read(s3: S3ArtifactStore, s3_endpoint: str) -> None:
    name = project()
    write_predictions(s3, name, predictions([DAY0 + timedelta(hours=1)], 1))
    (entry,) = LogIndex(s3, PREDICTIONS).entries(name, DAY0, DAY0 + timedelta(days=1))
    key = entry.uri.removeprefix(f"s3://{s3.bucket}/")
    s3_admin(s3_endpoint).put_object(Bucket=s3.bucket, Key=key, Body=b"not the logged rows")

    with pytest.raises(IntegrityError, match=r"failed its integrity check") as caught:
        read_predictions(s3, name, DAY0, DAY0 + timedelta(days=1))
    assert caught.value.code == "integrity_error"
    assert entry.uri in caught.value.message


def test_a_foreign_object_in_the_index_is_refused_by_name(
    s3: S3ArtifactStore, s3_endpoint: str
) -> None:
    name = project()
    write_actuals(s3, name, actuals([("p1", 1.0, DAY0 + timedelta(hours=1))]))
    foreign = f"{PREFIX}/.mlgate-index/{ACTUALS}/{name}/2026-03-01/notes.txt"
    s3_admin(s3_endpoint).put_object(Bucket=s3.bucket, Key=foreign, Body=b"hello")

    with pytest.raises(LogUnavailable, match=r"notes\.txt.*not an index entry") as caught:
        read_actuals(s3, name, DAY0, DAY0 + timedelta(days=1))
    assert caught.value.code == "log_unavailable"


@pytest.mark.parametrize("bad", ["../other", "a/b", ".hidden", "", "name with space"])
def test_a_project_name_that_is_not_one_key_segment_writes_nothing(
    s3: S3ArtifactStore, s3_endpoint: str, bad: str
) -> None:
    with pytest.raises(UnsafePath, match="cannot name a log partition"):
        write_predictions(s3, bad, predictions([DAY0], 1))
    with pytest.raises(UnsafePath, match="cannot name a log partition"):
        read_predictions(s3, bad, DAY0, DAY0 + timedelta(days=1))
    assert index_keys(s3_endpoint, s3.bucket, "") == []


# --------------------------------------------------------------------------- the server


def test_the_prediction_server_logs_to_an_s3_store(tmp_path: Path, s3_url: str) -> None:
    s3 = open_store(s3_url)
    assert isinstance(s3, S3ArtifactStore)
    with registry(tmp_path, extra_stores=[s3.root_uri]) as reg:
        reg.store = s3  # the models live on S3 too
        version = reg.register("logistic_regression")
        reg.promote(version)
        began = datetime.now(UTC)
        server = start_server(reg, store=s3_url)  # opened from the setting, as `mlgate serve` does
        try:
            wait_for_version(server.url, version)
            base = f"{server.url}/api/v1/projects/{reg.project}"
            frame = applications(6, seed=11).drop(columns=["defaulted"])
            records = json.loads(frame.to_json(orient="records"))
            answer = httpx.post(f"{base}/predict", json={"records": records})
            assert answer.status_code == 200, answer.text
            served = answer.json()["predictions"]
            sent = httpx.post(
                f"{base}/actuals",
                json={
                    "actuals": [{"prediction_id": p["prediction_id"], "actual": 1} for p in served]
                },
            )
            assert sent.status_code == 201, sent.text
        finally:
            server.stop()

        store = open_store(s3_url)
        window = (began - timedelta(minutes=1), datetime.now(UTC) + timedelta(seconds=1))
        logged = read_predictions(store, reg.project, *window).set_index("prediction_id")
        assert sorted(logged.index) == sorted(p["prediction_id"] for p in served)
        for p in served:
            row = logged.loc[p["prediction_id"]]
            assert row["score"] == pytest.approx(p["score"])
            assert row["model_version"] == f"{reg.project}@{version}"
            assert row["source"] == "api"
        received = read_actuals(store, reg.project, *window)
        assert sorted(received["prediction_id"]) == sorted(logged.index)
        assert set(received["actual"]) == {1.0}
