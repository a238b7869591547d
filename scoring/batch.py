"""Batch scoring: a frame that follows the data contract in, one scored row per input row out.

The frame is checked against the contract once, up front: missing feature columns
and columns whose values cannot be what the contract says (strings in a numeric
feature, numbers in a categorical one) are refused with ``ScoringSchemaError``;
nothing is coerced or guessed. Rows are then scored in chunks of ``batch_rows``
so that the model's intermediate arrays stay bounded on large frames.

Output columns: the contract's id column (when it has one), ``prediction_id``
(a random UUID4 as 32 hex digits), ``score`` (probability of class 1), ``label``
(``score >= 0.5``), ``model_version`` and ``scored_at`` (UTC, one instant per call).
The output keeps the input's index, so it can be joined back to the frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api import types as ptypes

from core.spec import ColumnSpec, DataContract
from scoring.errors import ScoringError, ScoringSchemaError

if TYPE_CHECKING:
    from scoring.model_format import Classifier

THRESHOLD = 0.5
SCORE_COLUMNS = ("prediction_id", "score", "label", "model_version", "scored_at")
_NUMERIC_OBJECT_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "empty"})


def output_columns(contract: DataContract) -> list[str]:
    """The columns ``score_frame`` returns for this contract, in order."""
    return ([contract.id_column] if contract.id_column else []) + list(SCORE_COLUMNS)


def check_frame(
    frame: pd.DataFrame, contract: DataContract, model: Classifier | None = None
) -> list[str]:
    """Refuse a frame that cannot be scored; return the feature columns to pass to the model.

    The features are the contract's, in the order the model was fitted on when it
    records one (``feature_names_in_``).

    Raises:
        ScoringSchemaError: columns are missing (features, the id column, or
            features the model was fitted on), or hold values of the wrong kind.
    """
    features = list(contract.features)
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        features = [str(c) for c in fitted]
    required = list(dict.fromkeys([*features, *contract.features]))
    if contract.id_column:
        required.append(contract.id_column)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ScoringSchemaError(
            f"frame to score lacks columns: {', '.join(missing)}", columns=missing
        )
    bad = {}
    for name in contract.features:
        problem = _kind_problem(frame[name], contract.column(name))
        if problem:
            bad[name] = problem
    if bad:
        detail = "; ".join(f"{name}: {problem}" for name, problem in bad.items())
        raise ScoringSchemaError(
            f"frame to score has columns of the wrong type: {detail}", columns=list(bad)
        )
    return features


def iter_scores(
    model: Classifier,
    frame: pd.DataFrame,
    contract: DataContract,
    *,
    model_version: str,
    batch_rows: int = 100_000,
) -> Iterator[pd.DataFrame]:
    """Score a frame chunk by chunk; yields one output frame per ``batch_rows`` input rows.

    The frame is checked before the first chunk is scored, so a bad frame yields nothing.

    Raises:
        ScoringSchemaError: see ``check_frame``.
        ScoringError: the model does not predict class 1.
        ValueError: ``batch_rows`` < 1 or ``model_version`` is empty.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    if not model_version:
        raise ValueError("model_version must not be empty")
    features = check_frame(frame, contract, model)
    positive = _positive_index(model)
    scored_at = pd.Timestamp.now(tz="UTC")
    for start in range(0, len(frame), batch_rows):
        chunk = frame.iloc[start : start + batch_rows]
        proba = np.asarray(model.predict_proba(chunk[features]), dtype=np.float64)[:, positive]
        yield _output(chunk, contract, proba, model_version, scored_at)


def score_frame(
    model: Classifier,
    frame: pd.DataFrame,
    contract: DataContract,
    *,
    model_version: str,
    batch_rows: int = 100_000,
) -> pd.DataFrame:
    """Score every row of a frame with a fitted binary classifier.

    Args:
        model: a fitted pipeline with ``predict_proba`` (e.g. from ``scoring.model_format``).
        frame: rows to score; must hold the contract's features (and id column, if any).
        contract: the project's data contract.
        model_version: recorded on every row, e.g. ``credit-risk@7``.
        batch_rows: rows per call to ``predict_proba``.

    Returns:
        One row per input row with the columns of ``output_columns(contract)``.

    Raises:
        ScoringSchemaError: the frame does not fit the contract (see ``check_frame``).
    """
    chunks = list(
        iter_scores(model, frame, contract, model_version=model_version, batch_rows=batch_rows)
    )
    if not chunks:
        empty = frame.iloc[:0]
        return _output(empty, contract, np.empty(0), model_version, pd.Timestamp.now(tz="UTC"))
    return pd.concat(chunks) if len(chunks) > 1 else chunks[0]


