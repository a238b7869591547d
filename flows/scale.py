"""Training candidates and scoring partitions on a Dask cluster through prefect-dask.

A cluster is used when one is configured: the flow parameter ``dask_address`` or
``MLGATE_DASK_ADDRESS`` (``tcp://host:8786`` for a running scheduler, ``local`` for a
``LocalCluster`` started for the run). Each candidate (or partition) is one Prefect task
on the cluster; tasks read their input from the artifact store themselves, never get
a frame passed in, and send back only what the flow needs (a candidate's metrics and
its model as skops bytes; a partition's scored rows as parquet bytes), which is not
persisted. The functions they call are the ones used without a cluster, with the same
seeds, so the leaderboard and the scores are the same.
"""

from __future__ import annotations

import io
import itertools
import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from connectors.store import open_store
from core import offline
from core.spec import load_spec
from flows import steps
from flows.results import Scored, Trained
from flows.settings import get_settings


def dask_address(explicit: str | None = None) -> str | None:
    """The configured cluster: ``explicit``, else ``MLGATE_DASK_ADDRESS``, else None.

    Raises:
        SettingsError: ``MLGATE_DASK_ADDRESS`` is not a Dask address.
    """
    return explicit or get_settings().dask_address


def task_runner(address: str | None, *, local_workers: int = 2) -> TaskRunner[Any]:
    """A DaskTaskRunner for ``address`` (``local``: a LocalCluster without dashboard),
    else Prefect's default thread pool."""
    if not address:
        return ThreadPoolTaskRunner()
    from prefect_dask.task_runners import DaskTaskRunner

    if address == "local":
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": local_workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            },
        )
    return DaskTaskRunner(address=address)


# ------------------------------------------------------------------------------ training
@task(name="fit-candidate", cache_policy=NO_CACHE, persist_result=False)
def fit_candidate_task(
    spec_path: str, store_url: str, uri: str, sha256: str, name: str, seed: int | None = None
) -> tuple[dict[str, Any], bytes]:
    """Fit one candidate on the snapshot; its result and the model as skops bytes."""
    from flows import train as train_lib
    from scoring import model_format

    spec = load_spec(spec_path)
    if seed is not None:
        spec = spec.model_copy(update={"training": spec.training.model_copy(update={"seed": seed})})
    frame = steps.load_frame(open_store(store_url), uri, sha256)
    split = train_lib.prepare(frame, spec)
    result, model = train_lib.fit_candidate(name, split, spec)
    return result.to_dict(), model_format.dumps(model)


@flow(name="mlgate-train-candidates", persist_result=True)
def train_candidates(
    spec_path: str,
    store_url: str,
    snapshot_uri: str,
    snapshot_sha256: str,
    seeds: list[int] | None = None,
) -> Trained:
    """Fit every candidate of the spec (times ``seeds``) as parallel tasks, keep the best.

    Run it with ``train_candidates.with_options(task_runner=task_runner(address))``.
    """
    offline.apply()
    from flows import train as train_lib

    spec = load_spec(spec_path)
    runs: list[int | None] = list(seeds) if seeds else [None]
    plan = [(name, seed) for seed in runs for name in spec.training.candidates]
    futures = [
        fit_candidate_task.submit(spec_path, store_url, snapshot_uri, snapshot_sha256, n, s)
        for n, s in plan
    ]
    fitted = []
    for future in futures:
        result, blob = future.result()
        fitted.append((train_lib.CandidateResult(**result), blob))
    ranked = train_lib.rank(fitted, spec.training.primary_metric)
    best, blob = ranked[0]
    stored = open_store(store_url).put_bytes(blob, kind="models", suffix=".skops")
    metrics = {**best.holdout, "cv_mean": best.cv_mean, "cv_std": best.cv_std}
    return Trained(
        algorithm=best.name,
        params=best.params,
        metrics={k: float(v) for k, v in metrics.items()},
        artifact_uri=stored.uri,
        sha256=stored.sha256,
        leaderboard=train_lib.leaderboard_rows(
            [r for r, _ in ranked], spec.training.primary_metric
        ),
    )


# ------------------------------------------------------------------------------ scoring
@task(name="score-partition", cache_policy=NO_CACHE, persist_result=False)
def score_partition_task(
    spec_path: str, store_url: str, model: dict[str, Any], inputs: tuple[str, str], rows: range
) -> bytes:
    """Score rows ``rows`` of the stored inputs (``(uri, sha256)``); parquet bytes back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from scoring import batch as batch_lib
    from scoring import model_format

    spec = load_spec(spec_path)
    store = open_store(store_url)
    blob = store.get_bytes(model["artifact_uri"], sha256=model["sha256"])
    estimator = model_format.load_verified(blob, expected_sha256=model["sha256"])
    table = store.read_snapshot(inputs[0], sha256=inputs[1]).slice(rows.start, len(rows))
    scored = batch_lib.score_frame(
        estimator,
        table.to_pandas(),
        spec.contract,
        model_version=f"{spec.name}@{model['version']}",
    )
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(scored, preserve_index=False), buf)
    return buf.getvalue()


@flow(name="mlgate-score-partitions", persist_result=True)
def score_partitions(
    spec_path: str,
    store_url: str,
    source: str,
    base_dir: str,
    model: dict[str, Any],
    partitions: int = 4,
) -> Scored:
    """Score ``source`` in ``partitions`` contiguous row ranges as parallel tasks.

    The batch is stored first (content-addressed) so every task reads it from the
    store; the scored parts come back in order and are logged and stored as one batch,
    exactly as ``steps.score_source`` does.
    """
    offline.apply()
    import pandas as pd
    import pyarrow.parquet as pq

    started = time.perf_counter()
    spec = load_spec(spec_path)
    store = open_store(store_url)
    inputs = steps.read_scoring_batch(source, spec.contract, base_dir=Path(base_dir))
    stored = store.write_snapshot(inputs)
    n = inputs.num_rows
    bounds = [round(i * n / partitions) for i in range(partitions + 1)]
    futures = [
        score_partition_task.submit(
            spec_path, store_url, model, (stored.uri, stored.sha256), range(lo, hi)
        )
        for lo, hi in itertools.pairwise(bounds)
        if hi > lo
    ]
    parts = [pq.read_table(io.BytesIO(f.result())).to_pandas() for f in futures]
    scored = pd.concat(parts, ignore_index=True)
    return steps.store_scored(store, spec, model, inputs, inputs.to_pandas(), scored, started)
