"""The demo's data: a credit-risk-like table of loan applications.

`make_applications` draws a realistic population (skewed incomes, bounded credit
scores, correlated loan sizes, missing values where real forms have them) and a
default label from a logistic model of those features, so a good model has
something to find. `make_current_batch` draws a later batch in which a few named
features drift (`DRIFTED_FEATURES`) while every other feature keeps its
distribution, so drift detection has a known right answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HOME_OWNERSHIP = ["rent", "own", "mortgage", "other"]
PURPOSES = [
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
]
REGIONS = ["north", "south", "east", "west", "central"]
TERMS = [12, 24, 36, 48, 60]

# The features whose distribution the "current" batch shifts; all others stay put.
DRIFTED_FEATURES = ("annual_income", "interest_rate", "purpose")


def _draw(rows: int, rng: np.random.Generator, *, drift: bool, id_offset: int) -> pd.DataFrame:
    age = np.clip(rng.normal(41, 12, rows), 18, 90).round().astype("int64")
    income_median = 38_000 if drift else 52_000  # drift: a poorer applicant pool
    annual_income = np.clip(rng.lognormal(np.log(income_median), 0.55, rows), 6_000, 2_000_000)
    employment_years = np.clip(rng.gamma(2.0, 3.5, rows), 0, 45).round(1)
    employment_years = np.minimum(employment_years, np.maximum(age - 16, 0)).astype(float)
    credit_score = np.clip(rng.normal(690, 60, rows), 300, 850).round().astype("int64")
    term = rng.choice(TERMS, size=rows, p=[0.1, 0.2, 0.35, 0.15, 0.2])
    # Drawn on its own scale so that drifting incomes do not drag loan sizes along.
    loan_amount = np.clip(rng.lognormal(np.log(14_000), 0.75, rows), 500, 250_000).round(2)
    base_rate = 4.0 + (850 - credit_score) / 550 * 18 + term / 60 * 2
    rate_shift = 4.5 if drift else 0.0  # drift: a rate environment change
    interest_rate = np.clip(base_rate + rate_shift + rng.normal(0, 1.5, rows), 1, 39.5).round(2)
    debt_to_income = np.clip(rng.beta(2.2, 6, rows) * 1.4, 0, 2.9).round(3)
    num_open_accounts = np.clip(rng.poisson(7, rows), 0, 80)
    num_delinquencies = np.clip(rng.poisson(0.35 + (credit_score < 620) * 0.8, rows), 0, 40)
    home = rng.choice(HOME_OWNERSHIP, size=rows, p=[0.38, 0.17, 0.42, 0.03])
    purpose_p = (
        [0.18, 0.12, 0.08, 0.10, 0.14, 0.28, 0.10]
        if drift
        else [0.42, 0.22, 0.1, 0.09, 0.05, 0.05, 0.07]
    )
    purpose = rng.choice(PURPOSES, size=rows, p=purpose_p)
    region = rng.choice(REGIONS, size=rows, p=[0.22, 0.24, 0.2, 0.19, 0.15])

    # The label: a logistic model of the (true, pre-missingness) features.
    logit = (
        -2.2
        - 0.012 * (credit_score - 690)
        + 1.9 * (debt_to_income - 0.35)
        + 0.09 * (interest_rate - 12)
        - 0.45 * (np.log(annual_income) - np.log(52_000))
        + 0.42 * num_delinquencies
        + 0.35 * np.log(loan_amount / annual_income + 1e-3)
        - 0.02 * (employment_years - 6)
        + np.where(purpose == "small_business", 0.6, 0.0)
        + np.where(purpose == "medical", 0.3, 0.0)
        + np.where(home == "rent", 0.25, 0.0)
    )
    defaulted = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype("int64")

    frame = pd.DataFrame(
        {
            "application_id": [f"APP-{i:09d}" for i in range(id_offset, id_offset + rows)],
            "age": age,
            "annual_income": annual_income.round(2),
            "employment_years": employment_years,
            "loan_amount": loan_amount,
            "loan_term_months": term.astype("int64"),
            "interest_rate": interest_rate,
            "credit_score": credit_score,
            "debt_to_income": debt_to_income,
            "num_open_accounts": num_open_accounts.astype("int64"),
            "num_delinquencies": num_delinquencies.astype("int64"),
            "home_ownership": home,
            "purpose": purpose,
            "region": region,
            "defaulted": defaulted,
        }
    )
    # Missing values where application forms really have gaps.
    frame.loc[rng.uniform(size=rows) < 0.04, "annual_income"] = np.nan
    frame.loc[rng.uniform(size=rows) < 0.06, "employment_years"] = np.nan
    frame["credit_score"] = frame["credit_score"].astype("Int64")
    frame.loc[rng.uniform(size=rows) < 0.02, "credit_score"] = pd.NA
    return frame


def make_applications(rows: int = 50_000, *, seed: int = 7) -> pd.DataFrame:
    """The training population: `rows` loan applications with a default label."""
    if rows < 500:
        raise ValueError(f"rows must be at least 500 for a meaningful use case, got {rows}")
    return _draw(rows, np.random.default_rng(seed), drift=False, id_offset=0)


def make_current_batch(rows: int, *, seed: int = 8) -> pd.DataFrame:
    """A later batch in which only `DRIFTED_FEATURES` have shifted."""
    if rows < 100:
        raise ValueError(f"rows must be at least 100, got {rows}")
    return _draw(rows, np.random.default_rng(seed), drift=True, id_offset=10_000_000)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a source CSV the way an export from an operational system looks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