def _output(
    chunk: pd.DataFrame,
    contract: DataContract,
    proba: np.ndarray,
    model_version: str,
    scored_at: pd.Timestamp,
) -> pd.DataFrame:
    n = len(chunk)
    columns: dict[str, Any] = {}
    if contract.id_column:
        columns[contract.id_column] = chunk[contract.id_column].to_numpy()
    columns["prediction_id"] = pd.Series(
        pd.arrays.ArrowStringArray(_uuid4_arrow(n)), index=chunk.index
    )
    columns["score"] = proba
    columns["label"] = (proba >= THRESHOLD).astype(np.int64)
    # one category for the whole chunk: no million-element object array
    columns["model_version"] = pd.Series(
        pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[model_version]),
        index=chunk.index,
    )
    columns["scored_at"] = pd.Series(scored_at, index=chunk.index, dtype="datetime64[ns, UTC]")
    return pd.DataFrame(columns, index=chunk.index)


def new_prediction_ids(n: int) -> list[str]:
    """``n`` random version-4 UUIDs as hex, built in one go (uuid.uuid4() per row is slow)."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.tobytes().hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


def _uuid4_arrow(n: int) -> pa.StringArray:
    """``n`` random version-4 UUIDs as 32 hex digits, built as one Arrow array.

    No Python string per row: the random bytes come from a generator seeded by the
    OS (ids need uniqueness, not secrecy), are hex-encoded in one call, and the array
    points into that buffer, which keeps a million ids at a few milliseconds.
    """
    rng = np.random.default_rng(int.from_bytes(os.urandom(32), "little"))
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.tobytes().hex().encode("ascii")
    offsets = np.arange(0, 32 * (n + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))


def _positive_index(model: Classifier) -> int:
    classes = [c.item() if isinstance(c, np.generic) else c for c in getattr(model, "classes_", [])]
    if 1 not in classes:
        raise ScoringError(f"model does not predict class 1 (classes: {classes})")
    return classes.index(1)


def _kind_problem(column: pd.Series, spec: ColumnSpec) -> str | None:
    """Why a column cannot hold the contract's type, or None if it can."""
    dtype = column.dtype
    numeric = ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
    if spec.type in ("int", "float") and numeric:
        return None  # the common case, decided without a pass over the values
    if column.isna().all():
        return None
    if spec.type in ("int", "float"):
        if ptypes.is_bool_dtype(dtype):
            return f"expected numbers, found {dtype}"
        if ptypes.is_numeric_dtype(dtype):
            return None
        if ptypes.is_object_dtype(dtype):
            kind = ptypes.infer_dtype(column, skipna=True)
            return None if kind in _NUMERIC_OBJECT_KINDS else f"expected numbers, found {kind}"
        return f"expected numbers, found {dtype}"
    if spec.type in ("category", "string"):
        values = column.cat.categories if isinstance(dtype, pd.CategoricalDtype) else column
        if ptypes.is_object_dtype(values.dtype) or ptypes.is_string_dtype(values.dtype):
            kind = ptypes.infer_dtype(values, skipna=True)
            return None if kind in ("string", "empty") else f"expected strings, found {kind}"
        return f"expected strings, found {values.dtype}"
    if spec.type == "bool":
        if ptypes.is_bool_dtype(dtype):
            return None
        if ptypes.is_object_dtype(dtype) and ptypes.infer_dtype(column, skipna=True) == "boolean":
            return None
        return f"expected booleans, found {dtype}"
    if spec.type == "datetime":
        if ptypes.is_datetime64_any_dtype(dtype):
            return None
        return f"expected datetimes, found {dtype}"
    return None
