"""Benchmark: online scoring by mlgate against MLflow's model server and a bare floor.

Two models:

* ``reference``: a LogisticRegression on 20 numeric features;
* ``demo``: the demo project's production model, trained by the project's own
  training code (``flows.train.fit``: every candidate, cross-validated, best kept) on
  the demo's data.

Each is served, one worker each, ``OMP_NUM_THREADS=1``, on loopback, by

* ``mlgate``: ``mlgate serve`` with contract validation and prediction logging on,
  the model registered and promoted through a governance server;
* ``mlflow``: ``mlflow models serve --env-manager local`` from its own virtual
  environment (``$MLGATE_MLFLOW_BIN``), the model saved there with an inferred
  signature and ``predict_proba`` as its pyfunc method, requests as
  ``dataframe_split``;
* ``floor``: a bare FastAPI endpoint that parses JSON and calls ``predict_proba``
  (``bench/_floor_server.py``), on the same uvicorn/uvloop/httptools stack as mlgate.

Load comes from ``wrk`` (one thread, 32 connections, a separate process) for
1-record and 100-record requests, ``--duration`` seconds each after a warm-up. A
request that is not answered 2xx counts as an error.

Batch scoring: ``scoring.batch.score_frame`` (contract check, ``predict_proba``, one
prediction id per row, output frame) against the raw ``model.predict`` on the same
in-memory 1,000,000-row frame, for both models, alternating, best of three each.

Goals: reference model — mlgate at least 0.6x the floor's requests/s and a lower p99
than MLflow (1- and 100-record requests); demo model — mlgate at least the floor's
requests/s on 1-record requests; batch scoring at least 0.8x raw predict rows/s.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/serving.py [--duration 8]``
(needs ``wrk``: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import httpx  # noqa: E402
import numpy as np  # noqa: E402  (after the thread settings)
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.store import LocalArtifactStore  # noqa: E402
from core.spec import ProjectSpec, dump_spec, load_spec, parse_spec  # noqa: E402
from flows import train as train_lib  # noqa: E402
from governance.admin import bootstrap_admin  # noqa: E402
from governance.client import GovernanceClient  # noqa: E402
from governance.server import serve_in_thread  # noqa: E402
from mlgate.demo.data import make_applications  # noqa: E402
from mlgate.demo.run import SPEC_FILE  # noqa: E402
from scoring import model_format  # noqa: E402
from scoring.batch import score_frame  # noqa: E402

CONNECTIONS = 32
SIZES = (1, 100)
GOAL_REF_RPS = 0.6
GOAL_DEMO_RPS = 1.0
GOAL_BATCH = 0.8
BATCH_ROWS = 1_000_000
CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PYTHONPATH": str(ROOT),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- models


def reference_spec() -> ProjectSpec:
    columns: list[dict[str, Any]] = [
        {"name": f"f{i}", "type": "float", "min": -100, "max": 100} for i in range(20)
    ]
    columns.append({"name": "y", "type": "int", "role": "target", "allowed": [0, 1]})
    return parse_spec(
        {
            "name": "bench-reference",
            "source": "file://reference.csv",
            "contract": {"columns": columns},
            "policy": {"metric_floors": {}, "require_validation": False},
        },
        origin="bench",
    )


def reference_data(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 20))
    logit = x @ rng.normal(size=20) * 0.5
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)])
    frame["y"] = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    return frame


def train_reference() -> Any:
    from sklearn.linear_model import LogisticRegression

    data = reference_data(20_000)
    return LogisticRegression(max_iter=1000).fit(data.drop(columns="y"), data["y"])


def train_demo(spec: ProjectSpec) -> tuple[Any, str]:
    frame = make_applications(20_000, seed=7)
    result = train_lib.fit(frame, spec)
    return result.best_model, result.best.name


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append(
            {
                k: (
                    None
                    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                    else (v.item() if isinstance(v, np.generic) else v)
                )
                for k, v in row.items()
            }
        )
    return out


# --------------------------------------------------------------------------- servers


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


@contextmanager
def running(cmd: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            wait_ready(ready_url, proc)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def uvicorn_cmd(app: str, port: int, app_dir: str | None = None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return cmd + (["--app-dir", app_dir] if app_dir else [])


# --------------------------------------------------------------------------- load


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, body: bytes, duration: float, workdir: Path) -> dict[str, float]:
    body_file = workdir / f"body-{secrets.token_hex(4)}.json"
    body_file.write_bytes(body)
    script = workdir / f"post-{secrets.token_hex(4)}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\n'
        'wrk.body = f:read("*a")\nf:close()\n'
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{max(1, int(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if "50" not in lat or "99" not in lat:
        raise RuntimeError(f"wrk gave no latency distribution:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return {
        "rps": rps,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "requests": total,
        "errors": errors,
    }


# --------------------------------------------------------------------------- the run


def bodies(kind: str, records: list[dict[str, Any]], features: list[str]) -> dict[int, bytes]:
    out = {}
    for n in SIZES:
        chunk = [{k: r[k] for k in features} for r in records[:n]]
        if kind == "mlflow":
            data = [[r[k] for k in features] for r in chunk]
            payload: Any = {"dataframe_split": {"columns": features, "data": data}}
        else:
            payload = {"records": chunk}
        out[n] = json.dumps(payload).encode()
    return out


def check_answer(kind: str, url: str, body: bytes) -> None:
    response = httpx.post(
        url, content=body, headers={"content-type": "application/json"}, timeout=30
    )
    if response.status_code != 200:
        raise RuntimeError(f"{kind} answered {response.status_code}: {response.text[:300]}")


def bench_model(
    name: str,
    spec: ProjectSpec,
    model: Any,
    records: list[dict[str, Any]],
    gov: dict[str, Any],
    workdir: Path,
    duration: float,
    servers: tuple[str, ...] = ("floor", "mlgate", "mlflow"),
) -> dict[str, dict[int, dict[str, float]]]:
    store: LocalArtifactStore = gov["store"]
    features = list(spec.contract.features)
    art = store.put_bytes(model_format.dumps(model), kind="models", suffix=".skops")
    model_file = store.local_path(art.uri)
    # governance: the project, a dataset, the model, promoted
    dev: GovernanceClient = gov["dev"]
    dev.ensure_project(
        spec.name, "bench", spec.policy.model_dump(mode="json", exclude={"request_ttl_hours"})
    )
    ds = dev.register_dataset(
        spec.name,
        source="file://bench.csv",
        snapshot_uri=f"file://{store.root.as_posix()}/snapshots/x.parquet",
        content_hash=secrets.token_hex(32),
        row_count=1,
        contract_version=1,
    )
    dev.record_validation(spec.name, ds.version, passed=True, summary={})
    mv = dev.register_model(
        spec.name,
        algorithm=name,
        params={},
        metrics={"roc_auc": 0.9},
        artifact_uri=art.uri,
        sha256=art.sha256,
        dataset_version=ds.version,
        code_version="bench",
    )
    req = dev.request_promotion(spec.name, mv.version)
    gov["approver"].decide(str(req.id), "approve")
    spec_file = workdir / f"{name}.yaml"
    spec_file.write_text(dump_spec(spec))
    results: dict[str, dict[int, dict[str, float]]] = {}

    def measure(kind: str, url: str) -> None:
        payloads = bodies(kind, records, features)
        check_answer(kind, url, payloads[SIZES[-1]])
        results[kind] = {}
        for n in SIZES:
            run_wrk(url, payloads[n], min(2.0, duration), workdir)  # warm-up
            results[kind][n] = run_wrk(url, payloads[n], duration, workdir)
            r = results[kind][n]
            print(
                f"  {name:9} {kind:6} {n:>3} rec: {r['rps']:8.0f} req/s  p50 "
                f"{r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}",
                flush=True,
            )

    # floor
    if "floor" in servers:
        port = free_port()
        with running(
            uvicorn_cmd("bench._floor_server:app", port),
            {**CHILD_ENV, "FLOOR_MODEL": str(model_file)},
            f"http://127.0.0.1:{port}/docs",
            workdir / f"{name}-floor.log",
        ):
            measure("floor", f"http://127.0.0.1:{port}/predict")
    # mlgate
    if "mlgate" in servers:
        port = free_port()
        env = {
            **CHILD_ENV,
            "MLGATE_GOVERNANCE_URL": gov["url"],
            "MLGATE_TOKEN": gov["token"],
            "MLGATE_STORE": str(store.root),
        }
        cmd = [
            sys.executable,
            "-m",
            "mlgate.cli",
            "serve",
            "--spec",
            str(spec_file),
            "--port",
            str(port),
        ]
        with running(cmd, env, f"http://127.0.0.1:{port}/readyz", workdir / f"{name}-mlgate.log"):
            measure("mlgate", f"http://127.0.0.1:{port}/api/v1/projects/{spec.name}/predict")
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        calls = re.search(r"mlgate_model_call_requests_count (\S+)", metrics)
        reqs = re.search(r"mlgate_model_call_requests_sum (\S+)", metrics)
        if calls and reqs and float(calls.group(1)):
            print(
                f"  {name:9} mlgate: {float(reqs.group(1)) / float(calls.group(1)):.1f} "
                "requests per model call on average",
                flush=True,
            )
    # mlflow
    if "mlflow" in servers:
        mlflow_bin = os.environ.get("MLGATE_MLFLOW_BIN", str(ROOT / ".tools/mlflow/bin/mlflow"))
        mlflow_python = str(Path(mlflow_bin).with_name("python"))
        example = workdir / f"{name}-example.json"
        example.write_text(json.dumps([{k: r[k] for k in features} for r in records[:200]]))
        mlflow_model = workdir / f"{name}-mlflow"
        subprocess.run(
            [
                mlflow_python,
                str(ROOT / "bench/_mlflow_save.py"),
                str(model_file),
                str(mlflow_model),
                str(example),
            ],
            check=True,
            env={**os.environ, **CHILD_ENV, "PYTHONPATH": ""},
            capture_output=True,
            timeout=300,
        )
        port = free_port()
        cmd = [
            mlflow_bin,
            "models",
            "serve",
            "-m",
            str(mlflow_model),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ]
        path = f"{Path(mlflow_bin).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        with running(
            cmd,
            {**CHILD_ENV, "PYTHONPATH": "", "PATH": path},
            f"http://127.0.0.1:{port}/ping",
            workdir / f"{name}-mlflow.log",
        ):
            measure("mlflow", f"http://127.0.0.1:{port}/invocations")
    return results


def bench_batch(name: str, spec: ProjectSpec, model: Any, frame: pd.DataFrame) -> dict[str, float]:
    features = list(spec.contract.features)
    raw, ours = math.inf, math.inf
    # Alternating, best of three each: neither side pays the first touch of the frame.
    for _ in range(3):
        started = time.perf_counter()
        model.predict(frame[features])
        raw = min(raw, time.perf_counter() - started)
        started = time.perf_counter()
        scored = score_frame(model, frame, spec.contract, model_version=f"{spec.name}@1")
        ours = min(ours, time.perf_counter() - started)
        assert len(scored) == len(frame)
    out = {"raw_rows_per_s": len(frame) / raw, "mlgate_rows_per_s": len(frame) / ours}
    out["ratio"] = out["mlgate_rows_per_s"] / out["raw_rows_per_s"]
    print(
        f"  {name:9} batch: raw predict {out['raw_rows_per_s']:,.0f} rows/s, "
        f"score_frame {out['mlgate_rows_per_s']:,.0f} rows/s ({out['ratio']:.2f}x)",
        flush=True,
    )
    return out


def diagnose(model_name: str, servers: tuple[str, ...], duration: float) -> None:
    """Load runs of some servers for one model, for tuning; prints no JSON line."""
    workdir = Path(tempfile.mkdtemp(prefix="mlgate-bench-serving-"))
    if model_name == "demo":
        spec = load_spec(SPEC_FILE).model_copy(update={"name": "bench-demo"})
        model, _ = train_demo(spec)
        records = json_records(make_applications(500, seed=11).head(200))
    else:
        spec, model = reference_spec(), train_reference()
        records = json_records(reference_data(200, seed=1).drop(columns="y"))
    db = f"sqlite:///{workdir / 'governance.db'}"
    with serve_in_thread(db, stores=[f"file://{workdir / 'artifacts'}"]) as server:
        admin = GovernanceClient(server.url, bootstrap_admin(db))
        _, dev_token = admin.create_principal("bench-dev", "developer")
        _, ok_token = admin.create_principal("bench-approver", "approver")
        _, svc_token = admin.create_principal("bench-server", "viewer", kind="service")
        with (
            GovernanceClient(server.url, dev_token) as dev,
            GovernanceClient(server.url, ok_token) as approver,
        ):
            gov = {
                "url": server.url,
                "token": svc_token,
                "dev": dev,
                "approver": approver,
                "store": LocalArtifactStore(workdir / "artifacts"),
            }
            bench_model(model_name, spec, model, records, gov, workdir, duration, servers)
        admin.close()
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load run")
    parser.add_argument(
        "--only", default="", help="diagnostics: e.g. 'reference:mlgate,floor' (no goals)"
    )
    args = parser.parse_args()
    if args.only:
        model_name, _, kinds = args.only.partition(":")
        diagnose(model_name, tuple(kinds.split(",")), args.duration)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="mlgate-bench-serving-"))
    demo_spec = load_spec(SPEC_FILE).model_copy(update={"name": "bench-demo"})
    ref_spec = reference_spec()

    print("training: reference LogisticRegression, demo model (the project's training)", flush=True)
    ref_model = train_reference()
    demo_model, demo_algorithm = train_demo(demo_spec)
    print(f"  demo model: {demo_algorithm}", flush=True)
    ref_records = json_records(reference_data(200, seed=1).drop(columns="y"))
    demo_records = json_records(make_applications(500, seed=11).head(200))

    db = f"sqlite:///{workdir / 'governance.db'}"
    figures: dict[str, Any] = {}
    with serve_in_thread(db, stores=[f"file://{workdir / 'artifacts'}"]) as server:
        admin = GovernanceClient(server.url, bootstrap_admin(db))
        _, dev_token = admin.create_principal("bench-dev", "developer")
        _, ok_token = admin.create_principal("bench-approver", "approver")
        _, svc_token = admin.create_principal("bench-server", "viewer", kind="service")
        with (
            GovernanceClient(server.url, dev_token) as dev,
            GovernanceClient(server.url, ok_token) as approver,
        ):
            gov = {
                "url": server.url,
                "token": svc_token,
                "dev": dev,
                "approver": approver,
                "store": LocalArtifactStore(workdir / "artifacts"),
            }
            print(
                f"online: wrk, 1 thread, {CONNECTIONS} connections, {args.duration:g} s per run",
                flush=True,
            )
            figures["reference"] = bench_model(
                "reference", ref_spec, ref_model, ref_records, gov, workdir, args.duration
            )
            figures["demo"] = bench_model(
                "demo", demo_spec, demo_model, demo_records, gov, workdir, args.duration
            )
        admin.close()

    print("batch: 1,000,000 rows in memory", flush=True)
    batch = {
        "reference": bench_batch(
            "reference", ref_spec, ref_model, reference_data(BATCH_ROWS, seed=3)
        ),
        "demo": bench_batch("demo", demo_spec, demo_model, make_applications(BATCH_ROWS, seed=5)),
    }

    ratios: dict[str, float] = {}
    for model_name in ("reference", "demo"):
        f = figures[model_name]
        for n in SIZES:
            ratios[f"{model_name}_{n}_mlgate_vs_floor_rps"] = (
                f["mlgate"][n]["rps"] / f["floor"][n]["rps"]
            )
            ratios[f"{model_name}_{n}_mlgate_vs_mlflow_rps"] = (
                f["mlgate"][n]["rps"] / f["mlflow"][n]["rps"]
            )
            ratios[f"{model_name}_{n}_floor_vs_mlflow_rps"] = (
                f["floor"][n]["rps"] / f["mlflow"][n]["rps"]
            )
            ratios[f"{model_name}_{n}_mlgate_vs_mlflow_p99"] = (
                f["mlgate"][n]["p99_ms"] / f["mlflow"][n]["p99_ms"]
            )
        ratios[f"{model_name}_batch_vs_raw_predict"] = batch[model_name]["ratio"]
    errors = sum(r["errors"] for m in figures.values() for k in m.values() for r in k.values())
    goals = {
        "reference_1_rps_vs_floor_ge_0.6": ratios["reference_1_mlgate_vs_floor_rps"]
        >= GOAL_REF_RPS,
        "reference_100_rps_vs_floor_ge_0.6": ratios["reference_100_mlgate_vs_floor_rps"]
        >= GOAL_REF_RPS,
        "reference_1_p99_below_mlflow": ratios["reference_1_mlgate_vs_mlflow_p99"] < 1.0,
        "reference_100_p99_below_mlflow": ratios["reference_100_mlgate_vs_mlflow_p99"] < 1.0,
        "demo_1_rps_vs_floor_ge_1.0": ratios["demo_1_mlgate_vs_floor_rps"] >= GOAL_DEMO_RPS,
        "batch_reference_ge_0.8": batch["reference"]["ratio"] >= GOAL_BATCH,
        "batch_demo_ge_0.8": batch["demo"]["ratio"] >= GOAL_BATCH,
        "no_errors": errors == 0,
    }

    print()
    print(
        f"{'model':10} {'server':7} {'records':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6}"
    )
    for model_name, by_kind in figures.items():
        for kind, by_n in by_kind.items():
            for n, r in by_n.items():
                print(
                    f"{model_name:10} {kind:7} {n:>7} {r['rps']:9.0f} {r['p50_ms']:8.2f} "
                    f"{r['p99_ms']:8.2f} {r['errors']:6d}"
                )
    for key, value in ratios.items():
        print(f"  {key:40} {value:7.2f}")
    for key, ok in goals.items():
        print(f"  goal {key:40} {'met' if ok else 'MISSED'}")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    shutil.rmtree(workdir, ignore_errors=True)
    flat = {
        f"{m}_{k}_{n}_{metric}": v
        for m, by_kind in figures.items()
        for k, by_n in by_kind.items()
        for n, r in by_n.items()
        for metric, v in r.items()
    }
    flat.update({f"batch_{m}_{k}": v for m, b in batch.items() for k, v in b.items()})
    flat["demo_algorithm"] = demo_algorithm
    print(
        json.dumps(
            {
                "bench": "serving",
                "figures": flat,
                "ratios": {k: round(v, 3) for k, v in ratios.items()},
                "goals": goals,
                "met": all(goals.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
