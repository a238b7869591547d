"""Test data for the serving tests: rows of the demo contract with a learnable target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlgate.demo.run import SPEC_FILE
from mlgate.spec import load_spec

CONTRACT = load_spec(SPEC_FILE).contract


def applications(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows of the demo contract, id and target included."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "application_id": [f"app-{seed}-{i}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "annual_income": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(10.8, 0.5, n)),
            "employment_years": rng.uniform(0, 30, n),
            "loan_amount": rng.uniform(500, 50_000, n),
            "loan_term_months": rng.choice([12, 24, 36, 48, 60], n),
            "interest_rate": rng.uniform(3, 25, n),
            "credit_score": rng.integers(300, 850, n).astype(float),
            "debt_to_income": rng.uniform(0, 1.5, n),
            "num_open_accounts": rng.integers(0, 30, n),
            "num_delinquencies": rng.poisson(0.5, n),
            "home_ownership": rng.choice(["rent", "own", "mortgage", "other"], n),
            "purpose": rng.choice(["car", "medical", "small_business", "other"], n),
            "region": rng.choice(["north", "south", "east", "west", "central"], n),
        }
    )
    logit = 2.0 * (frame["debt_to_income"] - 0.75) + 0.1 * (frame["interest_rate"] - 14)
    frame["defaulted"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame
