"""Orchestration overhead: the pipeline through Prefect against the same functions in plain Python.

Part A runs the whole pipeline (ingest, validate, train, register, request promotion,
approval through governance, batch scoring, drift, record) on the same generated
table, alternately:

* through Prefect: the ``mlgate-pipeline`` flow against a standalone local Prefect
  server started here (flow and task runs, logs, artifacts and persisted results all
  go to that server), and
* in plain Python: the same library functions (``flows.steps``, the connectors, the
  governance client) called one after the other.

Both sides talk to the same governance service (uvicorn in a thread, SQLite); an
approver thread approves each request, so the gate costs the same on both sides.
Each run gets its own project and artifact store, so no dedup short-cuts a run.
Goal: Prefect's median wall time at most 1.25x plain Python's.

Training uses the spec's ``max_train_rows`` subsample (40,000 rows by default, the same
on both sides); ingest, validation, scoring and drift see all rows.

Part B trains 6 candidates (the spec's 3 algorithms with 2 seeds) on a Dask
LocalCluster (2 worker processes, started inside the timing) against Prefect's
default task runner (threads), through the ``mlgate-train-candidates`` flow.

Usage: ``python bench/orchestration.py [--rows 200000] [--runs 5]``; the last line is
JSON. Loopback only; bounded by the row counts and run counts.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

from core import offline  # noqa: E402

GOAL_RATIO = 1.25


def start_prefect(work: Path) -> Any:
    """A standalone Prefect server on a free port; this process's API points at it."""
    from mlgate.stack.services import start_prefect as start_server

    os.environ["PREFECT_HOME"] = str(work / "prefect-client")
    port = _free_port()
    svc = start_server(work / "stack", "127.0.0.1", port, timeout=180)
    os.environ["PREFECT_API_URL"] = f"{svc.url}/api"
    return svc


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_spec(work: Path, name: str, max_train_rows: int | None = None) -> Path:
    """The demo spec under its own project name (one project per run)."""
    from mlgate.demo.run import SPEC_FILE

    spec = yaml.safe_load(SPEC_FILE.read_text())
    spec["name"] = name
    if max_train_rows:
        spec["training"]["max_train_rows"] = max_train_rows
    path = work / "specs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


class Approver(threading.Thread):
    """Approves every pending request of the projects it is told about."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True, name="approver")
        from governance.client import GovernanceClient

        self.client = GovernanceClient(url, token)
        self.projects: set[str] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        from governance.errors import MlgateError

        while not self.stop.is_set():
            for project in list(self.projects):
                try:
                    for req in self.client.list_promotion_requests(project, status="pending"):
                        self.client.decide(str(req.id), "approve", comment="bench")
                except MlgateError:
                    pass
            time.sleep(0.05)


def plain_pipeline(
    spec_path: Path, data_dir: Path, store_url: str, url: str, token: str
) -> dict[str, Any]:
    """The pipeline's steps as plain function calls, no Prefect."""
    from connectors.store import open_store
    from core.spec import load_spec
    from flows import gate, steps
    from flows.ingest import snapshot_source
    from governance.client import GovernanceClient

    spec = load_spec(spec_path)
    store = open_store(store_url)
    with GovernanceClient(url, token) as client:
        client.ensure_project(
            spec.name, description=spec.description, policy=spec.policy.model_dump(mode="json")
        )
        snap = snapshot_source(spec.source, spec.contract, store, base_dir=data_dir)
        ds = client.register_dataset(
            spec.name,
            source=snap.source,
            snapshot_uri=snap.uri,
            content_hash=snap.content_hash,
            row_count=snap.rows,
            contract_version=spec.contract.version,
        )
        report = steps.validate_snapshot(store, spec, snap.uri, snap.content_hash)
        client.record_validation(
            spec.name, ds.version, passed=report.success, summary=report.to_dict()
        )
        trained = steps.train_snapshot(store, spec, snap.uri, snap.content_hash)
        mv = client.register_model(
            spec.name,
            algorithm=trained.algorithm,
            params=trained.params,
            metrics=trained.metrics,
            artifact_uri=trained.artifact_uri,
            sha256=trained.sha256,
            dataset_version=ds.version,
            code_version="bench",
        )
        req = client.request_promotion(spec.name, mv.version)
        decided = gate.wait_polling(client, str(req.id), timeout_s=600, poll_s=0.1)
        gate.confirm_promoted(client, decided)
        current = client.current_stage(spec.name)
        assert current is not None
        scored = steps.score_source(
            store,
            spec,
            "file://current.csv",
            model=current.model.model_dump(mode="json"),
            base_dir=data_dir,
        )
        drift, _markdown = steps.drift_against_reference(
            store,
            spec,
            reference_uri=snap.uri,
            reference_sha256=snap.content_hash,
            current_uri=scored.inputs_uri,
            current_sha256=scored.inputs_sha256,
        )
        steps.record_drift(client, spec, mv.version, drift)
    return {"model_version": mv.version, "algorithm": trained.algorithm, "metrics": trained.metrics}


