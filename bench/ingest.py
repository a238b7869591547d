"""Benchmark: ingesting a large CSV into a parquet snapshot, mlgate against plain pandas.

One CSV of 5,000,000 rows x 20 columns (an id, 8 float, 6 int and 4 categorical
features, an int target) is generated once and cached in the temporary directory
(generation is not timed). Then, in the same run, each contender runs in a process of
its own, so that its peak memory (the process's peak resident set, VmHWM) is its own:

* anchor: ``pandas.read_csv(path)`` then ``DataFrame.to_parquet(out)``, both defaults;
* mlgate, file: ``flows.ingest.snapshot_source("file://…")``: the connector streams
  the CSV in Arrow batches typed from the data contract, conformed, written as a
  deterministic zstd parquet snapshot and stored content-addressed (sha256);
* mlgate, S3: the same from ``s3://…`` on moto's S3 server on loopback (HTTP, range
  requests), credentials from ``env://`` references.

It prints a table and, last, one JSON line. Goals: mlgate, from the file and from S3,
at least 1.5x pandas' rows/s with peak memory under a quarter of pandas'; the file and
S3 snapshots must have the same content hash. Bounded: each contender has 240 s.

Run: ``.venv/bin/python bench/ingest.py [--rows 5000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOAL_SPEED = 1.5
GOAL_MEMORY = 0.25
FLOATS, INTS, CATEGORIES = 8, 6, 4
LEVELS = [f"level_{i:02d}" for i in range(12)]
CHILD_TIMEOUT_S = 240


def contract_dict() -> dict[str, Any]:
    """The data contract of the generated table (20 columns)."""
    columns: list[dict[str, Any]] = [{"name": "record_id", "type": "string", "role": "id"}]
    columns += [{"name": f"f{i}", "type": "float", "nullable": True} for i in range(FLOATS)]
    columns += [{"name": f"n{i}", "type": "int"} for i in range(INTS)]
    columns += [{"name": f"c{i}", "type": "category"} for i in range(CATEGORIES)]
    columns += [{"name": "label", "type": "int", "role": "target", "allowed": [0, 1]}]
    return {"version": 1, "columns": columns}


def generate(path: Path, rows: int) -> None:
    """Write the CSV in chunks with Arrow (numbers rounded the way exports usually are)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(7)
    tmp = path.with_suffix(".part")
    chunk = 500_000
    with pacsv.CSVWriter(tmp, schema=_schema(pa)) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            cols: dict[str, Any] = {
                "record_id": pa.array([f"r{i:08d}" for i in range(start, start + n)])
            }
            for i in range(FLOATS):
                values = np.round(rng.normal(100.0 * (i + 1), 25.0, n), 3)
                mask = rng.random(n) < 0.02
                cols[f"f{i}"] = pa.array(values, mask=mask)
            for i in range(INTS):
                cols[f"n{i}"] = pa.array(rng.integers(0, 10 ** (i + 1), n))
            for i in range(CATEGORIES):
                cols[f"c{i}"] = pa.array(np.array(LEVELS)[rng.integers(0, len(LEVELS), n)])
            cols["label"] = pa.array(rng.integers(0, 2, n))
            writer.write_table(pa.table(cols, schema=_schema(pa)))
    tmp.replace(path)


def _schema(pa: Any) -> Any:
    types = {
        "string": pa.string(),
        "float": pa.float64(),
        "int": pa.int64(),
        "category": pa.string(),
    }
    return pa.schema([(c["name"], types[c["type"]]) for c in contract_dict()["columns"]])


# --- the measured runs, each in its own process -------------------------------------------


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pandas(csv: Path, out: Path) -> dict[str, Any]:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(csv)
    frame.to_parquet(out)
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def run_mlgate(uri: str, store_dir: Path) -> dict[str, Any]:
    from connectors.store import LocalArtifactStore
    from core.spec import DataContract
    from flows.ingest import snapshot_source

    contract = DataContract.model_validate(contract_dict())
    store = LocalArtifactStore(store_dir)
    started = time.perf_counter()
    snap = snapshot_source(uri, contract, store)
    return {
        "seconds": time.perf_counter() - started,
        "rows": snap.rows,
        "content_hash": snap.content_hash,
    }


