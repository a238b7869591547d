"""Benchmark: drift on 1,000,000 x 20 through mlgate against a bare Evidently preset.

The same reference and current frames (1,000,000 rows, 15 numeric and 5 categorical
features; 6 features shifted in the current frame, the other 14 drawn from the
reference's distributions) go through

* ``evidently``: a bare ``Report([DataDriftPreset()])`` run, the anchor;
* ``mlgate exact``: ``monitoring.drift.run_drift`` with every row — contract-typed
  columns, schema checks, one Evidently ``ValueDrift`` per column (the preset's own
  per-column calculations, without its second dataset-level pass);
* ``mlgate fast``: the fast path — Evidently's statistical tests called directly (the
  test each column would get on the full data, no report or plots) on a seeded
  sample of ``--sample-rows`` rows per side, and every column whose sampled verdict
  is a close call (within 25 % of its threshold, or a p-value test) recomputed on
  every row.

Goals: mlgate exact at most 1.05x Evidently's time; the fast path at least 10x
faster than mlgate exact; its drift decisions equal to the exact ones on every
column (100 %). Exact and Evidently decisions are compared too.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/drift.py [--rows 1000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402  (after the thread settings)
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import offline  # noqa: E402
from core.spec import DataContract  # noqa: E402
from monitoring.drift import run_drift  # noqa: E402

NUMERIC = 15
CATEGORICAL = 5
DRIFTED = ("n0", "n3", "n7", "n11", "c1", "c4")
SAMPLE_ROWS = 50_000
GUARD_BAND = 0.25
GOAL_EXACT = 1.05
GOAL_SPEEDUP = 10.0
GOAL_AGREEMENT = 1.0
LEVELS = [f"v{i}" for i in range(8)]


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; only ``DRIFTED`` columns move."""
    rng = np.random.default_rng(seed)

    def draw(drift: bool) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        for i in range(NUMERIC):
            name = f"n{i}"
            shift = 0.6 if drift and name in DRIFTED else 0.0
            if i % 3 == 0:
                cols[name] = rng.lognormal(1.0 + shift, 0.5, rows)
            elif i % 3 == 1:
                cols[name] = rng.normal(10.0 + 3 * shift, 2.0, rows)
            else:
                cols[name] = rng.poisson(4.0 + 3 * shift, rows).astype(np.int64)
        base = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])
        moved = np.array([0.1, 0.1, 0.15, 0.1, 0.1, 0.15, 0.15, 0.15])
        for i in range(CATEGORICAL):
            name = f"c{i}"
            p = moved if drift and name in DRIFTED else base
            cols[name] = rng.choice(LEVELS, size=rows, p=p)
        cols["y"] = rng.integers(0, 2, rows)
        return pd.DataFrame(cols)

    return draw(False), draw(True)


def contract() -> DataContract:
    columns: list[dict[str, Any]] = [
        {"name": f"n{i}", "type": "float" if i % 3 != 2 else "int"} for i in range(NUMERIC)
    ]
    columns += [{"name": f"c{i}", "type": "category"} for i in range(CATEGORICAL)]
    columns.append({"name": "y", "type": "int", "role": "target"})
    return DataContract.model_validate({"columns": columns})


