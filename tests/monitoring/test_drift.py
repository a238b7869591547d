"""Drift on synthetic credit-risk data shaped by the demo contract.

The generator draws every feature of the demo contract from a fixed distribution;
the current sample is the same generator with another seed, so only what a test
injects should drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from core.spec import DataContract, load_spec
from monitoring.drift import DriftRun, run_drift

PURPOSES = [
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
]
PURPOSE_P = [0.35, 0.2, 0.12, 0.12, 0.08, 0.08, 0.05]
DRIFTED_PURPOSE_P = [0.10, 0.15, 0.12, 0.12, 0.08, 0.38, 0.05]

Tweak = Callable[[pd.DataFrame, np.random.Generator], None]


@pytest.fixture(scope="module")
def contract() -> DataContract:
    with resources.as_file(resources.files("mlgate.demo") / "credit_risk.yaml") as path:
        return load_spec(path).contract


def applications(n: int, seed: int, tweak: Tweak | None = None) -> pd.DataFrame:
    """n loan applications with every column of the demo contract (id and target too)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "application_id": [f"app-{seed}-{i}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "annual_income": rng.lognormal(10.8, 0.5, n).round(2),
            "employment_years": rng.gamma(2.0, 3.0, n).clip(0, 60).round(1),
            "loan_amount": rng.uniform(500, 60_000, n).round(2),
            "loan_term_months": rng.choice([12, 24, 36, 48, 60], n),
            "interest_rate": rng.normal(11.0, 3.0, n).clip(0, 40).round(2),
            "credit_score": rng.normal(680, 60, n).clip(300, 850).round().astype(int),
            "debt_to_income": rng.beta(2, 5, n) * 1.5,
            "num_open_accounts": rng.poisson(8, n),
            "num_delinquencies": rng.poisson(0.4, n),
            "home_ownership": rng.choice(["rent", "own", "mortgage", "other"], n),
            "purpose": rng.choice(PURPOSES, n, p=PURPOSE_P),
            "region": rng.choice(["north", "south", "east", "west", "central"], n),
            "defaulted": rng.integers(0, 2, n),
        }
    )
    # The contract lets these be null; real extracts have a few.
    for col in ("annual_income", "employment_years"):
        frame.loc[rng.random(n) < 0.02, col] = np.nan
    if tweak is not None:
        tweak(frame, rng)
    return frame


