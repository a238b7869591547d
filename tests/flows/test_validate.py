"""Contract validation on the demo's credit-risk contract, without Prefect."""

from __future__ import annotations

import json
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.spec import DataContract, load_spec
from flows.errors import ContractViolation
from flows.validate import (
    bad_row_mask,
    build_suite,
    ensure_valid,
    validate_frame,
)
from flows.validation_report import ColumnFailure, ValidationReport

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return load_spec(REPO / "mlgate" / "demo" / "credit_risk.yaml").contract


def make_frame(contract: DataContract, rows: int = 40, *, seed: int = 0) -> pd.DataFrame:
    """A frame that satisfies the contract: values drawn inside each column's rules."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for col in contract.columns:
        if col.allowed is not None:
            data[col.name] = list(islice(cycle(col.allowed), rows))
        elif col.role == "id":
            data[col.name] = [f"APP-{i:06d}" for i in range(rows)]
        elif col.is_numeric:
            lo = col.min if col.min is not None else 0.0
            hi = col.max if col.max is not None else lo + 100.0
            values = rng.uniform(lo, hi, rows)
            data[col.name] = values.round().astype("int64") if col.type == "int" else values
        else:
            data[col.name] = [f"value-{i % 3}" for i in range(rows)]
    return pd.DataFrame(data)


@pytest.fixture
def frame(contract: DataContract) -> pd.DataFrame:
    return make_frame(contract)


def lines(report: ValidationReport) -> list[str]:
    return report.message().splitlines()


# --------------------------------------------------------------------------- the suite
def test_suite_is_derived_from_the_contract(contract: DataContract) -> None:
    suite = build_suite(contract, name="credit-risk-contract")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for e in suite.expectations:
        config = e.configuration
        by_kind.setdefault(config.type, []).append(dict(config.kwargs))

    assert suite.name == "credit-risk-contract"
    (columns,) = by_kind["expect_table_columns_to_match_set"]
    assert sorted(columns["column_set"]) == sorted(contract.names)
    assert suite.expectations[0].exact_match is True  # type: ignore[attr-defined]
    assert by_kind["expect_table_row_count_to_be_between"] == [{"min_value": 1}]

    not_null = {k["column"] for k in by_kind["expect_column_values_to_not_be_null"]}
    assert not_null == {c.name for c in contract.columns if not c.nullable}
    assert {"annual_income", "employment_years", "credit_score"}.isdisjoint(not_null)

    between = {
        k["column"]: (k["min_value"], k["max_value"])
        for k in by_kind["expect_column_values_to_be_between"]
    }
    assert between["age"] == (18, 100)
    assert between["credit_score"] == (300, 850)
    assert "region" not in between

    in_set = {k["column"]: k["value_set"] for k in by_kind["expect_column_values_to_be_in_set"]}
    assert in_set["region"] == ["north", "south", "east", "west", "central"]
    assert in_set["loan_term_months"] == [12, 24, 36, 48, 60]
    assert in_set["defaulted"] == [0, 1]

    assert by_kind["expect_column_values_to_be_unique"] == [{"column": "application_id"}]
    type_checks = by_kind["expect_column_values_to_be_in_type_list"]
    types = {k["column"]: k["type_list"] for k in type_checks}
    assert set(types) == set(contract.names)
    assert {"int64", "Int64Dtype"} <= set(types["age"])
    assert "float64" not in types["age"]  # not nullable: a float column is not an int column
    assert "float64" in types["credit_score"]  # nullable int: pandas stores it as float64
    assert {"object", "str"} <= set(types["region"])


# --------------------------------------------------------------------------- valid data
def test_valid_frame_passes(contract: DataContract, frame: pd.DataFrame) -> None:
    report = validate_frame(frame, contract, name="credit-risk-contract")

    assert report.success, report.message()
    assert report.failures == []
    assert report.rows == len(frame)
    assert report.evaluated == len(build_suite(contract, name="x").expectations)
    assert report.duration_s > 0
    assert report.message() == f"all {report.evaluated} checks passed on {len(frame)} rows"
    assert ensure_valid(frame, contract).success
    assert not bad_row_mask(frame, contract).any()


def test_nullable_columns_may_hold_nulls(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[[1, 4], ["annual_income", "employment_years"]] = np.nan
    # a nullable int column with gaps becomes float64, and may also be Int64.
    frame["credit_score"] = frame["credit_score"].astype(float)
    frame.loc[2, "credit_score"] = np.nan
    assert validate_frame(frame, contract).success
    frame["credit_score"] = frame["credit_score"].astype("Int64")
    assert validate_frame(frame, contract).success


def test_lenient_dtypes_pass(contract: DataContract, frame: pd.DataFrame) -> None:
    lenient = frame.assign(
        region=frame["region"].astype("category"),
        purpose=frame["purpose"].astype("string[pyarrow]"),
        home_ownership=frame["home_ownership"].astype("string"),
        age=frame["age"].astype("int32"),
        num_open_accounts=frame["num_open_accounts"].astype("Int64"),
        loan_amount=frame["loan_amount"].round().astype("int64"),  # ints satisfy a float
        interest_rate=frame["interest_rate"].astype("float32"),
    )
    report = validate_frame(lenient, contract)
    assert report.success, report.message()


# --------------------------------------------------------------------------- violations
def test_out_of_range_values_name_the_column(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[[3, 7], "age"] = [250, -4]

    report = validate_frame(frame, contract)

    assert not report.success
    assert lines(report) == ["column 'age': 2 values outside [18, 100] (e.g. 250, -4)"]
    (failure,) = report.failures
    assert failure == ColumnFailure(
        column="age",
        expectation="expect_column_values_to_be_between",
        detail="2 values outside [18, 100] (e.g. 250, -4)",
        unexpected_count=2,
        unexpected_examples=[250, -4],
    )
    assert bad_row_mask(frame, contract).tolist() == [i in (3, 7) for i in range(len(frame))]


def test_values_outside_the_allowed_set(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[[0, 5, 9], "region"] = ["mars", "mars", "atlantis"]
    frame.loc[2, "loan_term_months"] = 18

    report = validate_frame(frame, contract)

    assert lines(report) == [
        "column 'loan_term_months': 1 value not in allowed set (e.g. 18)",
        "column 'region': 3 values not in allowed set (e.g. 'mars', 'atlantis')",
    ]
    assert report.failing_columns == ["loan_term_months", "region"]
    assert bad_row_mask(frame, contract).sum() == 4


def test_nulls_in_a_non_nullable_column(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[10:14, "loan_amount"] = np.nan

    report = validate_frame(frame, contract)

    assert lines(report) == [
        "column 'loan_amount': 5 missing values but the contract says not nullable"
    ]
    assert report.failures[0].unexpected_count == 5
    assert bad_row_mask(frame, contract).sum() == 5


def test_missing_and_unexpected_columns(contract: DataContract, frame: pd.DataFrame) -> None:
    frame = frame.drop(columns=["credit_score", "region"]).assign(nickname="x")

    report = validate_frame(frame, contract)

    assert lines(report) == [
        "missing columns: credit_score, region",
        "unexpected columns: nickname",
    ]
    assert {(f.column, f.expectation) for f in report.failures} == {
        ("credit_score", "missing_column"),
        ("region", "missing_column"),
        ("nickname", "unexpected_column"),
    }
    with pytest.raises(ContractViolation, match="missing columns: credit_score, region"):
        ensure_valid(frame, contract)


def test_duplicate_ids(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[6, "application_id"] = frame.loc[5, "application_id"]

    report = validate_frame(frame, contract)

    assert lines(report) == ["column 'application_id': 2 values are not unique (e.g. 'APP-000005')"]


def test_strings_in_a_numeric_column(contract: DataContract, frame: pd.DataFrame) -> None:
    frame["loan_amount"] = frame["loan_amount"].astype(object)
    frame.loc[[1, 2], "loan_amount"] = ["lots", "n/a"]

    report = validate_frame(frame, contract)  # the range check must not crash on strings

    assert lines(report) == [
        "column 'loan_amount': 2 values are not of type float (e.g. 'lots', 'n/a')"
    ]
    assert bad_row_mask(frame, contract).sum() == 2


def test_wrong_dtype(contract: DataContract, frame: pd.DataFrame) -> None:
    frame["age"] = frame["age"].astype(float)  # whole numbers, but a float dtype

    report = validate_frame(frame, contract)

    assert lines(report) == ["column 'age': dtype float64 does not match the contract type int"]


def test_several_problems_in_one_column_share_a_line(
    contract: DataContract, frame: pd.DataFrame
) -> None:
    frame.loc[0, "interest_rate"] = 55.0
    frame.loc[1, "interest_rate"] = np.nan
    frame.loc[2, "home_ownership"] = "castle"

    report = validate_frame(frame, contract)

    assert lines(report) == [
        "column 'interest_rate': 1 missing value but the contract says not nullable; "
        "1 value outside [0, 40] (e.g. 55)",
        "column 'home_ownership': 1 value not in allowed set (e.g. 'castle')",
    ]


def test_empty_frame(contract: DataContract, frame: pd.DataFrame) -> None:
    report = validate_frame(frame.iloc[:0], contract)

    assert lines(report) == ["table: the data has no rows"]
    assert report.rows == 0


# --------------------------------------------------------------------------- outputs
def test_contract_violation_carries_the_report(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[3, "age"] = 250
    frame.loc[4, "region"] = "mars"

    with pytest.raises(ContractViolation) as caught:
        ensure_valid(frame, contract, name="credit-risk-contract")

    report = caught.value.report
    assert report.failing_columns == ["age", "region"]
    assert str(caught.value) == (
        f"data does not satisfy the contract (2 failed checks on {len(frame)} rows):\n"
        "column 'age': 1 value outside [18, 100] (e.g. 250)\n"
        "column 'region': 1 value not in allowed set (e.g. 'mars')"
    )


def test_to_dict_is_json_safe(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[3, "num_delinquencies"] = 99  # numpy int64 in GX's unexpected list
    frame.loc[4, "debt_to_income"] = 7.25

    data = validate_frame(frame, contract).to_dict()

    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["success"] is False
    assert data["failing_columns"] == ["debt_to_income", "num_delinquencies"]
    assert [f["unexpected_examples"] for f in data["failures"]] == [[7.25], [99]]


def test_summary_markdown(contract: DataContract, frame: pd.DataFrame) -> None:
    frame.loc[4, "region"] = "mars|venus"

    failed = validate_frame(frame, contract).summary_markdown()
    passed = validate_frame(make_frame(contract), contract).summary_markdown()

    assert failed.startswith("**Data contract validation failed**: 40 rows,")
    assert "| column | check | problem | unexpected | examples |" in failed
    assert (
        "| region | expect_column_values_to_be_in_set | 1 value not in allowed set "
        "(e.g. 'mars\\|venus') | 1 | 'mars\\|venus' |"
    ) in failed
    assert passed.startswith("**Data contract validation passed**: 40 rows,")
    assert "|" not in passed


def test_fifty_thousand_rows_report_every_bad_value(contract: DataContract) -> None:
    frame = make_frame(contract, 50_000, seed=1)
    frame.loc[:99, "age"] = 101

    report = validate_frame(frame, contract)

    assert report.failing_columns == ["age"]
    assert report.failures[0].unexpected_count == 100