def bare_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[float, dict[str, bool]]:
    """The anchor: Evidently's preset on the feature columns, as its docs show it."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical = [f"n{i}" for i in range(NUMERIC)]
    categorical = [f"c{i}" for i in range(CATEGORICAL)]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    features = numerical + categorical
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current[features], data_definition=definition),
        Dataset.from_pandas(reference[features], data_definition=definition),
    )
    seconds = time.perf_counter() - started
    verdicts = {}
    for result in snapshot.metric_results.values():
        for test in result.tests:
            params = test.metric_config.params
            if params.get("type") == "evidently:metric_v2:ValueDrift":
                verdicts[str(params["column"])] = test.status.value == "FAIL"
    return seconds, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each frame")
    parser.add_argument("--sample-rows", type=int, default=SAMPLE_ROWS, help="fast path sample")
    args = parser.parse_args()
    wall = time.perf_counter()
    print(
        f"frames: {args.rows:,} x {NUMERIC + CATEGORICAL} (+ target), drifted: {DRIFTED}",
        flush=True,
    )
    reference, current = make_frames(args.rows)
    spec = contract()
    # Warm-up on a few rows: imports and first-use costs are not part of any measurement.
    run_drift(reference.head(5_000), current.head(5_000), spec)
    run_drift(reference.head(5_000), current.head(5_000), spec, engine="stattest")

    fast = run_drift(
        reference,
        current,
        spec,
        sample_rows=args.sample_rows,
        guard_band=GUARD_BAND,
        engine="stattest",
    ).result
    print(
        f"  mlgate fast:  {fast.duration_s:7.1f} s  drifted {fast.drifted_columns} "
        f"(rechecked on all rows: {fast.rechecked_columns or 'none'})",
        flush=True,
    )
    exact = run_drift(reference, current, spec).result
    print(f"  mlgate exact: {exact.duration_s:7.1f} s  drifted {exact.drifted_columns}", flush=True)
    t_preset, preset_verdicts = bare_evidently(reference, current)
    print(
        f"  evidently:    {t_preset:7.1f} s  drifted "
        f"{[c for c, d in preset_verdicts.items() if d]}",
        flush=True,
    )

    exact_verdicts = {c.column: c.drifted for c in exact.columns}
    fast_verdicts = {c.column: c.drifted for c in fast.columns}
    agree_fast = sum(fast_verdicts[c] == v for c, v in exact_verdicts.items()) / len(exact_verdicts)
    agree_preset = sum(preset_verdicts.get(c) == v for c, v in exact_verdicts.items()) / len(
        exact_verdicts
    )
    truth = {c: c in DRIFTED for c in exact_verdicts}
    correct = sum(exact_verdicts[c] == t for c, t in truth.items()) / len(truth)
    ratios = {
        "exact_vs_evidently_time": exact.duration_s / t_preset,
        "fast_speedup_vs_exact": exact.duration_s / fast.duration_s,
        "fast_speedup_vs_evidently": t_preset / fast.duration_s,
        "fast_agreement_with_exact": agree_fast,
        "exact_agreement_with_evidently": agree_preset,
        "exact_matches_injected_drift": correct,
    }
    goals = {
        "exact_le_1.05x_evidently": ratios["exact_vs_evidently_time"] <= GOAL_EXACT,
        "fast_ge_10x": ratios["fast_speedup_vs_exact"] >= GOAL_SPEEDUP,
        "fast_agreement_100pct": agree_fast >= GOAL_AGREEMENT,
        "exact_agrees_with_evidently": agree_preset >= GOAL_AGREEMENT,
    }
    print()
    print(f"{'run':14} {'seconds':>9} {'drifted':>8}")
    print(f"{'evidently':14} {t_preset:9.1f} {sum(preset_verdicts.values()):8d}")
    print(f"{'mlgate exact':14} {exact.duration_s:9.1f} {len(exact.drifted_columns):8d}")
    print(f"{'mlgate fast':14} {fast.duration_s:9.1f} {len(fast.drifted_columns):8d}")
    for key, value in ratios.items():
        print(f"  {key:32} {value:7.3f}")
    for key, ok in goals.items():
        print(f"  goal {key:32} {'met' if ok else 'MISSED'}")
    print(f"wall time {time.perf_counter() - wall:.0f} s")
    figures = {
        "rows": args.rows,
        "features": NUMERIC + CATEGORICAL,
        "sample_rows": args.sample_rows,
        "evidently_s": round(t_preset, 2),
        "mlgate_exact_s": round(exact.duration_s, 2),
        "mlgate_fast_s": round(fast.duration_s, 2),
        "fast_rechecked_columns": len(fast.rechecked_columns),
        "drifted_exact": len(exact.drifted_columns),
    }
    print(
        json.dumps(
            {
                "bench": "drift",
                "figures": figures,
                "ratios": {k: round(v, 3) for k, v in ratios.items()},
                "goals": goals,
                "met": all(goals.values()),
            }
        )
    )


if __name__ == "__main__":
    offline.apply()
    main()