def inject_drift(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    frame["annual_income"] = frame["annual_income"] * 1.6
    frame["interest_rate"] = (frame["interest_rate"] + 4.0).clip(0, 40)
    frame["purpose"] = rng.choice(PURPOSES, len(frame), p=DRIFTED_PURPOSE_P)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return applications(5_000, seed=1)


@pytest.fixture(scope="module")
def drifted_run(reference: pd.DataFrame, contract: DataContract) -> DriftRun:
    return run_drift(reference, applications(5_000, seed=2, tweak=inject_drift), contract)


def test_flags_exactly_the_injected_columns(drifted_run: DriftRun, contract: DataContract) -> None:
    result = drifted_run.result

    assert sorted(result.drifted_columns) == ["annual_income", "interest_rate", "purpose"]
    assert [c.column for c in result.columns] == contract.features
    assert result.drift_share == pytest.approx(3 / 13)
    assert result.dataset_drift is False  # 3/13 < 0.3
    assert result.schema_findings == []
    assert (result.n_reference, result.n_current) == (5_000, 5_000)
    kinds = {c.column: c.kind for c in result.columns}
    assert kinds["purpose"] == kinds["region"] == "categorical"
    assert kinds["annual_income"] == kinds["loan_term_months"] == "numerical"


def test_column_verdicts_are_evidently_s(drifted_run: DriftRun) -> None:
    snapshot = json.loads(drifted_run.json())
    verdicts = {
        t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
        for t in snapshot["tests"]
        if t["id"] == "drift"
    }
    by_column = {c.column: c for c in drifted_run.result.columns}

    assert verdicts == {name: c.drifted for name, c in by_column.items()}
    # 5,000 rows: Evidently's defaults are distances with a 0.1 threshold.
    income, purpose = by_column["annual_income"], by_column["purpose"]
    assert income.stattest == "Wasserstein distance (normed)"
    assert purpose.stattest == "Jensen-Shannon distance"
    assert income.threshold == purpose.threshold == 0.1
    assert income.score > income.threshold


def test_value_drift_engine_equals_evidently_s_preset(
    reference: pd.DataFrame, contract: DataContract, drifted_run: DriftRun
) -> None:
    """The default engine (one ValueDrift per column) gives the preset's exact results."""
    current = applications(5_000, seed=2, tweak=inject_drift)
    preset = run_drift(reference, current, contract, engine="preset")
    assert preset.result.columns == drifted_run.result.columns
    snapshot = json.loads(preset.json())
    count = next(m for m in snapshot["metrics"] if m["metric_name"].startswith("DriftedColumns"))
    assert count["value"]["share"] == pytest.approx(drifted_run.result.drift_share)
    assert "Data Drift Summary" in preset.html()


def test_no_drift_between_samples_of_one_distribution(
    reference: pd.DataFrame, contract: DataContract
) -> None:
    result = run_drift(reference, applications(5_000, seed=3), contract).result

    assert result.drift_share == 0.0
    assert result.drifted_columns == []
    assert result.dataset_drift is False
    assert len(result.columns) == 13


def test_dataset_drift_follows_the_share_threshold(
    reference: pd.DataFrame, contract: DataContract
) -> None:
    current = applications(5_000, seed=2, tweak=inject_drift)

    result = run_drift(reference, current, contract, drift_share_threshold=0.2).result

    assert result.dataset_drift is True
    assert result.drift_share_threshold == 0.2


def test_schema_problems_are_findings_and_the_rest_still_computes(
    reference: pd.DataFrame, contract: DataContract
) -> None:
    def break_schema(frame: pd.DataFrame, rng: np.random.Generator) -> None:
        inject_drift(frame, rng)
        frame.rename(columns={"credit_score": "fico_score"}, inplace=True)
        frame["employment_years"] = np.nan
        frame["region"] = rng.normal(size=len(frame))  # a category column full of floats

    result = run_drift(reference, applications(5_000, seed=2, tweak=break_schema), contract).result

    found = {(f.column, f.kind, f.side) for f in result.schema_findings}
    assert found == {
        ("credit_score", "missing", "current"),
        ("employment_years", "all_null", "current"),
        ("region", "unexpected_type", "current"),
        ("fico_score", "extra", "current"),
    }
    compared = {c.column for c in result.columns}
    assert compared == set(contract.features) - {"credit_score", "employment_years", "region"}
    assert sorted(result.drifted_columns) == ["annual_income", "interest_rate", "purpose"]
    assert result.drift_share == pytest.approx(3 / 10)
    assert result.dataset_drift is True


def test_types_come_from_the_contract_and_text_numbers_are_accepted(
    reference: pd.DataFrame, contract: DataContract
) -> None:
    current = applications(5_000, seed=3)
    # As a CSV read without dtypes or a JSON API would deliver them.
    current["age"] = current["age"].astype(str)
    current["loan_term_months"] = current["loan_term_months"].astype(float)
    current["annual_income"] = current["annual_income"].astype(object)

    result = run_drift(reference, current, contract).result

    assert result.schema_findings == []
    assert result.drifted_columns == []


def test_nothing_comparable_still_returns_a_run(contract: DataContract) -> None:
    reference = pd.DataFrame({"other": [1, 2, 3]})

    run = run_drift(reference, reference, contract)

    assert run.result.columns == []
    assert run.result.drift_share == 0.0
    assert run.result.dataset_drift is False
    kinds = {f.kind for f in run.result.schema_findings}
    assert kinds == {"missing", "extra"}
    assert json.loads(run.json()) == {"metrics": [], "tests": []}
    assert "No feature could be compared" in run.html()


def test_sample_rows_is_seeded(reference: pd.DataFrame, contract: DataContract) -> None:
    current = applications(5_000, seed=2, tweak=inject_drift)

    first = run_drift(reference, current, contract, sample_rows=2_000, seed=7).result
    again = run_drift(reference, current, contract, sample_rows=2_000, seed=7).result

    assert (first.n_reference, first.n_current) == (2_000, 2_000)
    assert [c.score for c in first.columns] == [c.score for c in again.columns]
    assert sorted(first.drifted_columns) == ["annual_income", "interest_rate", "purpose"]


def test_column_threshold_is_passed_to_evidently(
    reference: pd.DataFrame, contract: DataContract
) -> None:
    current = applications(5_000, seed=2, tweak=inject_drift)

    result = run_drift(reference, current, contract, column_threshold=0.5).result

    assert {c.threshold for c in result.columns} == {0.5}
    # The shifted numerics score above 1 (normed Wasserstein); purpose about 0.3.
    assert result.drifted_columns == ["annual_income", "interest_rate"]


def test_small_samples_use_p_values_and_keep_evidently_s_direction(
    contract: DataContract,
) -> None:
    # Up to 1,000 rows Evidently switches to K-S / chi-square, where drift means a
    # p-value *below* the threshold.
    reference, current = applications(800, seed=1), applications(800, seed=2, tweak=inject_drift)

    result = run_drift(reference, current, contract).result

    by_column = {c.column: c for c in result.columns}
    assert by_column["annual_income"].stattest == "K-S p_value"
    assert by_column["purpose"].stattest == "chi-square p_value"
    assert sorted(result.drifted_columns) == ["annual_income", "interest_rate", "purpose"]
    assert all((c.score < c.threshold) == c.drifted for c in result.columns)


def test_html_json_and_summary(drifted_run: DriftRun) -> None:
    page = drifted_run.html()
    snapshot = json.loads(drifted_run.json())
    payload = drifted_run.result.to_dict()
    summary = drifted_run.result.summary_markdown()

    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert "root_metric_" in page  # Evidently's widgets
    assert any(m["config"]["type"] == "evidently:metric_v2:ValueDrift" for m in snapshot["metrics"])
    assert json.loads(json.dumps(payload)) == payload
    assert payload["drifted_columns"] == drifted_run.result.drifted_columns
    assert "| annual_income | numerical | Wasserstein distance (normed) |" in summary
    assert "**yes**" in summary


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drift_share_threshold": 0.0}, "drift_share_threshold"),
        ({"column_threshold": -1.0}, "column_threshold"),
        ({"sample_rows": 0}, "sample_rows"),
    ],
)
def test_bad_arguments_are_refused(
    reference: pd.DataFrame, contract: DataContract, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_drift(reference, reference, contract, **kwargs)  # type: ignore[arg-type]