def child(args: argparse.Namespace) -> None:
    if args.child == "pandas":
        result = run_pandas(Path(args.csv), Path(args.out))
    else:
        result = run_mlgate(args.uri, Path(args.out))
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def measure(name: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, *argv],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["rows_per_s"] = result["rows"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--child", choices=["pandas", "mlgate"])
    parser.add_argument("--csv")
    parser.add_argument("--uri")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    cache = Path(tempfile.gettempdir()) / "mlgate-bench-ingest"
    cache.mkdir(exist_ok=True)
    csv = cache / f"table-{args.rows}x20.csv"
    if not csv.exists():
        print(f"generating {csv.name} (cached for later runs) ...", flush=True)
        generate(csv, args.rows)
    size_mb = csv.stat().st_size / 1e6
    csv.read_bytes()  # warm the page cache: every contender reads the same warm file

    sys.path.insert(0, str(ROOT / "tests"))
    from connector_servers import moto_s3, s3_admin

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLGATE_", "AWS_"))}
    env |= {"MLGATE_BENCH_AK": "bench-access", "MLGATE_BENCH_SK": "bench-secret"}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as work, moto_s3() as endpoint:
        out = Path(work)
        s3_admin(endpoint).create_bucket(Bucket="bench-ingest")
        s3_admin(endpoint).upload_file(str(csv), "bench-ingest", "raw/table.csv")
        s3_uri = (
            f"s3://bench-ingest/raw/table.csv?endpoint={endpoint}"
            "&access_key=env://MLGATE_BENCH_AK&secret_key=env://MLGATE_BENCH_SK"
        )
        runs = {
            "pandas read_csv + to_parquet": (
                "pandas",
                ["--csv", str(csv), "--out", str(out / "pd.parquet")],
            ),
            "mlgate ingest, file://": (
                "mlgate",
                ["--uri", f"file://{csv}", "--out", str(out / "s1")],
            ),
            "mlgate ingest, s3:// (moto)": ("mlgate", ["--uri", s3_uri, "--out", str(out / "s2")]),
        }
        for label, (kind, argv) in runs.items():
            print(f"running {label} ...", flush=True)
            results[label] = measure(kind, argv, env)

    anchor = results["pandas read_csv + to_parquet"]
    file_run = results["mlgate ingest, file://"]
    s3_run = results["mlgate ingest, s3:// (moto)"]
    print()
    print(f"{args.rows:,} rows x 20 columns, CSV {size_mb:,.0f} MB")
    print(f"{'contender':<32}{'seconds':>9}{'rows/s':>13}{'peak MB':>10}{'speed':>8}{'memory':>8}")
    for label, r in results.items():
        speed = r["rows_per_s"] / anchor["rows_per_s"]
        memory = r["peak_rss_mb"] / anchor["peak_rss_mb"]
        print(
            f"{label:<32}{r['seconds']:>9.2f}{r['rows_per_s']:>13,.0f}"
            f"{r['peak_rss_mb']:>10,.0f}{speed:>7.2f}x{memory:>7.2f}x"
        )
    ratios = {
        "file_speed_vs_pandas": round(file_run["rows_per_s"] / anchor["rows_per_s"], 3),
        "file_memory_vs_pandas": round(file_run["peak_rss_mb"] / anchor["peak_rss_mb"], 3),
        "s3_speed_vs_pandas": round(s3_run["rows_per_s"] / anchor["rows_per_s"], 3),
        "s3_memory_vs_pandas": round(s3_run["peak_rss_mb"] / anchor["peak_rss_mb"], 3),
    }
    goals = {
        "file_speed_at_least_1.5x": ratios["file_speed_vs_pandas"] >= GOAL_SPEED,
        "file_memory_under_0.25x": ratios["file_memory_vs_pandas"] < GOAL_MEMORY,
        "s3_speed_at_least_1.5x": ratios["s3_speed_vs_pandas"] >= GOAL_SPEED,
        "s3_memory_under_0.25x": ratios["s3_memory_vs_pandas"] < GOAL_MEMORY,
        "same_hash_file_and_s3": file_run["content_hash"] == s3_run["content_hash"],
    }
    figures = {
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        **{
            f"{key}_{metric}": round(r[metric], 2)
            for key, r in (("pandas", anchor), ("file", file_run), ("s3", s3_run))
            for metric in ("seconds", "rows_per_s", "peak_rss_mb")
        },
    }
    print(f"same snapshot hash from file and S3: {goals['same_hash_file_and_s3']}")
    print(
        json.dumps(
            {
                "bench": "ingest",
                "figures": figures,
                "ratios": ratios,
                "goals": goals,
                "met": all(goals.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
