"""Training: split the data, fit every candidate of the spec, rank them on a holdout.

Plain logic, no Prefect: the training flow wraps these functions in tasks.

``prepare`` turns a frame that follows the data contract into a stratified
train/holdout :class:`Split`; ``make_candidate`` builds one scikit-learn pipeline
per algorithm named in ``TrainingSpec.candidates``; ``fit_candidate``
cross-validates it on the training part, refits it there and scores the
holdout; ``fit`` does all of that for every candidate and ranks them.

Every pipeline is built only from types listed in ``scoring.model_format.TRUSTED_TYPES``
so that the winner can be stored in the skops format and loaded back safely.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    log_loss,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from core.spec import CANDIDATES, DataContract, ProjectSpec, TrainingSpec
from flows.errors import TrainingDataError

METRICS = ("roc_auc", "average_precision", "accuracy", "f1", "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss"})
# scikit-learn scorer names; log_loss is negated by sklearn, we flip it back.
_SCORERS = {
    "roc_auc": "roc_auc",
    "average_precision": "average_precision",
    "accuracy": "accuracy",
    "f1": "f1",
    "log_loss": "neg_log_loss",
}
# The estimator parameters worth showing on a leaderboard, per candidate.
_KEY_PARAMS = {
    "logistic_regression": ("C", "max_iter", "solver"),
    "random_forest": ("n_estimators", "max_depth", "min_samples_leaf", "max_features"),
    "hist_gradient_boosting": (
        "learning_rate",
        "max_iter",
        "max_leaf_nodes",
        "min_samples_leaf",
        "early_stopping",
    ),
}
_DIGITS = 6
# What a candidate's result travels with when ranked: its pipeline, or its skops bytes.
FittedT = TypeVar("FittedT")


@dataclass(frozen=True)
class Split:
    """Features and target of the training part and of the holdout part."""

    X_train: pd.DataFrame
    X_holdout: pd.DataFrame
    y_train: pd.Series
    y_holdout: pd.Series


@dataclass(frozen=True)
class CandidateResult:
    """How one candidate did: cross-validation on the training part, metrics on the holdout.

    ``cv_mean``/``cv_std`` are in the primary metric's own orientation (log loss is
    positive, lower is better), like the holdout metrics.
    """

    name: str
    params: dict[str, Any]
    cv_mean: float
    cv_std: float
    holdout: dict[str, float]
    fit_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy."""
        return asdict(self)


@dataclass(frozen=True)
class FitResult:
    """All candidates, best first by the holdout primary metric, and the winning pipeline."""

    primary_metric: str
    leaderboard: tuple[CandidateResult, ...]
    best_model: Pipeline = field(repr=False)
    n_train: int = 0
    n_holdout: int = 0

    @property
    def best(self) -> CandidateResult:
        return self.leaderboard[0]

    def leaderboard_rows(self) -> list[dict[str, Any]]:
        """One flat row per candidate, best first, for a table or a Prefect artifact."""
        return leaderboard_rows(self.leaderboard, self.primary_metric)

    def leaderboard_markdown(self) -> str:
        """The leaderboard as a Markdown table."""
        rows = self.leaderboard_rows()
        headers = list(rows[0])
        lines = [
            "| " + " | ".join(headers) + " |",
            "| " + " | ".join("---" for _ in headers) + " |",
        ]
        for row in rows:
            cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def leaderboard_rows(
    ranked: tuple[CandidateResult, ...] | list[CandidateResult], primary_metric: str
) -> list[dict[str, Any]]:
    """One flat row per ranked candidate, for a table or a Prefect artifact."""
    rows = []
    for position, result in enumerate(ranked, start=1):
        row: dict[str, Any] = {
            "rank": position,
            "candidate": result.name,
            f"cv_{primary_metric}": result.cv_mean,
            "cv_std": result.cv_std,
        }
        row.update({f"holdout_{k}": v for k, v in result.holdout.items()})
        row["fit_seconds"] = result.fit_seconds
        rows.append(row)
    return rows


def prepare(frame: pd.DataFrame, spec: ProjectSpec) -> Split:
    """Split a frame that follows the contract into a stratified train and holdout part.

    When ``training.max_train_rows`` is set and the frame is larger, a stratified
    sample is drawn first so that the training part has about ``max_train_rows``
    rows and the holdout keeps its ``holdout_fraction`` share.

    Raises:
        TrainingDataError: a feature or the target is missing, the target has nulls
            or values other than 0/1, or a class is too rare to stratify.
    """
    contract, training = spec.contract, spec.training
    features, target = contract.features, contract.target
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"training data lacks contract columns: {', '.join(missing)}")
    y = frame[target]
    if y.isna().any():
        raise TrainingDataError(f"target {target!r} has {int(y.isna().sum())} missing values")
    labels = set(pd.unique(y).tolist())
    if not labels <= {0, 1}:
        shown = sorted(map(str, labels - {0, 1}))[:5]
        raise TrainingDataError(f"target {target!r} must be 0/1, found {', '.join(shown)}")
    y = y.astype(np.int64)
    counts = y.value_counts()
    need = 2 * training.cv_folds
    if len(counts) < 2 or int(counts.min()) < need:
        raise TrainingDataError(
            f"target {target!r} needs at least {need} rows of each class, "
            f"found {dict(sorted(counts.to_dict().items()))}"
        )

    X = frame[features]
    if training.max_train_rows is not None:
        wanted = math.ceil(training.max_train_rows / (1.0 - training.holdout_fraction))
        if len(frame) > wanted:
            X, _, y, _ = train_test_split(
                X, y, train_size=wanted, stratify=y, random_state=training.seed
            )
    X_train, X_holdout, y_train, y_holdout = train_test_split(
        X, y, test_size=training.holdout_fraction, stratify=y, random_state=training.seed
    )
    return Split(
        X_train=X_train.reset_index(drop=True),
        X_holdout=X_holdout.reset_index(drop=True),
        y_train=y_train.reset_index(drop=True),
        y_holdout=y_holdout.reset_index(drop=True),
    )


