"""Data quality of logged inputs against the contract, and live model quality from actuals.

``data_quality`` measures, per feature of the contract, what share of a window's
values is null (and whether the contract allows nulls), outside ``min``/``max`` or
outside ``allowed``. Requests through the prediction server cannot break the
contract (they are refused), but batch scoring, upstream changes and contract
edits can — and a rising null share is often the first sign of a broken feed.

``live_quality`` joins actuals to the logged predictions by prediction id and
computes the project's primary metric (and accuracy) on the matched rows, with the
counts needed to judge it: how many predictions had an actual, how many actuals
matched no logged prediction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from core.spec import DataContract

__all__ = ["ColumnQuality", "LiveQuality", "data_quality", "live_quality"]


@dataclass(frozen=True)
class ColumnQuality:
    column: str
    rows: int
    null_share: float
    nullable: bool
    out_of_range_share: float
    not_allowed_share: float

    @property
    def ok(self) -> bool:
        nulls_ok = self.nullable or self.null_share == 0.0
        return nulls_ok and self.out_of_range_share == 0.0 and self.not_allowed_share == 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def data_quality(frame: pd.DataFrame, contract: DataContract) -> list[ColumnQuality]:
    """Per contract feature present in ``frame``: null, out-of-range and not-allowed shares."""
    out: list[ColumnQuality] = []
    n = len(frame)
    for name in contract.features:
        if name not in frame.columns:
            continue
        spec = contract.column(name)
        col = frame[name]
        nulls = col.isna().to_numpy()
        null_share = float(nulls.mean()) if n else 0.0
        out_of_range = 0.0
        not_allowed = 0.0
        present = col[~nulls]
        if n and spec.is_numeric and len(present):
            values = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
            bad = np.zeros(len(values), dtype=bool)
            if spec.min is not None:
                bad |= values < spec.min
            if spec.max is not None:
                bad |= values > spec.max
            out_of_range = float(bad.sum() / n)
        if n and spec.allowed is not None and len(present):
            allowed = {str(a) for a in spec.allowed}
            shown = present.astype("Int64") if spec.type == "int" else present
            not_allowed = float((~shown.astype(str).isin(allowed)).sum() / n)
        out.append(ColumnQuality(name, n, null_share, spec.nullable, out_of_range, not_allowed))
    return out


@dataclass(frozen=True)
class LiveQuality:
    """The production model's quality on predictions whose actual outcome is known."""

    predictions: int
    with_actuals: int
    unmatched_actuals: int
    metrics: dict[str, float] = field(default_factory=dict)
    by_version: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return self.with_actuals / self.predictions if self.predictions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": self.coverage}


def _metrics(y: np.ndarray, score: np.ndarray, primary: str) -> dict[str, float]:
    label = (score >= 0.5).astype(int)
    out = {"accuracy": float(skm.accuracy_score(y, label))}
    two_classes = len(np.unique(y)) == 2
    if primary == "roc_auc" and two_classes:
        out["roc_auc"] = float(skm.roc_auc_score(y, score))
    elif primary == "average_precision" and two_classes:
        out["average_precision"] = float(skm.average_precision_score(y, score))
    elif primary == "f1":
        out["f1"] = float(skm.f1_score(y, label, zero_division=0))
    elif primary == "log_loss" and two_classes:
        out["log_loss"] = float(skm.log_loss(y, np.clip(score, 1e-15, 1 - 1e-15)))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def live_quality(
    predictions: pd.DataFrame, actuals: pd.DataFrame, *, primary_metric: str
) -> LiveQuality:
    """Join actuals to logged predictions and score the model on the matched rows.

    Args:
        predictions: prediction-log rows (``prediction_id``, ``score``, ``model_version``).
        actuals: ``prediction_id``, ``actual`` (latest per id).
        primary_metric: the project's ``training.primary_metric``; accuracy is always added.
    """
    if predictions.empty:
        return LiveQuality(0, 0, len(actuals))
    joined = predictions[["prediction_id", "score", "model_version"]].merge(
        actuals[["prediction_id", "actual"]], on="prediction_id", how="inner"
    )
    unmatched = int((~actuals["prediction_id"].isin(predictions["prediction_id"])).sum())
    if joined.empty:
        return LiveQuality(len(predictions), 0, unmatched)
    y = joined["actual"].to_numpy(dtype=float).astype(int)
    score = joined["score"].to_numpy(dtype=float)
    by_version = {
        str(v): _metrics(
            g["actual"].to_numpy(dtype=float).astype(int),
            g["score"].to_numpy(dtype=float),
            primary_metric,
        )
        for v, g in joined.groupby("model_version")
    }
    return LiveQuality(
        predictions=len(predictions),
        with_actuals=len(joined),
        unmatched_actuals=unmatched,
        metrics=_metrics(y, score, primary_metric),
        by_version=by_version,
    )
