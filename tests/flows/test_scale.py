"""Training candidates on a Dask LocalCluster gives the leaderboard of the default runner.

Real parts: a Prefect test server, a ``distributed.LocalCluster`` (two worker
processes) through ``prefect_dask.DaskTaskRunner``, the local artifact store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from connectors.store import open_store
from core.spec import load_spec
from flows import scale, steps
from flows.ingest import snapshot_source
from mlgate.demo import data as demo_data
from mlgate.demo.run import SPEC_FILE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _prefect() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _without_timings(rows: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k != "fit_seconds"} for row in rows]


def test_dask_local_cluster_ranks_candidates_like_the_default_runner(tmp_path: Path) -> None:
    demo_data.write_csv(demo_data.make_applications(3_000), tmp_path / "applications.csv")
    spec = load_spec(SPEC_FILE)
    store = open_store(str(tmp_path / "artifacts"))
    snap = snapshot_source("file://applications.csv", spec.contract, store, base_dir=tmp_path)

    default = steps.train_snapshot(store, spec, snap.uri, snap.content_hash)
    on_dask = scale.train_candidates.with_options(task_runner=scale.task_runner("local"))(
        str(SPEC_FILE), str(tmp_path / "artifacts"), snap.uri, snap.content_hash
    )

    assert _without_timings(on_dask.leaderboard) == _without_timings(default.leaderboard)
    assert (on_dask.algorithm, on_dask.metrics) == (default.algorithm, default.metrics)
    assert on_dask.artifact_uri.startswith("file://") and len(on_dask.sha256) == 64


def test_scoring_partitions_on_dask_gives_the_scores_of_one_pass(tmp_path: Path) -> None:
    import pandas as pd

    demo_data.write_csv(demo_data.make_applications(3_000), tmp_path / "applications.csv")
    demo_data.write_csv(demo_data.make_current_batch(2_001), tmp_path / "current.csv")
    spec = load_spec(SPEC_FILE)
    store = open_store(str(tmp_path / "artifacts"))
    snap = snapshot_source("file://applications.csv", spec.contract, store, base_dir=tmp_path)
    trained = steps.train_snapshot(store, spec, snap.uri, snap.content_hash)
    model = {"artifact_uri": trained.artifact_uri, "sha256": trained.sha256, "version": 1}

    one = steps.score_source(store, spec, "file://current.csv", model=model, base_dir=tmp_path)
    parts = scale.score_partitions.with_options(task_runner=scale.task_runner("local"))(
        str(SPEC_FILE), str(tmp_path / "artifacts"), "file://current.csv", str(tmp_path), model, 3
    )

    assert parts.inputs_sha256 == one.inputs_sha256  # same stored inputs, one snapshot
    assert (parts.rows, parts.mean_score, parts.positive_rate) == (
        one.rows,
        one.mean_score,
        one.positive_rate,
    )
    read = [
        pd.read_parquet(uri.removeprefix("file://"))
        for uri in (one.predictions_uri, parts.predictions_uri)
    ]
    columns = [c for c in read[0].columns if c not in ("prediction_id", "scored_at")]
    pd.testing.assert_frame_equal(read[0][columns], read[1][columns])


def test_dask_address_comes_from_the_parameter_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert scale.dask_address(None) is None
    monkeypatch.setenv("MLGATE_DASK_ADDRESS", "tcp://127.0.0.1:8786")
    assert scale.dask_address(None) == "tcp://127.0.0.1:8786"
    assert scale.dask_address("local") == "local"
    assert type(scale.task_runner(None)).__name__ == "ThreadPoolTaskRunner"
    assert type(scale.task_runner("local")).__name__ == "DaskTaskRunner"
