"""flows.train: splitting, candidate pipelines, cross-validation and the leaderboard."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.spec import CANDIDATES, ProjectSpec, load_spec, parse_spec
from flows import train
from flows.errors import TrainingDataError
from mlgate.demo.data import make_applications

DEMO_SPEC = "mlgate/demo/credit_risk.yaml"


def synthetic_applications(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows that follow the demo contract: the demo's own generator, so risk is learnable."""
    return make_applications(n, seed=seed)


def spec_with(**training: object) -> ProjectSpec:
    raw = load_spec(DEMO_SPEC).model_dump(mode="json")
    raw["training"].update(training)
    return parse_spec(raw)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_applications(3_000)


@pytest.fixture(scope="module")
def result(frame: pd.DataFrame) -> train.FitResult:
    return train.fit(frame, load_spec(DEMO_SPEC))


def test_fit_ranks_every_candidate_best_first(result: train.FitResult) -> None:
    assert sorted(r.name for r in result.leaderboard) == sorted(CANDIDATES)
    aucs = [r.holdout["roc_auc"] for r in result.leaderboard]
    assert aucs == sorted(aucs, reverse=True)
    assert result.best is result.leaderboard[0]
    assert result.best.holdout["roc_auc"] > 0.6
    assert (result.n_train, result.n_holdout) == (2_400, 600)


def test_metrics_are_in_range_and_json_safe(result: train.FitResult) -> None:
    for r in result.leaderboard:
        assert set(r.holdout) == set(train.METRICS)
        for name, value in r.holdout.items():
            assert isinstance(value, float)
            assert value > 0 if name == "log_loss" else 0.0 <= value <= 1.0
        assert 0.0 <= r.cv_mean <= 1.0 and r.cv_std >= 0.0
        assert r.fit_seconds > 0
        assert json.loads(json.dumps(r.to_dict())) == r.to_dict()
    forest = next(r for r in result.leaderboard if r.name == "random_forest")
    assert forest.params == {
        "n_estimators": 100,
        "max_depth": 10,
        "min_samples_leaf": 20,
        "max_features": "sqrt",
    }


def test_best_model_is_the_fitted_winner(result: train.FitResult, frame: pd.DataFrame) -> None:
    assert type(result.best_model.named_steps["model"]).__name__ in {
        "LogisticRegression",
        "RandomForestClassifier",
        "HistGradientBoostingClassifier",
    }
    proba = result.best_model.predict_proba(frame.head(50))[:, 1]
    assert proba.shape == (50,) and ((proba >= 0) & (proba <= 1)).all()


def test_leaderboard_table(result: train.FitResult) -> None:
    rows = result.leaderboard_rows()
    assert [row["rank"] for row in rows] == [1, 2, 3]
    assert rows[0]["candidate"] == result.best.name
    assert {"cv_roc_auc", "cv_std", "holdout_roc_auc", "holdout_log_loss", "fit_seconds"} <= set(
        rows[0]
    )
    lines = result.leaderboard_markdown().splitlines()
    assert lines[0].startswith("| rank | candidate | cv_roc_auc |")
    assert len(lines) == 2 + len(rows)
    assert result.best.name in lines[2]


def test_log_loss_ranks_lowest_first(frame: pd.DataFrame) -> None:
    spec = spec_with(
        primary_metric="log_loss", candidates=["logistic_regression", "hist_gradient_boosting"]
    )
    result = train.fit(frame, spec)
    losses = [r.holdout["log_loss"] for r in result.leaderboard]
    assert losses == sorted(losses)
    assert all(r.cv_mean > 0 for r in result.leaderboard)  # flipped back from neg_log_loss


def test_prepare_splits_stratified_with_the_seed(frame: pd.DataFrame) -> None:
    spec = load_spec(DEMO_SPEC)
    split = train.prepare(frame, spec)
    assert len(split.X_holdout) == 600 and len(split.X_train) == 2_400
    assert list(split.X_train.columns) == spec.contract.features
    assert abs(split.y_train.mean() - split.y_holdout.mean()) < 0.01
    again = train.prepare(frame, spec)
    pd.testing.assert_frame_equal(split.X_holdout, again.X_holdout)


def test_prepare_subsamples_to_max_train_rows(frame: pd.DataFrame) -> None:
    split = train.prepare(frame, spec_with(max_train_rows=1_000))
    assert len(split.X_train) == 1_000
    assert len(split.X_holdout) == 250
    assert abs(split.y_train.mean() - frame["defaulted"].mean()) < 0.01


def test_prepare_refuses_missing_columns(frame: pd.DataFrame) -> None:
    with pytest.raises(TrainingDataError, match="lacks contract columns: region, defaulted"):
        train.prepare(frame.drop(columns=["region", "defaulted"]), load_spec(DEMO_SPEC))


def test_prepare_refuses_a_non_binary_target(frame: pd.DataFrame) -> None:
    bad = frame.assign(defaulted=frame["defaulted"].replace({1: 2}))
    with pytest.raises(TrainingDataError, match="must be 0/1, found 2"):
        train.prepare(bad, load_spec(DEMO_SPEC))


def test_prepare_refuses_a_class_too_rare_to_stratify(frame: pd.DataFrame) -> None:
    bad = frame.assign(defaulted=0)
    bad.loc[:2, "defaulted"] = 1
    with pytest.raises(TrainingDataError, match="at least 6 rows of each class"):
        train.prepare(bad, load_spec(DEMO_SPEC))


def test_candidates_ignore_unseen_categories(frame: pd.DataFrame) -> None:
    contract = load_spec(DEMO_SPEC).contract
    X, y = frame[contract.features], frame["defaulted"]
    unseen = X.head(5).assign(region="atlantis", purpose=None, annual_income=np.nan)
    for name in CANDIDATES:
        model = train.make_candidate(name, contract, seed=1).fit(X, y)
        assert model.predict_proba(unseen).shape == (5, 2)


def test_make_candidate_refuses_unknown_names() -> None:
    contract = load_spec(DEMO_SPEC).contract
    with pytest.raises(ValueError, match="unknown candidate 'xgboost'"):
        train.make_candidate("xgboost", contract, seed=0)
