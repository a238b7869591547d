"""Test data for the serving tests: rows of the demo contract with a learnable target."""

from __future__ import annotations

import pandas as pd

from core.spec import load_spec
from mlgate.demo.data import make_applications
from mlgate.demo.run import SPEC_FILE

CONTRACT = load_spec(SPEC_FILE).contract


def applications(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows of the demo contract, id and target included (the demo's own generator)."""
    return make_applications(max(n, 500), seed=seed).head(n)
