"""serving.validation without a server: what a valid request turns into, and that the
block check of numeric features never lets through what the per-column checks refuse."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from demo_factories import CONTRACT, applications
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.errors import RequestInvalid
from serving.validation import RequestValidator, stack

VALIDATOR = RequestValidator(CONTRACT, max_records=50)


def records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    frame = applications(n, seed=seed).drop(columns=["defaulted"])
    out = []
    for row in frame.to_dict(orient="records"):
        out.append(
            {
                k: None
                if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                else (v.item() if isinstance(v, np.generic) else v)
                for k, v in row.items()
            }
        )
    return out


def test_valid_records_become_typed_columns_in_contract_order() -> None:
    rows = records(40)
    batch = VALIDATOR.validate({"records": rows})
    assert batch.rows == 40
    assert list(batch.columns) == CONTRACT.features
    assert batch.ids == [r["application_id"] for r in rows]
    assert batch.columns["age"].dtype == np.int64
    assert batch.columns["region"].dtype == object
    frame = stack([batch, batch], CONTRACT.features)
    assert len(frame) == 80
    expected = pd.DataFrame(rows)[CONTRACT.features]
    pd.testing.assert_frame_equal(
        frame.head(40).astype(float, errors="ignore").reset_index(drop=True),
        expected.astype(float, errors="ignore"),
        check_dtype=False,
    )


def test_too_many_records_is_refused() -> None:
    with pytest.raises(RequestInvalid, match="51 records is more than the limit of 50"):
        VALIDATOR.validate({"records": records(51)})


def test_unexpected_top_level_field_is_refused() -> None:
    with pytest.raises(RequestInvalid, match="'model'"):
        VALIDATOR.validate({"records": records(1), "model": 3})


BAD_VALUES = st.sampled_from(
    [
        ("age", "41"),
        ("age", 17),
        ("age", 101),
        ("age", 30.5),
        ("age", None),
        ("age", True),
        ("loan_amount", 499.99),
        ("loan_amount", [1]),
        ("interest_rate", -0.01),
        ("loan_term_months", 13),
        ("num_open_accounts", {"n": 1}),
        ("credit_score", 900),
        ("home_ownership", "castle"),
        ("home_ownership", None),
        ("purpose", 1),
    ]
)


@settings(max_examples=60, deadline=None)
@given(bad=BAD_VALUES, n=st.integers(1, 30), where=st.integers(0, 29), seed=st.integers(0, 3))
def test_any_bad_value_is_named_with_its_record(
    bad: tuple[str, Any], n: int, where: int, seed: int
) -> None:
    rows = records(n, seed=seed)
    index = where % n
    field, value = bad
    rows[index][field] = value
    with pytest.raises(RequestInvalid) as caught:
        VALIDATOR.validate({"records": rows})
    first = caught.value.problems[0]
    assert (first.record, first.field) == (index, field)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 5))
def test_valid_requests_always_pass(n: int, seed: int) -> None:
    rows = records(n, seed=seed)
    for r in rows[::3]:
        r["annual_income"] = None  # nullable
        del r["application_id"]  # optional
    assert VALIDATOR.validate({"records": rows}).rows == n