def prefect_pipeline(
    spec_path: Path, data_dir: Path, store_url: str, url: str, token: str
) -> dict[str, Any]:
    """The ``mlgate-pipeline`` flow against the standalone Prefect server."""
    from flows.pipeline import PipelineParams, pipeline

    os.environ["MLGATE_TOKEN"] = token
    params = PipelineParams(
        spec_path=str(spec_path),
        data_dir=str(data_dir),
        store_url=store_url,
        governance_url=url,
        current_source="file://current.csv",
        poll_interval_s=0.1,
        gate="poll",
    )
    summary = pipeline(params)
    return {
        "model_version": summary.model_version,
        "algorithm": summary.model.algorithm,
        "metrics": summary.model.metrics,
    }


def part_a(work: Path, rows: int, runs: int, max_train_rows: int) -> dict[str, Any]:
    from governance.admin import bootstrap_admin
    from governance.client import GovernanceClient
    from governance.server import serve_in_thread
    from mlgate.demo import data as demo_data

    data_dir = work / "data"
    demo_data.write_csv(demo_data.make_applications(rows), data_dir / "applications.csv")
    demo_data.write_csv(
        demo_data.make_current_batch(max(rows // 5, 1000)), data_dir / "current.csv"
    )
    warm_dir = work / "warm-up"  # a small table: imports and first registrations only
    demo_data.write_csv(demo_data.make_applications(5_000), warm_dir / "applications.csv")
    demo_data.write_csv(demo_data.make_current_batch(1_000), warm_dir / "current.csv")
    db = f"sqlite:///{work / 'governance.db'}"
    admin_token = bootstrap_admin(db)
    times: dict[str, list[float]] = {"prefect": [], "plain": []}
    results: dict[str, list[dict[str, Any]]] = {"prefect": [], "plain": []}
    stores = [f"file://{work / 'stores'}"]  # every contender's store lies under it
    with (
        serve_in_thread(db, stores=stores) as server,
        GovernanceClient(server.url, admin_token) as admin,
    ):
        _, runner_token = admin.create_principal("runner", "developer", kind="service")
        _, approver_token = admin.create_principal("approver", "approver")
        approver = Approver(server.url, approver_token)
        approver.start()
        # One untimed warm-up per side on a small table (imports, first registrations).
        plan = [("plain", -1), ("prefect", -1)] + [
            (side, i) for i in range(runs) for side in ("prefect", "plain")
        ]
        for side, i in plan:
            name = f"b{side[:2]}{secrets.token_hex(3)}"
            spec_path = bench_spec(work, name, max_train_rows)
            approver.projects.add(name)
            fn = prefect_pipeline if side == "prefect" else plain_pipeline
            store = str(work / "stores" / name)
            started = time.perf_counter()
            out = fn(spec_path, warm_dir if i < 0 else data_dir, store, server.url, runner_token)
            elapsed = time.perf_counter() - started
            label = "warm-up" if i < 0 else f"run {i + 1}"
            print(f"  {side:<8} {label:<8} {elapsed:7.2f} s  best {out['algorithm']}", flush=True)
            if i >= 0:
                times[side].append(elapsed)
                results[side].append(out)
        approver.stop.set()
    same = all(
        a["algorithm"] == b["algorithm"] and a["metrics"] == b["metrics"]
        for a, b in zip(results["prefect"], results["plain"], strict=True)
    )
    return {"times": times, "same_models": same}


def part_b(work: Path, rows: int, runs: int) -> dict[str, Any]:
    from connectors.store import open_store
    from core.spec import load_spec
    from flows import scale
    from flows.ingest import snapshot_source
    from mlgate.demo import data as demo_data

    data_dir = work / "train-data"
    demo_data.write_csv(demo_data.make_applications(rows), data_dir / "applications.csv")
    spec_path = bench_spec(work, "bench-dask")
    spec = load_spec(spec_path)
    store_url = str(work / "train-store")
    snap = snapshot_source(spec.source, spec.contract, open_store(store_url), base_dir=data_dir)
    times: dict[str, list[float]] = {"threads": [], "dask_local": []}
    boards: dict[str, list[Any]] = {"threads": [], "dask_local": []}
    for i in range(runs):
        for side, address in (("threads", None), ("dask_local", "local")):
            runner = scale.task_runner(address)
            started = time.perf_counter()
            trained = scale.train_candidates.with_options(task_runner=runner)(
                str(spec_path), store_url, snap.uri, snap.content_hash, seeds=[42, 43]
            )
            elapsed = time.perf_counter() - started
            print(f"  {side:<10} run {i + 1}  {elapsed:7.2f} s  (6 candidates)", flush=True)
            times[side].append(elapsed)
            boards[side].append(
                [{k: v for k, v in r.items() if k != "fit_seconds"} for r in trained.leaderboard]
            )
    same = all(a == b for a, b in zip(boards["threads"], boards["dask_local"], strict=True))
    return {"times": times, "same_leaderboard": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the pipeline's table")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per side (>= 5)")
    parser.add_argument(
        "--max-train-rows",
        type=int,
        default=40_000,
        help="the spec's training.max_train_rows (training subsample; every other step "
        "sees all rows)",
    )
    parser.add_argument("--train-rows", type=int, default=20_000, help="rows for part B")
    parser.add_argument("--train-runs", type=int, default=3, help="timed runs per runner, part B")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlgate-bench-orch-") as tmp:
        work = Path(tmp)
        server = start_prefect(work)
        try:
            print(f"A. pipeline on {args.rows:,} rows: Prefect ({server.url}) vs plain Python")
            a = part_a(work, args.rows, args.runs, args.max_train_rows)
            print(f"B. 6 candidates on {args.train_rows:,} rows: Dask LocalCluster vs threads")
            b = part_b(work, args.train_rows, args.train_runs)
        finally:
            from prefect.logging.handlers import APILogHandler

            from mlgate.stack.processes import stop

            try:
                APILogHandler().flush()  # the runs' last logs reach the server first
            finally:
                stop(server)

    med = {k: statistics.median(v) for k, v in a["times"].items()}
    bmed = {k: statistics.median(v) for k, v in b["times"].items()}
    ratio = med["prefect"] / med["plain"]
    dask_ratio = bmed["dask_local"] / bmed["threads"]
    print()
    print(f"{'measure':<44}{'median s':>10}")
    print(f"{'A. pipeline, plain Python':<44}{med['plain']:>10.2f}")
    print(f"{'A. pipeline, through Prefect':<44}{med['prefect']:>10.2f}")
    print(f"{'   ratio Prefect / plain (goal <= 1.25)':<44}{ratio:>10.3f}")
    print(f"{'B. 6 candidates, default runner (threads)':<44}{bmed['threads']:>10.2f}")
    print(f"{'B. 6 candidates, Dask LocalCluster':<44}{bmed['dask_local']:>10.2f}")
    print(f"{'   ratio Dask / threads':<44}{dask_ratio:>10.3f}")
    print(f"same models A: {a['same_models']}; same leaderboard B: {b['same_leaderboard']}")
    met = ratio <= GOAL_RATIO and a["same_models"] and b["same_leaderboard"]
    out = {
        "bench": "orchestration",
        "figures": {
            "rows": args.rows,
            "runs": args.runs,
            "max_train_rows": args.max_train_rows,
            "pipeline_plain_median_s": round(med["plain"], 3),
            "pipeline_prefect_median_s": round(med["prefect"], 3),
            "pipeline_plain_s": [round(t, 3) for t in a["times"]["plain"]],
            "pipeline_prefect_s": [round(t, 3) for t in a["times"]["prefect"]],
            "train_rows": args.train_rows,
            "train6_threads_median_s": round(bmed["threads"], 3),
            "train6_dask_local_median_s": round(bmed["dask_local"], 3),
            "same_models": a["same_models"],
            "same_leaderboard": b["same_leaderboard"],
        },
        "ratios": {
            "prefect_over_plain": round(ratio, 3),
            "dask_local_over_threads": round(dask_ratio, 3),
        },
        "goals": {"prefect_over_plain": f"<= {GOAL_RATIO}"},
        "met": met,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    offline.apply()
    main()
