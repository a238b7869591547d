"""Schema checks before drift: which contract features can be compared, and why not.

A drift run must never crash on a dataset that has drifted in shape rather than in
values. Before Evidently sees the data, every feature of the data contract is checked
on both sides: present, of a dtype compatible with its contract type, and holding at
least one usable value. A feature that fails on either side becomes a
:class:`SchemaFinding` and is left out; the rest are cast to one canonical dtype
(float64 for numeric features, strings for categorical ones) so the two sides agree
and Evidently never has to guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.spec import ColumnSpec, DataContract

__all__ = ["FindingKind", "PreparedFrames", "SchemaFinding", "Side", "prepare_frames"]

FindingKind = Literal["missing", "unexpected_type", "all_null", "extra"]
Side = Literal["reference", "current"]
SIDES: tuple[Side, Side] = ("reference", "current")


@dataclass(frozen=True)
class SchemaFinding:
    """One reason a column was not compared (or, for ``extra``, was ignored)."""

    column: str
    kind: FindingKind
    side: Side
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"column": self.column, "kind": self.kind, "side": self.side, "detail": self.detail}


@dataclass(frozen=True)
class PreparedFrames:
    """Both sides cut down to the comparable features, in contract order, canonical dtypes."""

    reference: pd.DataFrame
    current: pd.DataFrame
    numerical: list[str]
    categorical: list[str]
    findings: list[SchemaFinding]


def prepare_frames(
    reference: pd.DataFrame, current: pd.DataFrame, contract: DataContract
) -> PreparedFrames:
    """Check every contract feature on both sides and keep the ones drift can compare.

    Returns:
        The comparable features of both frames (fresh frames; the inputs are not
        modified) and the findings, ordered by contract column then side, with columns
        outside the contract last.
    """
    frames = {"reference": reference, "current": current}
    findings: list[SchemaFinding] = []
    numeric = set(contract.numeric_features)
    kept: dict[Side, dict[str, pd.Series]] = {"reference": {}, "current": {}}

    for name in contract.features:
        spec = contract.column(name)
        cast: dict[Side, pd.Series] = {}
        for side in SIDES:
            finding, series = _check_column(frames[side], spec, side, numeric=name in numeric)
            if finding is not None:
                findings.append(finding)
            elif series is not None:
                cast[side] = series
        if len(cast) == len(SIDES):
            for side in SIDES:
                kept[side][name] = cast[side]

    known = set(contract.names)
    for side in SIDES:
        for col in frames[side].columns:
            if col not in known:
                findings.append(
                    SchemaFinding(str(col), "extra", side, "not in the data contract; ignored")
                )

    names = list(kept["reference"])
    return PreparedFrames(
        reference=_frame(kept["reference"], len(reference)),
        current=_frame(kept["current"], len(current)),
        numerical=[n for n in names if n in numeric],
        categorical=[n for n in names if n not in numeric],
        findings=findings,
    )


def _frame(columns: dict[str, pd.Series], n_rows: int) -> pd.DataFrame:
    if not columns:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    return pd.DataFrame({name: s.to_numpy() for name, s in columns.items()})


def _check_column(
    frame: pd.DataFrame, spec: ColumnSpec, side: Side, *, numeric: bool
) -> tuple[SchemaFinding | None, pd.Series | None]:
    name = spec.name
    hits = int((frame.columns == name).sum())
    if hits == 0:
        return SchemaFinding(name, "missing", side, f"no column {name!r} in the {side} data"), None
    if hits > 1:
        detail = f"column {name!r} appears {hits} times in the {side} data"
        return SchemaFinding(name, "unexpected_type", side, detail), None

    raw = frame[name]
    series, problem = _as_numeric(raw) if numeric else _as_categorical(raw, spec)
    if problem is not None:
        detail = f"contract type {spec.type}, but {side} data has {problem}"
        return SchemaFinding(name, "unexpected_type", side, detail), None
    assert series is not None
    usable = np.isfinite(series.to_numpy()) if numeric else series.notna().to_numpy()
    if not usable.any():
        what = "null or infinite" if numeric else "null"
        detail = f"all {len(series)} {side} values are {what}"
        return SchemaFinding(name, "all_null", side, detail), None
    return None, series


def _as_numeric(raw: pd.Series) -> tuple[pd.Series | None, str | None]:
    """float64 (nulls as NaN), or why the column cannot be read as numbers."""
    if ptypes.is_bool_dtype(raw.dtype):
        return None, f"dtype {raw.dtype}"
    if ptypes.is_numeric_dtype(raw.dtype) and not ptypes.is_complex_dtype(raw.dtype):
        return pd.Series(raw.to_numpy(dtype="float64", na_value=np.nan)), None
    if ptypes.is_object_dtype(raw.dtype) or ptypes.is_string_dtype(raw.dtype):
        # Values that arrive as text or Decimal objects are fine if every one parses.
        parsed = pd.to_numeric(raw, errors="coerce")
        bad = raw[parsed.isna() & raw.notna()]
        if bad.empty and not ptypes.is_bool_dtype(parsed.dtype):
            return pd.Series(parsed.to_numpy(dtype="float64", na_value=np.nan)), None
        examples = ", ".join(repr(v) for v in bad.drop_duplicates().head(3))
        return None, f"dtype {raw.dtype} with non-numeric values ({examples})"
    return None, f"dtype {raw.dtype}"


def _as_categorical(raw: pd.Series, spec: ColumnSpec) -> tuple[pd.Series | None, str | None]:
    """Strings (nulls kept as None), or why the column cannot hold this contract type."""
    dtype = raw.dtype
    is_datetime = ptypes.is_datetime64_any_dtype(dtype)
    if (
        ptypes.is_timedelta64_dtype(dtype)
        or ptypes.is_complex_dtype(dtype)
        or (is_datetime and spec.type != "datetime")
    ):
        return None, f"dtype {dtype}"
    values = raw
    if ptypes.is_float_dtype(dtype):
        finite = raw.dropna()
        if not np.array_equal(finite, np.round(finite)):
            return None, f"dtype {dtype} with fractional values"
        # Integers widened to float by a null: compare 12 with 12, not with "12.0".
        values = raw.astype("Int64")
    as_text = values.astype(str).astype(object)
    return pd.Series(as_text.where(values.notna(), None).to_numpy()), None