def make_candidate(name: str, contract: DataContract, seed: int) -> Pipeline:
    """An unfitted pipeline: imputation and encoding of the contract's features, then the model.

    Categoricals are one-hot encoded (dense, unknown categories ignored) for every
    candidate, so all three share the same robust preprocessing and unseen
    categories at scoring time never fail.

    Raises:
        ValueError: ``name`` is not one of ``core.spec.CANDIDATES``.
    """
    if name not in CANDIDATES:
        raise ValueError(f"unknown candidate {name!r}; expected one of {', '.join(CANDIDATES)}")
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if name == "logistic_regression":
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if contract.numeric_features:
        transformers.append(("numeric", Pipeline(numeric_steps), contract.numeric_features))
    if contract.categorical_features:
        transformers.append(("categorical", categorical, contract.categorical_features))
    preprocess = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)

    estimator: Any
    if name == "logistic_regression":
        estimator = LogisticRegression(max_iter=1000, random_state=seed)
    elif name == "random_forest":
        estimator = RandomForestClassifier(
            n_estimators=100, max_depth=10, min_samples_leaf=20, n_jobs=1, random_state=seed
        )
    else:
        estimator = HistGradientBoostingClassifier(random_state=seed)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def fit_candidate(name: str, split: Split, spec: ProjectSpec) -> tuple[CandidateResult, Pipeline]:
    """Cross-validate one candidate on the training part, refit it there, score the holdout.

    Returns:
        The candidate's result and the pipeline fitted on the whole training part.
    """
    training = spec.training
    pipeline = make_candidate(name, spec.contract, training.seed)
    # One BLAS/OpenMP thread per fit: on 2 shared cores HistGradientBoosting's OpenMP
    # threads spin against other processes and a 1 s fit can take 15 s; parallelism
    # belongs to the flow (one candidate per worker), not inside a candidate.
    with threadpool_limits(limits=1):
        return _fit_candidate(name, pipeline, split, training)


def _fit_candidate(
    name: str, pipeline: Pipeline, split: Split, training: TrainingSpec
) -> tuple[CandidateResult, Pipeline]:
    started = time.perf_counter()
    folds = StratifiedKFold(n_splits=training.cv_folds, shuffle=True, random_state=training.seed)
    scores = cross_val_score(
        pipeline,
        split.X_train,
        split.y_train,
        cv=folds,
        scoring=_SCORERS[training.primary_metric],
        n_jobs=1,
        error_score="raise",
    )
    if training.primary_metric in LOWER_IS_BETTER:
        scores = -scores
    pipeline.fit(split.X_train, split.y_train)
    holdout = holdout_metrics(pipeline, split.X_holdout, split.y_holdout)
    elapsed = time.perf_counter() - started
    result = CandidateResult(
        name=name,
        params=_key_params(name, pipeline),
        cv_mean=round(float(np.mean(scores)), _DIGITS),
        cv_std=round(float(np.std(scores)), _DIGITS),
        holdout=holdout,
        fit_seconds=round(elapsed, 3),
    )
    return result, pipeline


def holdout_metrics(model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """roc_auc, average_precision, accuracy, f1 and log_loss of a fitted binary classifier."""
    classes = list(model.classes_)
    proba = model.predict_proba(X)[:, classes.index(1)]
    predicted = (proba >= 0.5).astype(np.int64)
    values = {
        "roc_auc": roc_auc_score(y, proba),
        "average_precision": average_precision_score(y, proba),
        "accuracy": accuracy_score(y, predicted),
        "f1": f1_score(y, predicted, zero_division=0),
        "log_loss": log_loss(y, proba, labels=[0, 1]),
    }
    return {k: round(float(v), _DIGITS) for k, v in values.items()}


def fit(frame: pd.DataFrame, spec: ProjectSpec) -> FitResult:
    """Fit every candidate of the spec and rank them by the holdout primary metric.

    Ties keep the order of ``training.candidates``.
    """
    split = prepare(frame, spec)
    metric = spec.training.primary_metric
    fitted: list[tuple[CandidateResult, Pipeline]] = [
        fit_candidate(name, split, spec) for name in dict.fromkeys(spec.training.candidates)
    ]
    ranked = rank(fitted, metric)
    return FitResult(
        primary_metric=metric,
        leaderboard=tuple(result for result, _ in ranked),
        best_model=ranked[0][1],
        n_train=len(split.X_train),
        n_holdout=len(split.X_holdout),
    )


def rank(
    fitted: list[tuple[CandidateResult, FittedT]], metric: str
) -> list[tuple[CandidateResult, FittedT]]:
    """Candidates best first by the holdout ``metric``; ties keep their order."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    return sorted(fitted, key=lambda pair: sign * pair[0].holdout[metric])


def _key_params(name: str, pipeline: Pipeline) -> dict[str, Any]:
    params = pipeline.named_steps["model"].get_params(deep=False)
    safe: dict[str, Any] = {}
    for key in _KEY_PARAMS[name]:
        value = params.get(key)
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, str | int | float | bool):
            safe[key] = value
        else:
            safe[key] = str(value)
    return safe
