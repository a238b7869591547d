"""Benchmark: the governance API against the MLflow model registry, both on PostgreSQL.

Starts, on loopback, mlgate governance (uvicorn, one worker process) and ``mlflow server``
(its own virtual environment, ``$MLGATE_MLFLOW_BIN``, one worker), each on a fresh
PostgreSQL database that is dropped afterwards. A separate load process
(``bench/_governance_load.py``) then drives each with the same number of concurrent
clients, one phase per operation, bounded in count and time:

* mlgate: register model version, request promotion, approve (first of two approvals),
  promote (the second approval, which passes the gate and assigns production — stage
  history row plus audit events in the same transaction), read lineage;
* MLflow: create model version, set a version tag (how MLflow users record an approval),
  set the ``production`` alias, get model version.

It checks that no acknowledged version was lost or duplicated on either side, that
mlgate ends with exactly one production model and a verifying audit chain, and prints a
table and, last, one JSON line. Goals: register and promote at least 2x MLflow's
requests/s (create version, set alias), p99 of every mlgate operation under 250 ms, no
lost or duplicated versions.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/governance_api.py [--clients 24]``
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG_HOST, PG_PORT = "127.0.0.1", 5432
GOALS_RPS_RATIO = 2.0
GOALS_P99_MS = 250.0
PAIRS = {"register": "create_version", "promote": "set_alias", "approve": "set_tag"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped on exit; yields its name."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _server(cmd: list[str], env: dict[str, str], health: str, log: Path) -> Iterator[int]:
    """Run ``cmd`` in its own process group until the ``with`` ends; wait for ``health``."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(health, timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{health} not healthy after 90 s")
            time.sleep(0.2)
        yield proc.pid  # also its process group id
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _table(figures: dict[str, Any]) -> str:
    rows = [("system", "operation", "ok", "errors", "req/s", "p50 ms", "p99 ms", "cpu ms/op")]
    for system in ("mlgate", "mlflow"):
        for op, s in figures[system].items():
            if op == "checks":
                continue
            errors = sum(s["errors"].values())
            rows.append(
                (
                    system,
                    op,
                    str(s["ok"]),
                    str(errors),
                    f"{s['rps']:.1f}",
                    f"{s['p50_ms']:.1f}",
                    f"{s['p99_ms']:.1f}",
                    str(s["cpu_ms_per_op"]),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i > 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--n", type=int, default=300, help="operations per phase (at most)")
    parser.add_argument("--seconds", type=float, default=8.0, help="time cap per phase")
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes (both servers)"
    )
    parser.add_argument(
        "--warmup", type=int, default=40, help="unmeasured operations of each kind first"
    )
    args = parser.parse_args()
    mlflow_bin = os.environ.get("MLGATE_MLFLOW_BIN", str(ROOT / ".tools/mlflow/bin/mlflow"))
    env = _env()
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp,
        _database("mlgate_bench_gov") as gov_db,
        _database("mlgate_bench_mlflow") as mlf_db,
    ):
        gov_url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{gov_db}"
        sys.path.insert(0, str(ROOT))
        from governance.admin import bootstrap_admin

        admin_token = bootstrap_admin(gov_url, name="bench-admin")  # migrates, first admin
        gov_port, mlf_port = _free_port(), _free_port()
        gov_cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "governance.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(gov_port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        mlf_cmd = [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{mlf_db}",
            "--default-artifact-root",
            f"{tmp}/mlflow-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(mlf_port),
            "--workers",
            str(args.workers),
            "--uvicorn-opts",
            "--log-level warning --no-access-log",
        ]
        # The load registers snapshots and models in these two (S3) stores.
        gov_env = {**env, "MLGATE_DATABASE_URL": gov_url, "MLGATE_STORES": "s3://snap,s3://models"}
        with (
            _server(
                gov_cmd,
                gov_env,
                f"http://127.0.0.1:{gov_port}/api/v1/health",
                Path(tmp) / "governance.log",
            ) as gov_pgid,
            _server(
                mlf_cmd, env, f"http://127.0.0.1:{mlf_port}/health", Path(tmp) / "mlflow.log"
            ) as mlf_pgid,
        ):
            cfg = {
                "mlgate_url": f"http://127.0.0.1:{gov_port}",
                "admin_token": admin_token,
                "mlflow_url": f"http://127.0.0.1:{mlf_port}",
                "n": args.n,
                "clients": args.clients,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "mlgate_pgid": gov_pgid,
                "mlflow_pgid": mlf_pgid,
            }
            load = subprocess.run(
                [sys.executable, str(ROOT / "bench/_governance_load.py"), json.dumps(cfg)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if load.returncode != 0:
                print(load.stderr[-4000:], file=sys.stderr)
                raise SystemExit("load process failed")
            figures: dict[str, Any] = json.loads(load.stdout.strip().splitlines()[-1])
    mg, mf = figures["mlgate"], figures["mlflow"]
    ratios: dict[str, float | None] = {
        f"{a}_rps_vs_{b}": round(mg[a]["rps"] / mf[b]["rps"], 2) if mf[b]["rps"] else None
        for a, b in PAIRS.items()
    }
    for a, b in PAIRS.items():  # server CPU per request: MLflow's over mlgate's
        cpu_a, cpu_b = mg[a]["cpu_ms_per_op"], mf[b]["cpu_ms_per_op"]
        ratios[f"{a}_cpu_efficiency_vs_{b}"] = round(cpu_b / cpu_a, 2) if cpu_a and cpu_b else None
    ops = [k for k in mg if k != "checks"]
    checks_ok = (
        all(
            c["lost"] == 0 and c["duplicates"] == 0 and c["gapless"]
            for c in (mg["checks"], mf["checks"])
        )
        and mg["checks"]["current_production"] == 1
        and mg["checks"]["audit_ok"]
        and all(not mg[o]["errors"] for o in ops)
    )
    goals = {
        "rps_ratio_ge_2": all(
            (ratios[f"{a}_rps_vs_{b}"] or 0) >= GOALS_RPS_RATIO
            for a, b in (("register", "create_version"), ("promote", "set_alias"))
        ),
        "p99_lt_250ms": all(mg[o]["p99_ms"] < GOALS_P99_MS for o in ops),
        "no_lost_or_duplicate": checks_ok,
    }
    print(
        f"governance API vs MLflow registry: {args.clients} concurrent clients, "
        f"up to {args.n} ops or {args.seconds:.0f} s per phase, PostgreSQL, "
        f"{args.workers} worker process(es) each"
    )
    print(_table(figures))
    print(f"mlgate checks: {mg['checks']}")
    print(f"mlflow checks: {mf['checks']}")
    print(f"ratios: {ratios}   total {time.monotonic() - started:.0f} s")
    print(
        json.dumps(
            {
                "bench": "governance_api",
                "figures": figures,
                "ratios": ratios,
                "goals": goals,
                "met": all(goals.values()),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
